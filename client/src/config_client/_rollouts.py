"""The admin flows of staged releases: a configuration's release policy, its rollouts, and the
fleet view (which client holds which version). Configurations are found by name first, as in
`_admin`; a rollout action without a rollout id acts on the configuration's latest rollout
(the active one, when there is one: a new rollout can start only when none is)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from config_client._admin import PAGE, AdminFlows
from config_client._protocol import API, MERGE_PATCH, Call, Flow, error_from, next_link, segment
from config_client.errors import NotFound
from config_client.models import Configuration, Fleet, FleetClient, Rollout

RELEASES = ("immediate", "staged")
ACTIONS = ("pause", "resume", "rollback", "promote")


class RolloutFlows:
    def __init__(self, admin: AdminFlows) -> None:
        self.admin = admin

    def _configuration_path(self, application: str, name: str) -> Flow[str]:
        _, found = yield from self.admin.find_configuration(application, name)
        return f"{API}/configurations/{segment(found['id'])}"

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Flow[Any]:
        response = yield from self.admin.send(Call("GET", path, params=params))
        if response.status_code != 200:
            raise error_from(response)
        return response.json()

    # -- release policy --------------------------------------------------------------------

    def set_release(
        self, application: str, name: str, release: str, if_match: str | None, expected_version: int | None
    ) -> Flow[Configuration]:
        if release not in RELEASES:
            raise ValueError(f"release must be 'immediate' or 'staged', not {release!r}")
        path = yield from self._configuration_path(application, name)
        what = f"configuration {application}/{name}"
        etag, _ = yield from self.admin.condition(path, what, if_match, expected_version)
        response = yield from self.admin.write("PATCH", path, {"release": release}, etag, MERGE_PATCH)
        return Configuration.from_json(response.json(), response.headers.get("etag"))

    # -- rollouts --------------------------------------------------------------------------

    def start(
        self,
        application: str,
        name: str,
        version: int,
        steps: Sequence[int],
        step_seconds: int,
        max_failures: int,
    ) -> Flow[Rollout]:
        path = yield from self._configuration_path(application, name)
        body = {
            "version": int(version),
            "steps": [int(step) for step in steps],
            "step_seconds": int(step_seconds),
            "max_failures": int(max_failures),
        }
        response = yield from self.admin.write("POST", f"{path}/rollouts", body)
        return Rollout.from_json(response.json())

    def rollouts(self, application: str, name: str, limit: int | None = None) -> Flow[list[Rollout]]:
        """Newest first; all of them, or the first `limit`."""
        path = yield from self._configuration_path(application, name)
        found: list[Rollout] = []
        url: str | None = f"{path}/rollouts"
        params: dict[str, Any] | None = {"limit": min(limit or PAGE, PAGE)}
        while url is not None and (limit is None or len(found) < limit):
            response = yield from self.admin.send(Call("GET", url, params=params))
            if response.status_code != 200:
                raise error_from(response)
            found += [Rollout.from_json(item) for item in response.json()]
            url, params = next_link(response), None
        return found if limit is None else found[:limit]

    def rollout(self, application: str, name: str, rollout_id: str | None) -> Flow[Rollout]:
        """The rollout with that id, or the latest one."""
        if rollout_id is None:
            return (yield from self._latest(application, name))
        path = yield from self._configuration_path(application, name)
        return Rollout.from_json((yield from self._get(f"{path}/rollouts/{segment(rollout_id)}")))

    def act(self, application: str, name: str, action: str, rollout_id: str | None) -> Flow[Rollout]:
        """pause, resume, rollback or promote the rollout (the latest one when no id is given)."""
        if action not in ACTIONS:
            raise ValueError(f"a rollout's action is one of {', '.join(ACTIONS)}, not {action!r}")
        path = yield from self._configuration_path(application, name)
        if rollout_id is None:
            rollout_id = (yield from self._latest(application, name, path)).id
        response = yield from self.admin.write("POST", f"{path}/rollouts/{segment(rollout_id)}/{action}")
        return Rollout.from_json(response.json())

    def _latest(self, application: str, name: str, path: str | None = None) -> Flow[Rollout]:
        if path is None:
            path = yield from self._configuration_path(application, name)
        items = yield from self._get(f"{path}/rollouts", {"limit": 1})
        if not items:
            raise NotFound(f"configuration {application}/{name} has had no rollout", status=404, code="not_found")
        return Rollout.from_json(items[0])

    # -- the fleet view --------------------------------------------------------------------

    def fleet(self, application: str, name: str) -> Flow[Fleet]:
        """Every client of the configuration seen lately (all pages), and the count per version."""
        path = yield from self._configuration_path(application, name)
        clients: list[FleetClient] = []
        url: str | None = f"{path}/clients"
        params: dict[str, Any] | None = {"limit": PAGE}
        data: dict[str, Any] = {}
        while url is not None:
            response = yield from self.admin.send(Call("GET", url, params=params))
            if response.status_code != 200:
                raise error_from(response)
            data = response.json()
            clients += [FleetClient.from_json(item) for item in data["clients"]]
            url, params = next_link(response), None
        # The counts of the last page: the latest, and the same on every page but for clients
        # seen between the pages.
        return Fleet.from_json(data, clients)

    def application_fleet(self, application: str, limit: int) -> Flow[dict[str, Fleet]]:
        """Each configuration's fleet by name: its first `limit` clients and its counts."""
        app_id = (yield from self.admin.find_application(application))["id"]
        data = yield from self._get(f"{API}/applications/{segment(app_id)}/clients", {"limit": limit})
        return {item["name"]: Fleet.from_json(item) for item in data["configurations"]}
