"""Typed configuration: `get(..., model=Settings)` and `watch(..., model=Settings)` hand out
instances of the caller's model, and never a document that does not fit it: the last one that
did is kept (in memory, and on disk across restarts of the client)."""

import asyncio
import time
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from client.tests.support import wait_for
from config_client import AsyncConfigClient, ConfigClient, ConfigServiceError, InvalidConfiguration, NotFound


class Pool(BaseModel):
    size: int = Field(gt=0)


class Settings(BaseModel):
    db: Pool
    log_level: Literal["debug", "info"] = "info"


GOOD = {"db": {"size": 20}, "log_level": "debug"}
BETTER = {"db": {"size": 40}}
# Two violations; the values found must not reach logs or errors (they may be secrets).
BAD = {"db": {"size": "hunter2-looks-like-a-secret"}, "log_level": "loud"}


def about(name: str, warnings: list[str]) -> list[str]:
    return [w for w in warnings if "does not fit" in w and f"/{name} " in w]


def test_get_with_a_model_returns_an_instance_validated_once_per_document(service, admin, app):
    admin.create(app, "c", GOOD)
    validated = []

    class Counted(Settings):
        @classmethod
        def model_validate(cls, obj, **kwargs):
            validated.append(obj)
            return super().model_validate(obj, **kwargs)

    with ConfigClient(service.url) as client:
        settings = client.get(app, "c", model=Counted)
        assert isinstance(settings, Counted) and settings.db.size == 20 and settings.log_level == "debug"
        assert client.get(app, "c", model=Counted) is settings  # a 304: the same instance
        assert len(validated) == 1
        assert client.get(app, "c") == GOOD  # without a model, the document as ever

        admin.update(app, "c", BETTER)
        assert client.get(app, "c", model=Counted) == Counted(db=Pool(size=40))
        assert len(validated) == 2


def test_a_document_that_fails_the_model_is_never_returned_the_last_good_one_is(service, admin, app, warnings_logged):
    admin.create(app, "c", GOOD)
    with ConfigClient(service.url) as client:
        good = client.get(app, "c", model=Settings)
        admin.update(app, "c", BAD)
        assert client.get(app, "c", model=Settings) is good
        assert client.get(app, "c") == BAD  # the document itself is still there to see
        warned = about("c", warnings_logged())
        assert len(warned) == 1, warnings_logged()
        assert f"{app}/c version 2 does not fit Settings" in warned[0] and "keeping version 1" in warned[0]
        assert "/db/size: " in warned[0] and "/log_level: " in warned[0]
        assert all("hunter2" not in w for w in warnings_logged())

        assert client.get(app, "c", model=Settings) is good  # again: no second warning
        assert len(about("c", warnings_logged())) == 1

        admin.update(app, "c", BETTER)  # a good one again: it is the one now
        assert client.get(app, "c", model=Settings) == Settings(db=Pool(size=40))


def test_the_last_good_document_is_kept_on_disk_across_restarts_of_the_client(restartable, tmp_path, warnings_logged):
    with ConfigClient(restartable.url) as admin:
        admin.create_application("shop")
        admin.create("shop", "c", GOOD)
    with ConfigClient(restartable.url, cache_dir=tmp_path) as earlier_run:
        assert earlier_run.get("shop", "c", model=Settings).db.size == 20
    with ConfigClient(restartable.url) as admin:
        admin.update("shop", "c", BAD)

    # Started again: the service answers with the bad version; the good one comes from disk.
    with ConfigClient(restartable.url, cache_dir=tmp_path) as client:
        assert client.get("shop", "c", model=Settings) == Settings.model_validate(GOOD)
        assert client.get("shop", "c") == BAD  # its own copy on disk is now the bad one
    assert any("keeping version 1" in w for w in about("c", warnings_logged()))

    # Started again while the service is down: its copy on disk does not fit either.
    restartable.stop()
    with ConfigClient(restartable.url, cache_dir=tmp_path, retries=0) as client:
        assert client.get("shop", "c", model=Settings) == Settings.model_validate(GOOD)
        assert client.stale


def test_a_document_that_fails_the_model_with_nothing_good_known_is_invalid_configuration(
    service, admin, app, tmp_path
):
    admin.create(app, "c", BAD)
    with ConfigClient(service.url, cache_dir=tmp_path) as client:
        with pytest.raises(InvalidConfiguration) as caught:
            client.get(app, "c", model=Settings)
        error = caught.value
        assert isinstance(error, ConfigServiceError) and error.status is None
        assert (error.application, error.name, error.version, error.model) == (app, "c", 1, Settings)
        assert [detail.location for detail in error.details] == ["/db/size", "/log_level"]
        assert [e["type"] for e in error.errors] == ["int_parsing", "literal_error"]
        assert "hunter2" not in str(error) and all("input" not in e for e in error.errors)
        assert error.__cause__ is None and error.__context__ is None  # pydantic's own text shows the values
        with pytest.raises(InvalidConfiguration) as again:  # again: the same, raised anew
            client.get(app, "c", model=Settings)
        assert again.value is not error and str(again.value) == str(error)
        assert client.get(app, "c") == BAD

        admin.update(app, "c", GOOD)
        assert client.get(app, "c", model=Settings).db.size == 20


def test_a_watch_with_a_model_calls_back_with_instances_and_skips_a_version_that_does_not_fit(
    service, admin, app, warnings_logged
):
    admin.create(app, "c", GOOD)
    seen = []
    with ConfigClient(service.url) as client:
        first = client.get(app, "c", model=Settings)
        client.watch(app, "c", on_change=seen.append, model=Settings)
        time.sleep(0.3)  # the watch is holding a long-poll now
        admin.update(app, "c", BAD)
        wait_for(lambda: about("c", warnings_logged()), what="the watch refusing version 2")
        admin.update(app, "c", BETTER)
        wait_for(lambda: seen, what="the change to version 3")
        assert seen == [Settings(db=Pool(size=40))] and isinstance(seen[0], Settings)
        assert client.get(app, "c", model=Settings) is seen[0]  # the watch's, now held
        assert first.db.size == 20  # what the caller held before was never replaced by the bad one
    assert "keeping version 1" in about("c", warnings_logged())[0]


def test_the_async_client_reads_and_watches_with_a_model_alike(service, admin, app, warnings_logged):
    admin.create(app, "c", GOOD)
    admin.create(app, "bad", BAD)
    seen = []

    async def scenario():
        async with AsyncConfigClient(service.url) as client:
            good = await client.get(app, "c", model=Settings)
            assert isinstance(good, Settings) and good.db.size == 20
            with pytest.raises(InvalidConfiguration):
                await client.get(app, "bad", model=Settings)

            async def on_change(settings):
                seen.append(settings)

            client.watch(app, "c", on_change=on_change, model=Settings)
            await asyncio.sleep(0.3)
            await asyncio.to_thread(admin.update, app, "c", BAD)
            assert await client.get(app, "c", model=Settings) is good
            while not about("c", warnings_logged()):
                await asyncio.sleep(0.02)
            await asyncio.to_thread(admin.update, app, "c", BETTER)
            started = time.monotonic()
            while not seen and time.monotonic() - started < 10:
                await asyncio.sleep(0.02)

    asyncio.run(scenario())
    assert seen == [Settings(db=Pool(size=40))]


class Plain:
    """A model without pydantic: any class with `model_validate` will do."""

    def __init__(self, size: int) -> None:
        self.size = size

    @classmethod
    def model_validate(cls, document: dict) -> "Plain":
        if not isinstance(document.get("size"), int):
            raise ValueError("size must be an integer")
        return cls(document["size"])


def test_a_model_is_any_class_with_model_validate(service, admin, app):
    admin.create(app, "c", {"size": 3})
    admin.create(app, "bad", {"size": "three"})
    with ConfigClient(service.url) as client:
        plain = client.get(app, "c", model=Plain)
        assert isinstance(plain, Plain) and plain.size == 3
        with pytest.raises(InvalidConfiguration) as caught:
            client.get(app, "bad", model=Plain)
        assert caught.value.details[0].location == ""  # the document as a whole
        assert str(caught.value).endswith("does not fit Plain: ValueError: size must be an integer")


def test_a_model_must_be_a_class_with_model_validate_and_a_watched_one_needs_a_name(service, app):
    with ConfigClient(service.url) as client:
        for not_a_model in (dict, Settings(db=Pool(size=1)), "Settings"):
            with pytest.raises(TypeError, match="model_validate"):
                client.get(app, "c", model=not_a_model)
        with pytest.raises(TypeError, match="give its name"):
            client.watch(app, None, on_change=print, model=Settings)


def test_a_deleted_configuration_takes_its_last_good_value_with_it(service, admin, app, tmp_path):
    admin.create(app, "c", GOOD)
    with ConfigClient(service.url, cache_dir=tmp_path) as client:
        client.get(app, "c", model=Settings)
        assert len(list(tmp_path.iterdir())) == 2  # the document, and the last that fit Settings
        admin.delete(app, "c")
        with pytest.raises(NotFound):
            client.get(app, "c", model=Settings)
        assert list(tmp_path.iterdir()) == []
