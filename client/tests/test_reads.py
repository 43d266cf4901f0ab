"""Reading by name: get, view, get_all, and the conditional requests that make repeats cheap."""

import asyncio

import pytest

from config_client import AsyncConfigClient, ConfigClient, Configuration


def test_get_returns_the_document_and_view_the_version(service, admin, app):
    admin.create(app, "production", {"db_pool": 20, "feature_flags": {"new_cart": True}}, "live")
    with ConfigClient(service.url) as client:
        assert client.get(app, "production") == {"db_pool": 20, "feature_flags": {"new_cart": True}}
        view = client.view(app, "production")
    assert isinstance(view, Configuration)
    assert (view.name, view.comments, view.version, view.stale) == ("production", "live", 1, False)
    assert view.etag and view.id and view.application_id


def test_a_repeat_get_is_a_304_that_transfers_no_body_and_parses_nothing(admin, app, wire):
    marker = "only-in-the-body-" * 200
    admin.create(app, "big", {"blob": marker})
    with ConfigClient(wire.url) as client:
        first = client.get(app, "big")
        sent = wire.take()
        assert b"200 OK" in sent and marker.encode() in sent

        again = client.get(app, "big")
        sent = wire.take()
        assert sent.startswith(b"HTTP/1.1 304 Not Modified")
        assert marker.encode() not in sent and len(sent) < 500
        assert again is first  # the very object held: nothing was parsed

        admin.update(app, "big", {"blob": "changed"})
        assert client.get(app, "big") == {"blob": "changed"}
        assert b"200 OK" in wire.take()


def test_get_all_returns_every_configuration_by_name_and_repeats_with_304(admin, app, wire):
    admin.create(app, "b", {"n": 2})
    admin.create(app, "a", {"n": 1})
    with ConfigClient(wire.url) as client:
        assert client.get_all(app) == {"a": {"n": 1}, "b": {"n": 2}}
        wire.take()
        snapshot = client.snapshot(app)
        assert wire.take().startswith(b"HTTP/1.1 304")
        assert snapshot.application.name == app
        assert [view.version for view in snapshot.configurations.values()] == [1, 1]

        admin.delete(app, "b")
        assert client.get_all(app) == {"a": {"n": 1}}


def test_an_application_without_configurations_has_an_empty_get_all(service, app):
    with ConfigClient(service.url) as client:
        assert client.get_all(app) == {}


@pytest.mark.parametrize(
    "name", ["with/slash", "per%cent", "what?", "hash#tag", "with space", "ünïcødé", ".", "..", "versions"]
)
def test_any_name_is_read_by_name(service, admin, unique, name):
    application = unique("app/with?odd#chars %")
    admin.create_application(application)
    admin.create(application, name, {"name": name})
    with ConfigClient(service.url) as client:
        assert client.get(application, name) == {"name": name}
        assert client.get_all(application) == {name: {"name": name}}


def test_the_async_client_reads_alike(service, admin, app):
    admin.create(app, "c", {"x": 1})

    async def read():
        async with AsyncConfigClient(service.url) as client:
            first = await client.get(app, "c")
            again = await client.get(app, "c")
            view = await client.view(app, "c")
            everything = await client.get_all(app)
            return first, again, view, everything

    first, again, view, everything = asyncio.run(read())
    assert first == {"x": 1} and again is first
    assert view.version == 1 and everything == {"c": {"x": 1}}
