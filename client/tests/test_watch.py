"""watch(): a background long-poll that calls back on every change, survives restarts of the
service, and stops cleanly."""

import asyncio
import logging
import threading
import time

from infra.postgres import free_port

from client.tests.support import FakeService, wait_for
from config_client import AsyncConfigClient, ConfigClient
from config_client._core import Core
from config_client._protocol import Sleep

UNREACHABLE = f"http://127.0.0.1:{free_port()}"


class Recorder:
    """An on_change callback that keeps what it got and when."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, object]] = []
        self.threads: set[str] = set()

    def __call__(self, document) -> None:
        self.calls.append((time.monotonic(), document))
        self.threads.add(threading.current_thread().name)

    @property
    def documents(self) -> list:
        return [document for _, document in self.calls]


def test_watch_calls_back_within_a_second_of_a_change(service, admin, app):
    admin.create(app, "c", {"v": 1})
    seen = Recorder()
    with ConfigClient(service.url) as client:
        assert client.get(app, "c") == {"v": 1}
        watch = client.watch(app, "c", on_change=seen)
        time.sleep(0.3)  # the watch is holding a long-poll now
        assert seen.calls == []  # held before: only changes are called back
        for value in (2, 3):
            admin.patch(app, "c", comments=f"before {value}")  # the document unchanged: no call
            admin.update(app, "c", {"v": value})
            changed_at = time.monotonic()
            at, _ = wait_for(lambda v=value: seen.calls and seen.calls[-1][1] == {"v": v} and seen.calls[-1])
            assert at - changed_at < 1.0
        assert seen.documents == [{"v": 2}, {"v": 3}]
        assert client.get(app, "c") == {"v": 3}
        assert watch.running and threading.current_thread().name not in seen.threads


def test_a_watch_of_nothing_held_starts_with_the_current_document(service, admin, app):
    admin.create(app, "c", {"v": 1})
    seen = Recorder()
    with ConfigClient(service.url) as client:
        client.watch(app, "c", on_change=seen)
        wait_for(lambda: seen.documents == [{"v": 1}])


def test_a_watch_of_an_application_calls_back_with_every_document(service, admin, app):
    admin.create(app, "a", {"n": 1})
    seen = Recorder()
    with ConfigClient(service.url) as client:
        client.get_all(app)
        client.watch(app, on_change=seen)
        time.sleep(0.3)
        admin.create(app, "b", {"n": 2})
        wait_for(lambda: seen.documents and seen.documents[-1] == {"a": {"n": 1}, "b": {"n": 2}})
        admin.update_application(app, comments="the documents are unchanged")
        admin.patch(app, "a", {"n": None, "m": 1})
        wait_for(lambda: seen.documents[-1] == {"a": {"m": 1}, "b": {"n": 2}})
        assert seen.documents == [{"a": {"n": 1}, "b": {"n": 2}}, {"a": {"m": 1}, "b": {"n": 2}}]


def test_a_watch_resumes_after_the_service_restarts(restartable, warnings_logged):
    with ConfigClient(restartable.url) as admin:
        admin.create_application("shop")
        admin.create("shop", "c", {"v": 1})
    seen = Recorder()
    with ConfigClient(restartable.url, backoff=0.05, max_backoff=0.5) as client:
        client.get("shop", "c")
        client.watch("shop", "c", on_change=seen, wait=5)
        time.sleep(0.3)
        restartable.stop()
        time.sleep(1.0)  # the watch fails and backs off meanwhile
        restartable.start()
        time.sleep(1.0)  # and is back, resumed from the version it saw: no call for an unchanged document
        assert seen.calls == []
        with ConfigClient(restartable.url) as admin:
            admin.update("shop", "c", {"v": 2})
            changed_at = time.monotonic()
        wait_for(lambda: seen.calls, what="the change after the restart")
        assert seen.documents == [{"v": 2}] and seen.calls[0][0] - changed_at < 1.0
    assert sum("watching shop/c" in w for w in warnings_logged()) == 1  # one warning for the outage


def test_close_stops_a_held_watch_at_once_and_nothing_is_called_back_after(service, admin, app):
    admin.create(app, "c", {"v": 1})
    seen = Recorder()
    client = ConfigClient(service.url)
    client.get(app, "c")
    watch = client.watch(app, "c", on_change=seen, wait=30)
    time.sleep(0.3)
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 1.0 and not watch.running
    admin.update(app, "c", {"v": 2})
    time.sleep(0.5)
    assert seen.calls == []


def test_a_failing_callback_does_not_end_the_watch(service, admin, app):
    admin.create(app, "c", {"v": 1})
    seen = Recorder()

    def fragile(document):
        seen(document)
        if len(seen.calls) == 1:
            raise RuntimeError("the callback's own bug")

    with ConfigClient(service.url) as client:
        client.get(app, "c")
        client.watch(app, "c", on_change=fragile)
        time.sleep(0.3)
        admin.update(app, "c", {"v": 2})
        wait_for(lambda: len(seen.calls) == 1)
        admin.update(app, "c", {"v": 3})
        wait_for(lambda: seen.documents == [{"v": 2}, {"v": 3}])


def test_the_async_watch_runs_as_a_task_and_stops_with_the_client(service, admin, app):
    admin.create(app, "c", {"v": 1})
    seen = []

    async def scenario():
        async with AsyncConfigClient(service.url) as client:
            await client.get(app, "c")

            async def on_change(document):
                seen.append((time.monotonic(), document))

            watch = client.watch(app, "c", on_change=on_change)
            await asyncio.sleep(0.3)
            await asyncio.to_thread(admin.update, app, "c", {"v": 2})
            changed_at = time.monotonic()
            while not seen and time.monotonic() - changed_at < 5:
                await asyncio.sleep(0.02)
        return watch, changed_at

    watch, changed_at = asyncio.run(scenario())
    assert [document for _, document in seen] == [{"v": 2}]
    assert seen[0][0] - changed_at < 1.0 and not watch.running


def die_at_once(core, key, on_change, wait, model=None):
    """Stands in for Core.watch: a watch with a bug (one the retries cannot get past)."""
    yield Sleep(0.01)
    raise RuntimeError("a bug in the watch")


def test_a_watch_that_ends_on_its_own_says_why(monkeypatch, caplog):
    monkeypatch.setattr(Core, "watch", die_at_once)
    with caplog.at_level(logging.ERROR, logger="config_client"), ConfigClient(UNREACHABLE) as client:
        watch = client.watch("shop", "c", on_change=print)
        assert watch.join(5) and not watch.running
    assert isinstance(watch.error, RuntimeError)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "watching shop/c stopped: RuntimeError: a bug in the watch"
    ]


def test_a_stopped_watch_has_no_error_and_logs_none(service, app, caplog):
    with caplog.at_level(logging.ERROR, logger="config_client"), ConfigClient(service.url) as client:
        watch = client.watch(app, None, on_change=print)
        time.sleep(0.2)
        watch.stop()
    assert not watch.running and watch.error is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_async_watch_that_ends_on_its_own_says_why(monkeypatch, caplog):
    monkeypatch.setattr(Core, "watch", die_at_once)

    async def scenario():
        async with AsyncConfigClient(UNREACHABLE) as client:
            watch = client.watch("shop", None, on_change=print)
            while watch.running:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0)  # the task's done callbacks run
            return watch

    with caplog.at_level(logging.ERROR, logger="config_client"):
        watch = asyncio.run(scenario())
    assert isinstance(watch.error, RuntimeError)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "watching shop stopped: RuntimeError: a bug in the watch"
    ]


def test_a_watch_getting_an_undecodable_answer_backs_off_and_keeps_going(warnings_logged):
    # A gzip body that is no gzip: httpx raises DecodingError, a RequestError but no TransportError.
    fake = FakeService(200, b"not gzip", {"Content-Encoding": "gzip", "ETag": '"x"'})
    with fake, ConfigClient(fake.url, backoff=0.01, max_backoff=0.05) as client:
        watch = client.watch("shop", "c", on_change=print)
        wait_for(lambda: fake.requests >= 3, what="the watch retrying")
        assert watch.running and watch.error is None
    assert any("watching shop/c: DecodingError" in w for w in warnings_logged())
