"""PostgreSQL 16 for the whole test run (shared by migrations_test.py and tests/).

By default a throwaway cluster in a temporary directory, removed at the end of the run;
TEST_DATABASE_URL points the tests at an existing server instead (they create and drop
their own databases in it).
"""

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import make_dsn

from infra.postgres import LocalPostgres, start_throwaway, stop_throwaway


def start_throwaway_postgres(*, durable: bool = False) -> LocalPostgres:
    """A new cluster in a new temporary directory; `stop_throwaway_postgres` removes both."""
    return start_throwaway(durable=durable, pg_bin=_pg_bin())


def stop_throwaway_postgres(server: LocalPostgres) -> None:
    stop_throwaway(server)


def _pg_bin() -> Path | None:
    value = os.environ.get("PG_BIN")
    return Path(value) if value else None


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of the server's maintenance database."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    server = start_throwaway_postgres()
    try:
        yield server.superuser_url()
    finally:
        stop_throwaway_postgres(server)


@pytest.fixture(scope="session")
def new_database(postgres_server_url: str) -> Iterator[Callable[[], str]]:
    """Makes empty databases on the test server; all are dropped at the end of the run."""
    created: list[str] = []

    def make() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        _admin(postgres_server_url, f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        created.append(name)
        return make_dsn(postgres_server_url, dbname=name)

    yield make
    for name in created:
        _admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(url: str, statement: str) -> None:
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()
