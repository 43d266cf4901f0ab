"""Tokens kept out of sight: the client warns when one would cross a network unencrypted."""

import uuid

import httpx
import pytest

from config_client._admin import AdminFlows
from config_client._core import Core
from config_client._drivers import drive

SECRET = "cfs_not-a-real-secret-but-never-logged"
A_VIEW = {"id": "01CONF", "application_id": "01APP", "name": "c", "comments": None, "config": {"v": 1}, "version": 1}


class Recorded:
    """A made-up service (an httpx transport): every request answered with `A_VIEW` (or an
    empty list), and the Authorization header of each kept."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.append(request.headers.get("authorization"))
        body = [] if request.url.path.endswith("/applications") else A_VIEW
        return httpx.Response(200, json=body, headers={"ETag": '"r1"'})


def read_once(url: str, token: str | None = SECRET) -> Recorded:
    service = Recorded()
    core = Core(url, token, None, timeout=1.0, retries=0, backoff=0.01, max_backoff=0.01)
    with httpx.Client(**core.http_options(), transport=httpx.MockTransport(service)) as http:
        drive(core.read(("shop", "c")), http)
    return service


def unique_host() -> str:
    # The warning is once per process and service: each test needs a service of its own.
    return f"config-{uuid.uuid4().hex[:10]}.example"


def about(origin: str, warnings: list[str]) -> list[str]:
    return [w for w in warnings if origin in w]


def test_a_token_sent_over_http_to_another_machine_is_warned_about_once_per_process(warnings_logged):
    origin = f"http://{unique_host()}:8000"
    service = read_once(origin)
    assert service.authorizations == [f"Bearer {SECRET}"]  # it was sent, over http
    warned = about(origin, warnings_logged())
    assert len(warned) == 1 and "unencrypted" in warned[0] and "https://" in warned[0]
    assert all(SECRET not in w for w in warnings_logged())

    read_once(origin)  # another client of the same service, in the same process
    read_once(origin + "/")
    assert len(about(origin, warnings_logged())) == 1

    other = f"http://{unique_host()}"
    read_once(other)
    assert len(about(other, warnings_logged())) == 1


def test_the_warning_comes_with_the_first_request_whichever_it_is(warnings_logged):
    origin = f"http://{unique_host()}"
    core = Core(origin, SECRET, None, timeout=1.0, retries=0, backoff=0.01, max_backoff=0.01)
    assert about(origin, warnings_logged()) == []  # made, nothing sent yet
    watch = core.watch(("shop", "c"), print, 5.0)
    next(watch)  # the watch's first long-poll, about to go
    watch.close()
    assert len(about(origin, warnings_logged())) == 1

    admin_origin = f"http://{unique_host()}"
    core = Core(admin_origin, SECRET, None, timeout=1.0, retries=0, backoff=0.01, max_backoff=0.01)
    with httpx.Client(**core.http_options(), transport=httpx.MockTransport(Recorded())) as http:
        drive(AdminFlows(core).applications(None), http)
    assert len(about(admin_origin, warnings_logged())) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://config.example",
        "http://127.0.0.1:8000",
        "http://127.9.8.7",
        "http://localhost:8000",
        "http://LOCALHOST.",
        "http://config.localhost",
        "http://[::1]:8000",
        "http://[::ffff:127.0.0.1]",
    ],
)
def test_no_warning_over_https_or_to_this_machine(url, warnings_logged):
    assert read_once(url).authorizations == [f"Bearer {SECRET}"]
    assert warnings_logged() == []


def test_no_warning_without_a_token(warnings_logged):
    origin = f"http://{unique_host()}"
    assert read_once(origin, token=None).authorizations == [None]
    assert warnings_logged() == []
