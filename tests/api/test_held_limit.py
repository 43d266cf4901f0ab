"""MAX_HELD_REQUESTS over HTTP: past it, a new watch or feed wait is 503 `too_many_held` with
Retry-After, at once; everything else is served; the held ones are answered as usual; and
the refusals are not failures of authentication."""

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from api.__main__ import _held_within
from api.app import create_app
from commands.tokens import CreateToken
from queries.changes import latest_revision
from tests.support import app_settings, perform

API = "/api/v1"


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_past_the_limit_a_new_wait_is_503_too_many_held_and_the_held_are_answered(database_url, db, caplog):
    settings = app_settings(database_url, auth="tokens", max_held_requests=3, auth_failure_limit=3)
    # Made before the instance starts, which reads it at once: no failed authentication yet.
    admin = bearer(perform(db, CreateToken(f"admin-{uuid.uuid4().hex[:8]}", "admin"))["secret"])
    with TestClient(create_app(settings)) as client, ThreadPoolExecutor(4) as pool:
        assert client.get(f"{API}/tokens/current", headers=admin).status_code == 200
        app = client.post(f"{API}/applications", json={"name": f"held-{uuid.uuid4().hex}"}, headers=admin).json()
        config = client.post(
            f"{API}/configurations", json={"application_id": app["id"], "name": "c", "config": {"v": 1}}, headers=admin
        ).json()
        url = f"{API}/config/{app['name']}/c"
        watch = {**admin, "If-None-Match": client.get(url, headers=admin).headers["etag"]}
        latest = db.run_query(latest_revision)
        feed = f"{API}/changes?after={latest}&wait=20"

        held = [pool.submit(client.get, f"{url}?wait=20", headers=watch) for _ in range(2)]
        held.append(pool.submit(client.get, feed, headers=admin))
        services = client.app.state.services
        deadline = time.monotonic() + 5
        while services.reads.watchers.held.count < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)

        # Two failed authentications of the three that block the address...
        for n in range(2):
            assert client.get(f"{API}/applications", headers=bearer(f"cfs_wrong{n}")).status_code == 401
        started = time.monotonic()
        for path, headers in ((f"{url}?wait=20", watch), (feed, admin)) * 5:
            refused = client.get(path, headers=headers)
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "too_many_held" and int(refused.headers["retry-after"]) >= 1
        assert time.monotonic() - started < 5  # refused at once, never held
        # ...and ten refusals later, the third is still a 401: they were not counted.
        assert client.get(f"{API}/applications", headers=bearer("cfs_wrong3")).status_code == 401
        assert client.get(f"{API}/applications", headers=bearer("cfs_wrong4")).status_code == 429

        # Reads that need no wait, and /health, are served meanwhile.
        assert client.get(url, headers=admin).status_code == 200
        assert client.get(f"{API}/changes?after={latest}", headers=admin).json() == []
        assert client.get("/health").status_code == 200

        changed = client.put(
            f"{API}/configurations/{config['id']}", json={"name": "c", "config": {"v": 2}}, headers=admin
        )
        assert changed.status_code == 200
        answers = [future.result(timeout=10) for future in held]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert answers[0].json()["config"] == {"v": 2} and answers[2].json()[0]["revision"] > latest
        assert services.reads.watchers.held.count == 0
        again = client.get(f"{API}/changes?after={answers[2].json()[-1]['revision']}&wait=1", headers=admin)
        assert again.status_code == 200 and again.json() == []
    # A flood of refusals logs a line a second, not a line each.
    assert 1 <= sum("503 too_many_held" in r.getMessage() for r in caplog.records) <= 2


def test_the_limit_is_lowered_to_what_the_open_file_limit_can_hold(caplog):
    caplog.set_level(logging.INFO)
    assert _held_within(1_048_576, 20_000) == 20_000
    assert _held_within(4096, 20_000) == 4096 - 1024
    assert "MAX_HELD_REQUESTS=20000, but a process may open only 4096 files here: holding at most 3072" in caplog.text
    assert caplog.records[-1].levelname == "WARNING"  # the operator set it
    assert _held_within(4096, 20_000, explicit=False) == 3072
    assert caplog.records[-1].levelname == "INFO"  # the default: a note, not a warning at every start
