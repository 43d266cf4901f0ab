"""The client's logic on its own, with responses made up here (no service): backoff, which
copy is kept when responses arrive out of order, and which 404s forget the last-known-good."""

import json

import httpx
import pytest

from config_client import NotFound, Unavailable
from config_client._core import Core
from config_client._drivers import drive
from config_client._protocol import Call, Work, backoff
from config_client.cache import DiskCache

URL = "http://config.invalid"


@pytest.mark.parametrize("attempt", [1025, 1100, 10**6, 10**30])
def test_backoff_after_very_many_failures_is_the_longest_wait_not_an_overflow(attempt):
    for _ in range(50):
        assert 5.0 <= backoff(attempt, 0.2, 10.0) <= 10.0
    assert backoff(attempt, 0.2, 10.0, retry_after=30.0) == 10.0


def test_backoff_grows_from_the_base():
    assert 0.1 <= backoff(1, 0.2, 10.0) <= 0.2
    assert 0.2 <= backoff(2, 0.2, 10.0) <= 0.4
    assert 0.1 <= backoff(0, 0.2, 10.0) <= 0.2


@pytest.mark.parametrize("attempt", [1, 3, 6])
def test_backoff_has_jitter_within_its_bounds(attempt):
    # Half fixed, half random: between half the ceiling and the ceiling, base * 2 ** (attempt - 1).
    ceiling = 0.2 * 2 ** (attempt - 1)
    waits = [backoff(attempt, 0.2, 10.0) for _ in range(50)]
    assert all(ceiling / 2 <= wait <= ceiling for wait in waits), waits
    assert len(set(waits)) >= 25, waits  # not one fixed wait, nor a handful of them
    assert max(waits) - min(waits) >= ceiling / 8, waits  # spread over the range, not a wobble
    # A Retry-After below the range leaves the jitter as it was.
    assert len({backoff(attempt, 0.2, 10.0, retry_after=ceiling / 4) for _ in range(50)}) >= 25


def view(version: int, config: dict, id: str = "01CONF") -> dict:
    return {"id": id, "application_id": "01APP", "name": "c", "comments": None, "config": config, "version": version}


def bundle(app_version: int, *views: dict) -> dict:
    application = {"id": "01APP", "name": "shop", "comments": None, "version": app_version}
    return {"application": application, "configurations": list(views)}


def ok(body: dict, etag: str) -> httpx.Response:
    return httpx.Response(200, content=json.dumps(body).encode(), headers={"ETag": f'"{etag}"'})


def make_core(tmp_path, retries: int = 0) -> Core:
    return Core(URL, None, tmp_path, timeout=1.0, retries=retries, backoff=0.01, max_backoff=0.01)


def run(flow, answer):
    """Drives a flow, answering each Call with `answer(call)`; Work is done as it comes."""
    try:
        instruction = next(flow)
        while True:
            result = None
            if isinstance(instruction, Call):
                result = answer(instruction)
            elif isinstance(instruction, Work):
                result = instruction.function()
            instruction = flow.send(result)
    except StopIteration as stop:
        return stop.value


def cached(tmp_path, key) -> dict | None:
    path = DiskCache(tmp_path, URL).path(*key)
    return json.loads(path.read_bytes()) if path.exists() else None


ONE = ("shop", "c")
ALL = ("shop", None)


def test_a_late_answer_does_not_put_back_an_older_version_than_one_stored_meanwhile(tmp_path):
    core = make_core(tmp_path)
    run(core.read(ONE), lambda call: ok(view(1, {"v": 1}), "r1"))
    late = core.read(ONE)
    assert isinstance(next(late), Call)  # sent: it will come back with version 2
    # Meanwhile (a watch, another thread) version 3 is read and stored.
    assert run(core.read(ONE), lambda call: ok(view(3, {"v": 3}), "r3")).version == 3

    answer = run_from(late, ok(view(2, {"v": 2}), "r2"))
    assert answer.version == 3 and answer.config == {"v": 3}
    assert core._held[ONE].version == 3
    assert cached(tmp_path, ONE)["version"] == 3


def test_an_older_version_is_taken_when_what_is_held_came_before_the_request(tmp_path):
    # The service went back (a database restored from a backup): it is the one that knows.
    core = make_core(tmp_path)
    run(core.read(ONE), lambda call: ok(view(5, {"v": 5}), "r5"))
    answer = run(core.read(ONE), lambda call: ok(view(4, {"v": 4}), "r4"))
    assert answer.version == 4 and core._held[ONE].version == 4
    assert cached(tmp_path, ONE)["version"] == 4


def test_a_late_answer_of_another_configuration_of_that_name_is_taken(tmp_path):
    # Deleted and created again: another id, versions from 1; nothing to order them by.
    core = make_core(tmp_path)
    late = core.read(ONE)
    next(late)
    run(core.read(ONE), lambda call: ok(view(7, {"old": True}, id="01OLD"), "r7"))
    answer = run_from(late, ok(view(1, {"new": True}, id="01NEW"), "r9"))
    assert answer.config == {"new": True}


def test_a_late_snapshot_does_not_put_back_older_versions(tmp_path):
    core = make_core(tmp_path)
    late = core.read(ALL)
    next(late)
    newer = bundle(1, view(3, {"v": 3}), view(1, {"w": 1}, id="01OTHER") | {"name": "d"})
    run(core.read(ALL), lambda call: ok(newer, "b2"))
    older = bundle(1, view(2, {"v": 2}), view(1, {"w": 1}, id="01OTHER") | {"name": "d"})
    answer = run_from(late, ok(older, "b1"))
    assert answer.documents == {"c": {"v": 3}, "d": {"w": 1}}
    assert [v["version"] for v in cached(tmp_path, ALL)["configurations"]] == [3, 1]


def test_a_late_snapshot_with_a_configuration_less_is_taken(tmp_path):
    # One was deleted, or not created yet: which, the versions cannot tell; the answer wins.
    core = make_core(tmp_path)
    late = core.read(ALL)
    next(late)
    run(core.read(ALL), lambda call: ok(bundle(1, view(3, {"v": 3}), view(1, {}, id="01D") | {"name": "d"}), "b2"))
    answer = run_from(late, ok(bundle(1, view(3, {"v": 3})), "b3"))
    assert answer.documents == {"c": {"v": 3}}


def test_a_failed_read_falls_back_to_the_copy_stored_meanwhile_not_the_one_it_began_with(tmp_path):
    core = make_core(tmp_path)
    run(core.read(ONE), lambda call: ok(view(1, {"v": 1}), "r1"))
    failing = core.read(ONE)
    next(failing)
    run(core.read(ONE), lambda call: ok(view(2, {"v": 2}), "r2"))
    answer = run_from(failing, httpx.ConnectError("down"))
    assert answer.version == 2 and core._held[ONE].version == 2


def test_the_services_404_forgets_the_last_known_good(tmp_path):
    core = make_core(tmp_path)
    run(core.read(ONE), lambda call: ok(view(1, {"v": 1}), "r1"))
    assert cached(tmp_path, ONE) is not None
    body = {"code": "not_found", "message": "application 'shop' has no configuration named 'c'", "details": []}
    with pytest.raises(NotFound):
        run(core.read(ONE), lambda call: httpx.Response(404, json=body))
    assert cached(tmp_path, ONE) is None and ONE not in core._held
    with pytest.raises(Unavailable):  # nothing to fall back on now
        run(core.read(ONE), lambda call: httpx.ConnectError("down"))


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(404, text="<html>404 Not Found</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(404, json={"detail": "Not Found"}),
        httpx.Response(404),
    ],
    ids=["html", "another JSON shape", "empty"],
)
def test_a_404_that_is_not_the_services_keeps_the_last_known_good(tmp_path, response):
    core = make_core(tmp_path)
    run(core.read(ONE), lambda call: ok(view(1, {"v": 1}), "r1"))
    with pytest.raises(NotFound):
        run(core.read(ONE), lambda call: response)
    assert cached(tmp_path, ONE)["version"] == 1
    # Still there to fall back on, in memory and on disk.
    assert run(core.read(ONE), lambda call: httpx.ConnectError("down")).stale
    fresh = make_core(tmp_path)
    assert run(fresh.read(ONE), lambda call: httpx.ConnectError("down")).config == {"v": 1}


def test_the_sync_driver_takes_a_response_it_cannot_decode_as_a_failed_attempt():
    def broken_gzip(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not gzip", headers={"Content-Encoding": "gzip"})

    core = Core(URL, None, None, timeout=1.0, retries=1, backoff=0.01, max_backoff=0.01)
    http = httpx.Client(base_url=URL, transport=httpx.MockTransport(broken_gzip))
    with http, pytest.raises(Unavailable, match="DecodingError"):
        drive(core.read(ONE), http)


def run_from(flow, first_answer):
    """Goes on with a flow that has yielded its Call: `first_answer` is what came back."""
    try:
        instruction = flow.send(first_answer)
        while True:
            assert isinstance(instruction, Work), instruction
            instruction = flow.send(instruction.function())
    except StopIteration as stop:
        return stop.value
