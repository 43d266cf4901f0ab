"""The pool and executors against PostgreSQL 16: broken connections, old servers."""

import psycopg2
import pytest

from infra.database import Database, UnsupportedServer
from tests.support import database


def select_one(cur) -> int:
    cur.execute("SELECT 1 AS one")
    return cur.fetchone()["one"]


def backend_pid(cur) -> int:
    cur.execute("SELECT pg_backend_pid() AS pid")
    return cur.fetchone()["pid"]


def test_connections_the_server_closed_are_discarded_not_handed_out(database_url):
    db = database(database_url)
    try:
        before = {db.run_query(backend_pid) for _ in range(8)}
        admin = psycopg2.connect(database_url)
        try:
            with admin, admin.cursor() as cur:  # as a restart would: every pooled connection dies
                cur.execute("SELECT pg_terminate_backend(pid, 5000) FROM unnest(%s::int[]) AS pid", (list(before),))
        finally:
            admin.close()

        assert [db.run_query(select_one) for _ in range(8)] == [1] * 8  # no error reaches anyone
        after = {db.run_query(backend_pid) for _ in range(8)}
        assert not before & after
    finally:
        db.close()


def test_a_server_older_than_required_is_refused_with_a_clear_message(database_url):
    class NeedsTheFuture(Database):
        min_server_version = 990000

    with pytest.raises(UnsupportedServer, match=r"PostgreSQL 16 at .* is too old: this service needs PostgreSQL 99"):
        NeedsTheFuture(
            database_url,
            read_workers=1,
            write_workers=1,
            connect_timeout=3,
            statement_timeout_ms=5000,
            queue_max=1,
            queue_timeout=1,
        )
