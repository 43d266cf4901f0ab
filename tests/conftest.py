"""Shared fixtures: one migrated database for the run, the Database, and the app under test."""

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infra.database import Database
from migrations import migrate
from tests.streaming_replica import StreamingPair
from tests.support import app_settings, database


@pytest.fixture(scope="session")
def database_url(new_database) -> str:
    dsn = new_database()
    migrate(dsn)
    return dsn


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    db = database(database_url, write_workers=4)
    yield db
    db.close()


@pytest.fixture(scope="session")
def client(database_url: str) -> Iterator[TestClient]:
    app = create_app(app_settings(database_url))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names no other test (or earlier run) uses."""
    return lambda label="name": f"{label}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def streaming_pair() -> Iterator[StreamingPair]:
    """A primary and its streaming replica (tests/streaming_replica.py), for the tests of read
    replicas; made when first asked for."""
    pg_bin = os.environ.get("PG_BIN")
    pair = StreamingPair(Path(pg_bin) if pg_bin else None)
    yield pair
    pair.close()
