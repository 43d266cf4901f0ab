"""The admin side: applications and configurations by name, history, restore, the change
feed, and changes made conditional with `if_match` or `expected_version`."""

import asyncio
import threading

import pytest

from config_client import KEEP, AsyncConfigClient, ConfigClient, NotFound, PreconditionFailed


def test_applications_are_created_read_changed_and_deleted_by_name(admin, unique):
    name = unique("app")
    created = admin.create_application(name, "first words")
    assert (created.name, created.comments, created.version) == (name, "first words", 1) and created.etag

    admin.create(name, "c", {})
    read = admin.application(name)
    assert read.id == created.id and len(read.configuration_ids) == 1 and read.etag
    assert [a.name for a in admin.applications(search=name)] == [name]

    renamed = unique("renamed")
    assert admin.update_application(name, rename_to=renamed).comments == "first words"  # kept
    assert admin.patch_application(renamed, comments=None).comments is None
    assert admin.update_application(renamed, comments="put").name == renamed
    with pytest.raises(NotFound):
        admin.application(name)

    admin.delete(renamed, "c")
    admin.delete_application(renamed)
    with pytest.raises(NotFound):
        admin.application(renamed)


def test_configurations_are_created_updated_patched_deleted_and_restored(admin, app):
    created = admin.create(app, "c", {"pool": 20, "flags": {"cart": True}}, "live")
    assert (created.version, created.comments) == (1, "live") and created.etag

    updated = admin.update(app, "c", {"pool": 40, "flags": {"cart": True}})
    assert (updated.version, updated.comments) == (2, "live")  # comments kept unless given
    patched = admin.patch(app, "c", {"flags": {"cart": None, "eu": True}, "log": "debug"})
    assert patched.config == {"pool": 40, "flags": {"eu": True}, "log": "debug"} and patched.version == 3
    assert admin.patch(app, "c", comments=None).comments is None
    assert admin.update(app, "c", {"pool": 1}, comments="back", rename_to="d").name == "d"
    assert [c.name for c in admin.configurations(app)] == ["d"]

    admin.delete(app, "d")
    with pytest.raises(NotFound):
        admin.configuration(app, "d")
    # Deleted, it is still found by name for its history, and restored.
    assert [v.version for v in admin.history(app, "d")] == [5, 4, 3, 2, 1]
    restored = admin.restore(app, "d", 2)
    assert (restored.version, restored.name, restored.config) == (6, "c", {"pool": 40, "flags": {"cart": True}})
    assert admin.configuration(app, "c").version == 6


def test_history_and_versions_are_newest_first(admin, app):
    admin.create(app, "c", {"v": 1})
    admin.update(app, "c", {"v": 2})
    versions = admin.history(app, "c")
    assert [(v.version, v.config) for v in versions] == [(2, {"v": 2}), (1, {"v": 1})]
    assert versions[0].revision > versions[1].revision
    assert admin.version(app, "c", 1).config == {"v": 1}
    with pytest.raises(NotFound):
        admin.version(app, "c", 3)


def test_the_change_feed_lists_changes_and_waits_for_the_next(admin, app):
    created = admin.create(app, "c", {"v": 1})
    feed = admin.changes(after=0, limit=1000)
    mine = [c for c in feed if c.id == created.id]
    assert [(c.action, c.kind, c.name, c.version) for c in mine] == [("created", "configuration", "c", 1)]

    latest = admin.changes(after=0, limit=1000)[-1].revision
    timer = threading.Timer(0.3, lambda: admin.update(app, "c", {"v": 2}))
    timer.start()
    waited = admin.changes(after=latest, wait=5)
    timer.join()
    assert [(c.action, c.id, c.version) for c in waited] == [("updated", created.id, 2)]


def test_expected_version_changes_only_that_version(admin, app):
    admin.create(app, "c", {"v": 1})
    assert admin.update(app, "c", {"v": 2}, expected_version=1).version == 2
    with pytest.raises(PreconditionFailed) as caught:
        admin.update(app, "c", {"v": 3}, expected_version=1)
    assert caught.value.current_version == 2 and "version 2, not 1" in str(caught.value)
    with pytest.raises(PreconditionFailed):
        admin.patch(app, "c", {"w": 1}, expected_version=1)
    with pytest.raises(PreconditionFailed):
        admin.restore(app, "c", 1, expected_version=1)
    with pytest.raises(PreconditionFailed):
        admin.delete(app, "c", expected_version=1)
    assert admin.configuration(app, "c").config == {"v": 2}  # none of them changed anything

    assert admin.patch(app, "c", {"w": 1}, expected_version=2).version == 3
    assert admin.restore(app, "c", 1, expected_version=3).config == {"v": 1}
    admin.delete(app, "c", expected_version=4)
    with pytest.raises(NotFound):
        admin.configuration(app, "c")


def test_expected_version_is_atomic_of_concurrent_writers_exactly_one_wins(service, admin, app):
    admin.create(app, "c", {"v": 0})
    writers = 8
    start = threading.Barrier(writers)
    results: list[object] = [None] * writers

    def write(n: int) -> None:
        with ConfigClient(service.url) as client:
            start.wait()
            try:
                results[n] = client.update(app, "c", {"v": n}, expected_version=1)
            except PreconditionFailed as exc:
                results[n] = exc

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if not isinstance(r, PreconditionFailed)]
    assert len(winners) == 1 and winners[0].version == 2
    assert admin.configuration(app, "c").config == winners[0].config
    assert [v.version for v in admin.history(app, "c")] == [2, 1]


def test_if_match_takes_an_etag_as_read(admin, app):
    view = admin.create(app, "c", {"v": 1})
    assert admin.update(app, "c", {"v": 2}, if_match=view.etag.strip('"')).version == 2  # quoted or not
    with pytest.raises(ValueError):
        admin.update(app, "c", {"v": 3}, if_match=view.etag, expected_version=2)


def test_application_changes_take_expected_version_too(admin, app):
    with pytest.raises(PreconditionFailed):
        admin.update_application(app, comments="x", expected_version=2)
    assert admin.update_application(app, comments="x", expected_version=1).version == 2
    with pytest.raises(PreconditionFailed):
        admin.delete_application(app, expected_version=1)
    admin.delete_application(app, expected_version=2)


def test_the_async_client_administers_alike(service, unique):
    name = unique("app")

    async def scenario():
        async with AsyncConfigClient(service.url) as client:
            await client.create_application(name)
            await client.create(name, "c", {"v": 1})
            await client.update(name, "c", {"v": 2}, expected_version=1, comments=KEEP)
            with pytest.raises(PreconditionFailed):
                await client.update(name, "c", {"v": 3}, expected_version=1)
            history = await client.history(name, "c")
            restored = await client.restore(name, "c", 1)
            return [v.version for v in history], restored

    versions, restored = asyncio.run(scenario())
    assert versions == [2, 1] and (restored.version, restored.config) == (3, {"v": 1})
