"""Staged releases through the client: its X-Client-Id on reads and watches, the admin calls
(release, rollouts, the fleet view), and a watch that reports how applying each version went:
a failure rolls a rollout back, and meanwhile the client keeps its last good version."""

import asyncio
import threading

import httpx
import pytest
from pydantic import BaseModel, Field

from client.tests.support import FakeService, in_share, out_of_share, wait_for
from config_client import AsyncConfigClient, ConfigClient, Conflict, NotFound, Rollout

V1, V2 = {"pool": 10}, {"pool": 20}


class Settings(BaseModel):
    pool: int = Field(le=15)


@pytest.fixture
def staged(admin, app) -> tuple[str, str]:
    """(application, configuration id) of a staged configuration "c": version 1 live, version 2 made."""
    created = admin.create(app, "c", V1, release="staged")
    assert (created.release, created.live_version) == ("staged", 1)
    changed = admin.update(app, "c", V2)
    assert (changed.version, changed.live_version, changed.release) == (2, 1, "staged")
    return app, created.id


def served(service, app: str, client_id: str) -> int:
    """The version the service serves this client now."""
    response = httpx.get(f"{service.url}/api/v1/config/{app}/c", headers={"X-Client-Id": client_id})
    assert response.status_code == 200, response.text
    return response.json()["version"]


def test_reads_and_watches_say_who_the_client_is(service, admin, staged):
    app, config_id = staged
    admin.start_rollout(app, "c", 2, step_seconds=600)
    inside, outside = in_share(config_id, "reader"), out_of_share(config_id, "reader")
    with ConfigClient(service.url, client_id=inside) as canary, ConfigClient(service.url, client_id=outside) as rest:
        # A rollout at 10% gives each the version of its share: the id went with the read.
        assert (canary.get(app, "c"), canary.view(app, "c").version) == (V2, 2)
        assert (rest.get(app, "c"), rest.view(app, "c").version) == (V1, 1)
        assert canary.snapshot(app).configurations["c"].version == 2
    watcher = in_share(config_id, "watcher")
    seen = []
    with ConfigClient(service.url, client_id=watcher) as client:
        client.watch(app, "c", on_change=seen.append)
        wait_for(lambda: seen == [V2])
        # The fleet view lists all three, each with the version it was served.
        fleet = wait_for(lambda: (f := admin.fleet(app, "c")) and len(f.clients) == 3 and f, what="the fleet view")
    assert {c.client_id: c.version for c in fleet.clients} == {inside: 2, outside: 1, watcher: 2}
    assert fleet.versions == {1: 1, 2: 2} and all(c.via_instance and c.last_seen for c in fleet.clients)


def test_the_admin_calls_of_a_rollout(service, admin, staged):
    app, config_id = staged
    before = admin.history(app, "c")[0].revision
    started = admin.start_rollout(app, "c", 2, steps=[10, 50, 100], step_seconds=600, max_failures=3)
    assert isinstance(started, Rollout) and started.active
    assert (started.from_version, started.to_version, started.percent, started.state) == (1, 2, 10, "running")
    assert (started.steps, started.step_seconds, started.max_failures, started.configuration_id) == (
        [10, 50, 100],
        600,
        3,
        config_id,
    )
    with pytest.raises(Conflict, match="active rollout"):
        admin.start_rollout(app, "c", 2)
    assert admin.pause_rollout(app, "c").state == "paused"
    with pytest.raises(Conflict):
        admin.pause_rollout(app, "c")
    assert admin.resume_rollout(app, "c", started.id).state == "running"
    assert admin.rollback_rollout(app, "c").state == "rolled_back"
    assert admin.configuration(app, "c").live_version == 1

    second = admin.start_rollout(app, "c", 2, step_seconds=600)
    assert admin.rollout(app, "c").id == second.id  # the latest
    assert admin.rollout(app, "c", started.id).state == "rolled_back"
    promoted = admin.promote_rollout(app, "c")
    assert (promoted.state, promoted.percent, promoted.active) == ("completed", 100, False)
    assert admin.configuration(app, "c").live_version == 2
    assert [r.id for r in admin.rollouts(app, "c")] == [second.id, started.id]
    assert [r.id for r in admin.rollouts(app, "c", limit=1)] == [second.id]

    # The feed has each event; the client's feed reader takes them as they are.
    kinds = {(c.kind, c.action) for c in admin.changes(after=before) if c.configuration_id == config_id}
    assert {("rollout", "started"), ("rollout", "rolled_back"), ("rollout", "completed")} <= kinds
    assert [v.version for v in admin.history(app, "c")] == [2, 1]  # and reading history skips them

    back = admin.set_release(app, "c", "immediate")  # a new version of the same document, live at once
    assert (back.release, back.version, back.live_version) == ("immediate", 3, 3)
    with pytest.raises(Conflict, match="staged"):
        admin.start_rollout(app, "c", 2)
    with pytest.raises(ValueError, match="immediate' or 'staged"):
        admin.set_release(app, "c", "slowly")


def test_a_configuration_without_rollouts_has_no_latest(admin, app):
    admin.create(app, "c", V1)
    assert admin.rollouts(app, "c") == []
    with pytest.raises(NotFound, match="no rollout"):
        admin.rollout(app, "c")
    with pytest.raises(NotFound):
        admin.promote_rollout(app, "c")


def test_the_async_client_has_the_same_admin_calls(service, admin, staged):
    app, config_id = staged

    async def scenario():
        async with AsyncConfigClient(service.url, client_id="async-reader") as client:
            started = await client.start_rollout(app, "c", 2, steps=(50, 100), step_seconds=600)
            paused = await client.pause_rollout(app, "c")
            resumed = await client.resume_rollout(app, "c")
            listed = await client.rollouts(app, "c")
            latest = await client.rollout(app, "c")
            await client.get(app, "c")
            fleet = None
            for _ in range(100):
                fleet = await client.fleet(app, "c")
                if fleet.clients:
                    break
                await asyncio.sleep(0.1)
            by_name = await client.application_fleet(app)
            promoted = await client.promote_rollout(app, "c")
            immediate = await client.set_release(app, "c", "immediate")
            return started, paused, resumed, listed, latest, fleet, by_name, promoted, immediate

    started, paused, resumed, listed, latest, fleet, by_name, promoted, immediate = asyncio.run(scenario())
    assert (started.percent, paused.state, resumed.state, promoted.state) == (50, "paused", "running", "completed")
    assert [r.id for r in listed] == [started.id] and latest.id == started.id
    assert [c.client_id for c in fleet.clients] == ["async-reader"]
    assert by_name["c"].configuration_id == config_id and by_name["c"].name == "c"
    assert immediate.release == "immediate"


class Applier:
    """An on_change callback that applies documents, failing on those it cannot."""

    def __init__(self, refuse: dict) -> None:
        self.refuse = refuse
        self.given: list[dict] = []
        self.applied: list[dict] = []
        self.called = threading.Event()

    def __call__(self, document: dict) -> None:
        self.given.append(document)
        self.called.set()
        if document == self.refuse:
            raise RuntimeError(f"pool {document['pool']} is more than this host has")
        self.applied.append(document)


def test_a_failure_to_apply_is_reported_and_rolls_the_rollout_back(service, admin, staged):
    app, config_id = staged
    canary = in_share(config_id, "canary")
    apply = Applier(refuse=V2)
    with ConfigClient(service.url, client_id=canary) as client:
        assert client.get(app, "c") == V1
        client.watch(app, "c", on_change=apply)
        rollout = admin.start_rollout(app, "c", 2, step_seconds=600, max_failures=0)
        # The canary is in the first 10%: it is given version 2, fails to apply it, reports;
        # one failure is more than max_failures 0: rolled back, and the watch brings version 1.
        wait_for(lambda: apply.given == [V2, V1], what="version 2, then version 1 again")
        assert apply.applied == [V1]
        ended = admin.rollout(app, "c", rollout.id)
        assert (ended.state, ended.failures) == ("rolled_back", 1)
        assert "pool 20 is more than this host has" in ended.reason
        assert client.get(app, "c") == V1 and client.view(app, "c").version == 1
        assert served(service, app, canary) == 1
    report = wait_for(lambda: next(iter(admin.fleet(app, "c").clients), None), what="the fleet view").last_report
    assert (report.version, report.ok) == (1, True)  # applied after the rollback


def test_after_a_failure_the_client_keeps_its_last_good_version(service, admin, staged):
    app, config_id = staged
    first, second = in_share(config_id, "node"), in_share(config_id, "node", skip=1)
    apply = Applier(refuse=V2)
    with ConfigClient(service.url, client_id=first) as client:
        assert client.get(app, "c") == V1
        client.watch(app, "c", on_change=apply)
        rollout = admin.start_rollout(app, "c", 2, step_seconds=600, max_failures=1)
        wait_for(lambda: admin.rollout(app, "c").failures == 1, what="the failure counted")
        # The service still serves this client version 2 (one failure is not more than 1) ...
        assert admin.rollout(app, "c").state == "running" and served(service, app, first) == 2
        # ... but the client keeps the version it had: version 2 could not be applied.
        assert client.get(app, "c") == V1
        assert client.view(app, "c").version == 1
        assert client.snapshot(app).documents["c"] == V1
        report = wait_for(lambda: next(iter(admin.fleet(app, "c").clients), None), what="the fleet view").last_report
        assert (report.version, report.ok) == (2, False) and "RuntimeError: pool 20" in report.message

        # A second client failing is more than max_failures: rolled back, version 1 for all.
        with httpx.Client(base_url=f"{service.url}/api/v1/config/{app}/c") as other:
            other.post("/reports", json={"client_id": second, "version": 2, "ok": False, "message": "no"})
        assert admin.rollout(app, "c", rollout.id).state == "rolled_back"
        wait_for(lambda: apply.given == [V2, V1], what="version 1 again")
        assert client.get(app, "c") == V1


def test_a_document_that_does_not_fit_the_model_is_a_failure_reported(service, admin, app):
    created = admin.create(app, "c", V1)
    assert (created.release, created.live_version) == ("immediate", 1)
    staged = admin.set_release(app, "c", "staged")  # a new version (2), the same document; 1 stays live
    assert (staged.release, staged.version, staged.live_version) == ("staged", 2, 1)
    config_id = staged.id
    admin.update(app, "c", V2)  # version 3, 20: more than the model allows
    canary = in_share(config_id, "typed")
    given = []

    async def scenario():
        async with AsyncConfigClient(service.url, client_id=canary) as client:
            assert (await client.get(app, "c", model=Settings)).pool == 10
            client.watch(app, "c", on_change=given.append, model=Settings)
            await asyncio.sleep(0.3)
            rollout = await client.start_rollout(app, "c", 3, step_seconds=600, max_failures=0)
            for _ in range(100):
                if (await client.rollout(app, "c", rollout.id)).state == "rolled_back":
                    break
                await asyncio.sleep(0.05)
            return await client.rollout(app, "c", rollout.id), await client.get(app, "c", model=Settings)

    ended, settings = asyncio.run(scenario())
    assert ended.state == "rolled_back" and "/pool" in ended.reason and "does not fit Settings" in ended.reason
    assert "20" not in ended.reason.split("version 3")[-1]  # the value found is never sent
    # Never handed the document that does not fit; version 1 again after the rollback.
    assert settings.pool == 10 and [s.pool for s in given] == [10]


def test_an_application_watch_reports_its_staged_configurations(service, admin, staged):
    app, config_id = staged
    admin.create(app, "plain", {"x": 1})  # immediate: not reported
    canary = in_share(config_id, "whole")
    seen = []

    def apply(documents: dict) -> None:
        seen.append(documents)
        if documents["c"] == V2:
            raise ValueError("cannot take pool 20")

    with ConfigClient(service.url, client_id=canary) as client:
        assert client.get_all(app) == {"c": V1, "plain": {"x": 1}}
        client.watch(app, on_change=apply)
        rollout = admin.start_rollout(app, "c", 2, step_seconds=600, max_failures=0)
        wait_for(lambda: len(seen) == 2, what="version 2 of c, then version 1 again")
        assert [documents["c"] for documents in seen] == [V2, V1]
        ended = admin.rollout(app, "c", rollout.id)
        assert ended.state == "rolled_back" and "ValueError: cannot take pool 20" in ended.reason
        assert client.get_all(app) == {"c": V1, "plain": {"x": 1}}
    fleets = wait_for(lambda: (f := admin.application_fleet(app)) and f["plain"].clients and f, what="the fleet")
    assert fleets["c"].clients[0].last_report.ok is True  # version 1, applied again
    assert fleets["plain"].clients[0].last_report is None


def test_a_report_is_tried_once_and_a_failed_one_is_said_once_and_never_raised(warnings_logged):
    down = b'{"code": "unavailable", "message": "the database is away"}'
    with FakeService(503, down, {"Content-Type": "application/json"}) as fake:
        with ConfigClient(fake.url, client_id="x", retries=5) as client:
            applied = client._core.applied
            for _ in range(2):  # the same outcome of the same version: sent once
                client._run(applied.report(("shop", "c"), 2, False, "boom"))
            client._run(applied.report(("shop", "c"), 3, True))
        assert fake.requests == 2  # no retries, though the client retries its reads 5 times
    assert [w for w in warnings_logged() if "report" in w] == [
        "could not report version 2 of shop/c: the database is away (not retried)"
    ]
