"""The pool and executors against PostgreSQL 16: broken connections, old servers."""

import threading

import psycopg2
import psycopg2.errors
import pytest

from infra.database import Database, DatabaseUnavailable, UnsupportedServer, connect_kwargs, describe
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


def pooled_pids(db: Database) -> set[int]:
    """The backends of every pooled connection: all of them busy at once, one query each."""
    barrier = threading.Barrier(db.size)
    pids: set[int] = set()

    def hold(cur) -> None:
        pids.add(backend_pid(cur))
        barrier.wait(timeout=10)

    threads = [threading.Thread(target=db.run_query, args=(hold,)) for _ in range(db.size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return pids


def test_once_a_connection_is_lost_no_connection_made_before_it_is_handed_out(database_url):
    """A vanished server leaves its other connections looking idle and healthy: each would
    cost a request its wait, so losing one renews them all."""
    db = database(database_url)
    try:
        before = pooled_pids(db)
        assert len(before) == db.size

        def lose_own_connection(cur) -> None:
            cur.execute("SELECT pg_terminate_backend(pg_backend_pid())")

        with pytest.raises(DatabaseUnavailable):
            db.run_query(lose_own_connection)
        assert not pooled_pids(db) & before
    finally:
        db.close()


def test_a_failed_statement_keeps_the_other_connections(database_url):
    db = database(database_url)
    try:
        before = pooled_pids(db)

        def fail(cur) -> None:
            cur.execute("SELECT 1 / 0")

        with pytest.raises(psycopg2.errors.DivisionByZero):
            db.run_query(fail)
        assert pooled_pids(db) == before
    finally:
        db.close()


def test_renewing_the_connections_replaces_every_idle_one(database_url):
    db = database(database_url)
    try:
        before = pooled_pids(db)
        db.renew_connections()  # what the app does when its listener loses its connection
        assert not pooled_pids(db) & before
    finally:
        db.close()


def test_connections_give_up_on_a_silent_server_within_the_connect_timeout():
    options = connect_kwargs(3, 5000)
    assert options["tcp_user_timeout"] == 3000
    assert options["keepalives_idle"] + options["keepalives_interval"] * options["keepalives_count"] <= 5


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:secret@db1,db2/config?target_session_attrs=read-write", "db1:5432,db2:5432/config"),
        ("postgresql://u:secret@10.0.0.2:5433,10.0.0.3:5434/config", "10.0.0.2:5433,10.0.0.3:5434/config"),
        ("host=db1,db2 port=6000 dbname=config password=secret", "db1:6000,db2:6000/config"),
        ("postgresql://u:secret@localhost/config", "localhost:5432/config"),
        ("dbname=config", "localhost:5432/config"),
    ],
)
def test_describe_names_every_host_and_port_and_never_the_password(dsn, shown):
    assert describe(dsn) == shown
