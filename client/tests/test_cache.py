"""Last-known-good: documents kept on disk (and in memory), served marked stale when the
service cannot answer, and never a crash over a bad cache file."""

import asyncio
import json
import threading

import pytest
from bench.service_process import ServiceProcess
from conftest import start_throwaway_postgres, stop_throwaway_postgres
from infra.postgres import free_port

from client.tests.support import FakeService, wait_for
from config_client import AsyncConfigClient, ConfigClient, Unavailable
from config_client.cache import DiskCache
from config_client.models import Configuration


def test_every_document_read_is_written_to_the_cache_dir_by_replacing_the_file(service, admin, app, tmp_path):
    admin.create(app, "c", {"v": 1})
    with ConfigClient(service.url, cache_dir=tmp_path) as client:
        client.get(app, "c")
        client.get_all(app)
        cache = DiskCache(tmp_path, service.url)
        one, everything = cache.path(app, "c"), cache.path(app, None)
        assert Configuration.from_json(json.loads(one.read_bytes())).config == {"v": 1}
        assert b'"configurations"' in everything.read_bytes()
        first_inode = one.stat().st_ino

        admin.update(app, "c", {"v": 2})
        client.get(app, "c")
    assert b'"v":2' in one.read_bytes().replace(b" ", b"")
    assert one.stat().st_ino != first_inode  # a new file renamed over the old, not rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([one.name, everything.name])  # no temp files left


def test_a_client_started_while_the_service_is_down_serves_its_cache_and_catches_up(
    restartable, tmp_path, warnings_logged
):
    with ConfigClient(restartable.url) as admin:
        admin.create_application("shop")
        admin.create("shop", "c", {"v": 1})
    with ConfigClient(restartable.url, cache_dir=tmp_path) as earlier_run:
        earlier_run.get("shop", "c")
        earlier_run.get_all("shop")
    restartable.stop()

    with ConfigClient(restartable.url, cache_dir=tmp_path, backoff=0.05, max_backoff=0.5) as client:
        view = client.view("shop", "c")
        assert view.config == {"v": 1} and view.stale and client.stale
        assert client.get("shop", "c") == {"v": 1}  # again: still served, not warned twice
        assert client.get_all("shop") == {"c": {"v": 1}}
        about_c = [w for w in warnings_logged() if "shop/c" in w]
        assert len(about_c) == 1 and "disk cache" in about_c[0]

        changes = []
        client.watch("shop", "c", on_change=changes.append)
        restartable.start()
        with ConfigClient(restartable.url) as admin:
            admin.update("shop", "c", {"v": 2})
        wait_for(lambda: changes and changes[-1] == {"v": 2}, what="the watch catching up")
        view = client.view("shop", "c")
        assert view.config == {"v": 2} and not view.stale
        assert client.get_all("shop") == {"c": {"v": 2}}
        assert not client.stale


def test_without_a_cache_dir_the_copy_in_memory_is_the_last_known_good(restartable, warnings_logged):
    with ConfigClient(restartable.url) as admin:
        admin.create_application("shop")
        admin.create("shop", "c", {"v": 1})
    with ConfigClient(restartable.url, backoff=0.05) as client:
        assert not client.view("shop", "c").stale
        restartable.stop()
        view = client.view("shop", "c")
        assert view.config == {"v": 1} and view.stale and client.stale
        assert any("from memory" in w for w in warnings_logged())
        restartable.start()
        assert not client.view("shop", "c").stale and not client.stale


A_VIEW = {"id": "01CONF", "application_id": "01APP", "name": "c", "comments": None, "config": {"v": 1}, "version": 1}
JSON = {"Content-Type": "application/json"}


def service_error(status: int) -> bytes:
    return json.dumps({"code": "internal_error", "message": f"the service failed ({status})", "details": []}).encode()


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_answer_serves_the_last_known_good_marked_stale(tmp_path, warnings_logged, status):
    with FakeService(200, json.dumps(A_VIEW).encode(), {**JSON, "ETag": '"r1"'}) as fake:
        with ConfigClient(fake.url, cache_dir=tmp_path, retries=1, backoff=0.01, max_backoff=0.05) as client:
            assert client.get("shop", "c") == {"v": 1} and not client.stale
            fake.status, fake.body, fake.headers = status, service_error(status), JSON
            asked = fake.requests
            assert client.get("shop", "c") == {"v": 1}  # from memory
            assert fake.requests == asked + 2  # the service was asked, and asked again: it said 5xx
            view = client.view("shop", "c")
            assert view.config == {"v": 1} and view.version == 1 and view.stale and client.stale
            about_c = [w for w in warnings_logged() if "shop/c" in w]
            assert len(about_c) == 1 and "from memory" in about_c[0]

        # Started again while the service still fails: the copy on disk.
        with ConfigClient(fake.url, cache_dir=tmp_path, retries=0) as restarted:
            assert restarted.get("shop", "c") == {"v": 1}
            assert restarted.view("shop", "c").stale and restarted.stale
        assert any("shop/c" in w and "disk cache" in w for w in warnings_logged())

        fake.status, fake.body, fake.headers = 200, json.dumps(A_VIEW).encode(), {**JSON, "ETag": '"r1"'}
        with ConfigClient(fake.url, cache_dir=tmp_path, retries=0) as later:
            view = later.view("shop", "c")
            assert view.config == {"v": 1} and not view.stale and not later.stale


def test_the_async_client_serves_the_last_known_good_marked_stale_on_a_503(tmp_path):
    async def scenario(url: str, fake: FakeService) -> None:
        async with AsyncConfigClient(url, cache_dir=tmp_path, retries=0) as client:
            assert await client.get("shop", "c") == {"v": 1} and not client.stale
            fake.status, fake.body, fake.headers = 503, service_error(503), JSON
            assert await client.get("shop", "c") == {"v": 1}
            assert (await client.view("shop", "c")).stale and client.stale
        async with AsyncConfigClient(url, cache_dir=tmp_path, retries=0) as restarted:
            view = await restarted.view("shop", "c")
            assert view.config == {"v": 1} and view.stale and restarted.stale

    with FakeService(200, json.dumps(A_VIEW).encode(), {**JSON, "ETag": '"r1"'}) as fake:
        asyncio.run(scenario(fake.url, fake))


def test_nothing_cached_and_the_service_unreachable_is_unavailable():
    url = f"http://127.0.0.1:{free_port()}"
    with ConfigClient(url, backoff=0.01) as client, pytest.raises(Unavailable) as caught:
        client.get("shop", "c")
    assert url in str(caught.value) and caught.value.status is None


CORRUPT = {
    "not JSON": b'{"id": "01J',
    "empty": b"",
    "not UTF-8": b"\xff\xfe\x00",
    "a list": b"[1, 2]",
    "a view missing fields": b'{"name": "c"}',
    "another configuration": b'{"id": "x", "application_id": "y", "name": "other", "comments": null, '
    b'"config": {}, "version": 1}',
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_cache_file_is_ignored_with_a_warning(tmp_path, warnings_logged, content):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the cache is all there is
    DiskCache(tmp_path, url).path("shop", "c").write_bytes(content)
    with ConfigClient(url, cache_dir=tmp_path, retries=0) as client, pytest.raises(Unavailable):
        client.get("shop", "c")
    assert any("ignoring the corrupt config cache file" in w for w in warnings_logged())


def test_an_unreadable_cache_file_is_ignored_with_a_warning(tmp_path, warnings_logged):
    url = f"http://127.0.0.1:{free_port()}"
    DiskCache(tmp_path, url).path("shop", "c").mkdir()  # a directory where the file should be
    with ConfigClient(url, cache_dir=tmp_path, retries=0) as client, pytest.raises(Unavailable):
        client.get("shop", "c")
    assert any("ignoring the config cache file" in w for w in warnings_logged())


def test_a_corrupt_cache_file_is_replaced_by_the_next_good_read(service, admin, app, tmp_path):
    admin.create(app, "c", {"v": 1})
    path = DiskCache(tmp_path, service.url).path(app, "c")
    path.write_bytes(b"garbage")
    with ConfigClient(service.url, cache_dir=tmp_path) as client:
        assert client.get(app, "c") == {"v": 1}
    assert b'"v": 1' in path.read_bytes() or b'"v":1' in path.read_bytes()


def test_a_service_serving_from_memory_while_its_database_is_down_is_stale_and_503_is_unavailable(warnings_logged):
    postgres = start_throwaway_postgres(durable=True)
    try:
        dsn = postgres.create_database("stale")
        with ServiceProcess(database_url=dsn, db_connect_timeout=1) as service:
            with ConfigClient(service.url) as admin:
                admin.create_application("shop")
                admin.create("shop", "c", {"v": 1})
            with ConfigClient(service.url, retries=0) as client:
                assert not client.view("shop", "c").stale
                postgres.stop("immediate")
                view = wait_for(lambda: (v := client.view("shop", "c")).stale and v, what="a stale answer")
                assert view.config == {"v": 1} and client.stale
                assert sum("from memory" in w for w in warnings_logged()) == 1
                # Everything but the reads by name says 503: Unavailable, with the service's code.
                with pytest.raises(Unavailable) as caught:
                    client.applications()
                assert (caught.value.status, caught.value.code) == (503, "database_unavailable")
                postgres.start()
                wait_for(lambda: not client.view("shop", "c").stale, 15, "the service answering fresh again")
                assert not client.stale
    finally:
        stop_throwaway_postgres(postgres)


def test_the_async_client_reads_and_writes_its_cache_off_the_event_loop(service, admin, app, tmp_path, monkeypatch):
    admin.create(app, "c", {"v": 1})
    threads: dict[str, set[int]] = {"save": set(), "load": set()}
    save, load = DiskCache.save, DiskCache.load

    def recording_save(self, *args):
        threads["save"].add(threading.get_ident())
        return save(self, *args)

    def recording_load(self, *args):
        threads["load"].add(threading.get_ident())
        return load(self, *args)

    monkeypatch.setattr(DiskCache, "save", recording_save)
    monkeypatch.setattr(DiskCache, "load", recording_load)

    async def scenario() -> None:
        async with AsyncConfigClient(service.url, cache_dir=tmp_path) as client:
            assert await client.get(app, "c") == {"v": 1}
        url = f"http://127.0.0.1:{free_port()}"  # nothing there: the copy on disk is read
        DiskCache(tmp_path, url).path(app, "c").write_bytes(
            DiskCache(tmp_path, service.url).path(app, "c").read_bytes()
        )
        async with AsyncConfigClient(url, cache_dir=tmp_path, retries=0) as client:
            assert (await client.view(app, "c")).stale

    loop_thread = threading.get_ident()  # asyncio.run runs the loop in this thread
    asyncio.run(scenario())
    assert threads["save"] and threads["load"] and loop_thread not in threads["save"] | threads["load"]
