"""The database records every change, whoever makes it: a revision, a version, a feed entry.
Revisions become visible in commit order, whatever the number of concurrent writers."""

import threading
import time

import psycopg2

from commands.applications import CreateApplication
from commands.configurations import CreateConfiguration
from tests.support import perform


def sql(database_url: str, statement: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def test_a_change_made_in_psql_is_recorded_too(db, database_url, unique):
    app = perform(db, CreateApplication(unique("app")))
    config = perform(db, CreateConfiguration(app["id"], unique(), {"v": 1}))

    sql(database_url, "UPDATE configurations SET config = '{\"v\": 2}' WHERE id = %s", (config["id"],))
    sql(database_url, "DELETE FROM configurations WHERE id = %s", (config["id"],))

    entries = sql(
        database_url,
        "SELECT action, version, actor, request_id FROM changes WHERE id = %s ORDER BY revision",
        (config["id"],),
    )
    assert entries == [("created", 1, None, None), ("updated", 2, None, None), ("deleted", 2, None, None)]
    versions = sql(
        database_url,
        "SELECT version, config FROM configuration_versions WHERE configuration_id = %s ORDER BY version",
        (config["id"],),
    )
    assert versions == [(1, {"v": 1}), (2, {"v": 2})]


def test_moving_a_configuration_or_changing_an_id_is_refused_by_the_database(db, database_url, unique):
    app = perform(db, CreateApplication(unique("app")))
    other = perform(db, CreateApplication(unique("other")))
    config = perform(db, CreateConfiguration(app["id"], unique(), {}))

    for statement, params in (
        ("UPDATE configurations SET application_id = %s WHERE id = %s", (other["id"], config["id"])),
        ("UPDATE applications SET id = '01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4' WHERE id = %s", (other["id"],)),
    ):
        try:
            sql(database_url, statement, params)
        except psycopg2.errors.CheckViolation:
            continue
        raise AssertionError(f"not refused: {statement}")


def test_revisions_become_visible_in_commit_order_under_concurrent_writers(db, database_url, unique):
    """Eight writers on eight connections, each committing small transactions; a follower reads
    `revision > last seen` over and over. Had any revision become visible after a higher one,
    the follower would have skipped it, and it would be missing from what it saw."""
    app = perform(db, CreateApplication(unique("app")))
    (start,) = sql(database_url, "SELECT coalesce(max(revision), 0) FROM changes")[0]
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        conn = psycopg2.connect(database_url)
        try:
            with conn.cursor() as cur:
                for i in range(40):
                    for j in range(1 + i % 3):  # one to three changes per transaction
                        cur.execute(
                            "INSERT INTO configurations (id, application_id, name, config) VALUES (%s, %s, %s, '{}')",
                            (CreateApplication("x").id, app["id"], f"w{n}-{i}-{j}-{unique()}"),
                        )
                    conn.commit()
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    seen: list[int] = []

    def follow() -> None:
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        last = start
        try:
            with conn.cursor() as cur:
                while True:
                    done = stop.is_set()
                    cur.execute("SELECT revision FROM changes WHERE revision > %s ORDER BY revision", (last,))
                    for (revision,) in cur.fetchall():
                        seen.append(revision)
                        last = revision
                    if done:
                        return
                    time.sleep(0.001)
        finally:
            conn.close()

    follower = threading.Thread(target=follow)
    writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    follower.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    follower.join()

    assert errors == []
    stored = [r for (r,) in sql(database_url, "SELECT revision FROM changes WHERE revision > %s ORDER BY 1", (start,))]
    assert len(stored) == 8 * sum(1 + i % 3 for i in range(40))
    assert seen == sorted(set(seen))  # strictly increasing
    assert seen == stored  # nothing became visible behind the follower's back
