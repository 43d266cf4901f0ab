"""The admin flows: applications and configurations by name, their history, the change feed.

The service addresses resources by id; these flows find the id from the name first (ids never
change, names can). A precondition (`if_match`, `expected_version`) always travels as
If-Match, so the check and the change are one atomic step on the service.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import Any

import httpx

from config_client._protocol import API, MERGE_PATCH, Call, Flow, error_from, next_link, quote_etag
from config_client._transport import Transport
from config_client.errors import NotFound, PreconditionFailed
from config_client.models import Application, Change, Configuration, Version

PAGE = 1000  # the service's largest page


class Keep(enum.Enum):
    """The type of `KEEP`."""

    KEEP = "keep"


KEEP = Keep.KEEP
"""As `comments=`: leave the comments as they are."""


class AdminFlows:
    """The admin flows, sending through `transport` (the client's, shared with its reads)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def send(self, call: Call) -> Flow[httpx.Response]:
        return self.transport.send(call)

    # -- finding by name ---------------------------------------------------------------

    def walk(self, path: str, params: dict[str, Any], until: Callable[[dict], bool] | None = None) -> Flow[list]:
        """The items of a paged list, following its Link header; stops at the first item
        `until` accepts (the last one returned)."""
        items: list[dict] = []
        url: str | None = path
        while url is not None:
            response = yield from self.send(Call("GET", url, params=params))
            if response.status_code != 200:
                raise error_from(response)
            for item in response.json():
                items.append(item)
                if until is not None and until(item):
                    return items
            url, params = next_link(response), None
        return items

    def find_application(self, application: str) -> Flow[dict]:
        """The application named so, as the list shows it."""
        params = {"search": application, "limit": PAGE}
        items = yield from self.walk(f"{API}/applications", params, lambda item: item["name"] == application)
        if not items or items[-1]["name"] != application:
            raise NotFound(f"application {application!r} does not exist", status=404, code="not_found")
        return items[-1]

    def find_configuration(self, application: str, name: str) -> Flow[tuple[str, dict]]:
        """(application id, configuration as the list shows it) of a current configuration."""
        app_id = (yield from self.find_application(application))["id"]
        items = yield from self.walk(
            f"{API}/applications/{app_id}/configurations", {"limit": PAGE}, lambda item: item["name"] == name
        )
        if not items or items[-1]["name"] != name:
            raise NotFound(
                f"configuration {name!r} of application {application!r} does not exist", status=404, code="not_found"
            )
        return app_id, items[-1]

    def find_configuration_id(self, application: str, name: str) -> Flow[str]:
        """The id of a configuration, current or deleted (whose history stays): a deleted one
        is found in the change feed, its latest configuration of that name."""
        try:
            return (yield from self.find_configuration(application, name))[1]["id"]
        except NotFound:
            app_id = (yield from self.find_application(application))["id"]
        found, after = None, 0
        while True:
            changes = yield from self.changes(after, PAGE)
            for change in changes:
                if change.kind == "configuration" and change.application_id == app_id and change.name == name:
                    found = change.id
            if len(changes) < PAGE:
                break
            after = changes[-1].revision
        if found is None:
            raise NotFound(
                f"application {application!r} never had a configuration {name!r}", status=404, code="not_found"
            )
        return found

    # -- writing -----------------------------------------------------------------------

    def condition(
        self, path: str, what: str, if_match: str | None, expected_version: int | None
    ) -> Flow[tuple[str | None, dict | None]]:
        """(If-Match value, current view when read): `if_match` as given, or, for
        `expected_version`, the ETag of the current version once it is the one expected."""
        if if_match is not None and expected_version is not None:
            raise ValueError("give if_match or expected_version, not both")
        if expected_version is None:
            return (None if if_match is None else quote_etag(if_match)), None
        response = yield from self.send(Call("GET", path))
        if response.status_code != 200:
            raise error_from(response)
        current = response.json()
        etag = response.headers.get("etag")
        if current["version"] != expected_version or not etag:
            raise PreconditionFailed(
                f"{what} is at version {current['version']}, not {expected_version}",
                status=412,
                code="precondition_failed",
                current_version=current["version"],
            )
        return etag, current

    def write(
        self,
        method: str,
        path: str,
        body: Any = None,
        if_match: str | None = None,
        content_type: str = "application/json",
    ) -> Flow[httpx.Response]:
        call = Call(
            method,
            path,
            headers={"If-Match": if_match} if if_match else None,
            body=None if body is None else json.dumps(body, ensure_ascii=False, allow_nan=False).encode(),
            content_type=content_type,
            idempotent=False,
        )
        response = yield from self.send(call)
        if response.status_code >= 300:
            raise error_from(response)
        return response

    def _configuration(self, response: httpx.Response) -> Configuration:
        return Configuration.from_json(response.json(), response.headers.get("etag"))

    def _application(self, response: httpx.Response) -> Application:
        return Application.from_json(response.json(), response.headers.get("etag"))

    # -- applications ------------------------------------------------------------------

    def applications(self, search: str | None) -> Flow[list[Application]]:
        params: dict[str, Any] = {"limit": PAGE}
        if search:
            params["search"] = search
        items = yield from self.walk(f"{API}/applications", params)
        return [Application.from_json(item) for item in items]

    def application(self, application: str) -> Flow[Application]:
        app_id = (yield from self.find_application(application))["id"]
        response = yield from self.send(Call("GET", f"{API}/applications/{app_id}"))
        if response.status_code != 200:
            raise error_from(response)
        return self._application(response)

    def create_application(self, name: str, comments: str | None) -> Flow[Application]:
        response = yield from self.write("POST", f"{API}/applications", {"name": name, "comments": comments})
        return self._application(response)

    def change_application(
        self,
        method: str,
        application: str,
        rename_to: str | None,
        comments: str | Keep | None,
        if_match: str | None,
        expected_version: int | None,
    ) -> Flow[Application]:
        found = yield from self.find_application(application)
        path = f"{API}/applications/{found['id']}"
        etag, current = yield from self.condition(path, f"application {application!r}", if_match, expected_version)
        current = current or found
        body: dict[str, Any] = {}
        if method == "PUT":
            body = {"name": rename_to or current["name"], "comments": current["comments"]}
        elif rename_to:
            body["name"] = rename_to
        if comments is not KEEP:
            body["comments"] = comments
        content_type = "application/json" if method == "PUT" else MERGE_PATCH
        response = yield from self.write(method, path, body, etag, content_type)
        return self._application(response)

    def delete_application(self, application: str, if_match: str | None, expected_version: int | None) -> Flow[None]:
        found = yield from self.find_application(application)
        path = f"{API}/applications/{found['id']}"
        etag, _ = yield from self.condition(path, f"application {application!r}", if_match, expected_version)
        yield from self.write("DELETE", path, if_match=etag)

    # -- configurations ----------------------------------------------------------------

    def configurations(self, application: str) -> Flow[list[Configuration]]:
        app_id = (yield from self.find_application(application))["id"]
        items = yield from self.walk(f"{API}/applications/{app_id}/configurations", {"limit": PAGE})
        return [Configuration.from_json(item) for item in items]

    def configuration(self, application: str, name: str) -> Flow[Configuration]:
        _, found = yield from self.find_configuration(application, name)
        response = yield from self.send(Call("GET", f"{API}/configurations/{found['id']}"))
        if response.status_code != 200:
            raise error_from(response)
        return self._configuration(response)

    def create(
        self,
        application: str,
        name: str,
        config: dict[str, Any],
        comments: str | None,
        release: str | None = None,
        secrets: list[str] | None = None,
    ) -> Flow[Configuration]:
        app_id = (yield from self.find_application(application))["id"]
        body = {"application_id": app_id, "name": name, "comments": comments, "config": config}
        if release is not None:  # else the service's default (immediate); an older service knows no release
            body["release"] = release
        if secrets:  # else none; an older service knows no secrets
            body["secrets"] = list(secrets)
        response = yield from self.write("POST", f"{API}/configurations", body)
        return self._configuration(response)

    def change(
        self,
        method: str,
        application: str,
        name: str,
        config: dict[str, Any] | None,
        comments: str | Keep | None,
        rename_to: str | None,
        if_match: str | None,
        expected_version: int | None,
        secrets: list[str] | None = None,
    ) -> Flow[Configuration]:
        """PUT (replace the document) or PATCH (merge `config` into it, RFC 7396); `secrets`,
        when given, replaces the list of secret pointers (None keeps it)."""
        _, found = yield from self.find_configuration(application, name)
        path = f"{API}/configurations/{found['id']}"
        what = f"configuration {application}/{name}"
        etag, current = yield from self.condition(path, what, if_match, expected_version)
        current = current or found
        body: dict[str, Any] = {}
        if method == "PUT":
            body = {"name": rename_to or current["name"], "comments": current["comments"], "config": config}
        elif rename_to:
            body["name"] = rename_to
        if method == "PATCH" and config is not None:
            body["config"] = config
        if comments is not KEEP:
            body["comments"] = comments
        if secrets is not None:
            body["secrets"] = list(secrets)
        content_type = "application/json" if method == "PUT" else MERGE_PATCH
        response = yield from self.write(method, path, body, etag, content_type)
        return self._configuration(response)

    def delete(self, application: str, name: str, if_match: str | None, expected_version: int | None) -> Flow[None]:
        _, found = yield from self.find_configuration(application, name)
        path = f"{API}/configurations/{found['id']}"
        what = f"configuration {application}/{name}"
        etag, _ = yield from self.condition(path, what, if_match, expected_version)
        yield from self.write("DELETE", path, if_match=etag)

    def restore(
        self, application: str, name: str, version: int, if_match: str | None, expected_version: int | None
    ) -> Flow[Configuration]:
        config_id = yield from self.find_configuration_id(application, name)
        path = f"{API}/configurations/{config_id}"
        what = f"configuration {application}/{name}"
        etag, _ = yield from self.condition(path, what, if_match, expected_version)
        response = yield from self.write("POST", f"{path}/versions/{int(version)}/restore", if_match=etag)
        return self._configuration(response)

    def history(self, application: str, name: str) -> Flow[list[Version]]:
        config_id = yield from self.find_configuration_id(application, name)
        items = yield from self.walk(f"{API}/configurations/{config_id}/versions", {"limit": PAGE})
        return [Version.from_json(item) for item in items]

    def version(self, application: str, name: str, version: int) -> Flow[Version]:
        config_id = yield from self.find_configuration_id(application, name)
        response = yield from self.send(Call("GET", f"{API}/configurations/{config_id}/versions/{int(version)}"))
        if response.status_code != 200:
            raise error_from(response)
        return Version.from_json(response.json())

    def changes(self, after: int, limit: int, wait: float | None = None) -> Flow[list[Change]]:
        params: dict[str, Any] = {"after": after, "limit": limit}
        read_timeout = None
        if wait is not None:
            params["wait"] = wait
            read_timeout = wait + self.transport.timeout
        response = yield from self.send(Call("GET", f"{API}/changes", params=params, read_timeout=read_timeout))
        if response.status_code != 200:
            raise error_from(response)
        return [Change.from_json(item) for item in response.json()]
