"""Commands that wait together are committed together, in one round trip; one at fault fails
alone; the database records each change with who made it."""

import asyncio

import pytest

from commands.applications import CreateApplication, UpdateApplication
from commands.bus import statement_of
from commands.errors import Conflict
from infra.writes import Caller, Statement
from tests.support import database, perform


def names_stored(db, names: list[str]) -> set[str]:
    def query(cur):
        cur.execute("SELECT name FROM applications WHERE name = ANY(%s)", (names,))
        return {row["name"] for row in cur.fetchall()}

    return db.run_query(query)


def feed_entries(db, ids: list[str]) -> list[dict]:
    def query(cur):
        cur.execute("SELECT * FROM changes WHERE id = ANY(%s) ORDER BY revision", (ids,))
        return cur.fetchall()

    return db.run_query(query)


def batch(names: list[str]) -> list:
    return [(statement_of(CreateApplication(name)), Caller()) for name in names]


def test_a_batch_without_faults_commits_every_command(db, unique):
    names = [unique() for _ in range(5)]
    outcomes = db.run_batch(batch(names))

    assert [error for _, error in outcomes] == [None] * 5
    assert [done.name for done, _ in outcomes] == names
    assert names_stored(db, names) == set(names)


def test_a_command_at_fault_fails_alone_and_the_others_are_stored(db, unique):
    taken = unique("taken")
    perform(db, CreateApplication(taken))
    names = [unique(), taken, unique()]

    outcomes = db.run_batch(batch(names))

    assert outcomes[0][1] is None and outcomes[2][1] is None
    assert isinstance(outcomes[1][1], Conflict)
    assert names_stored(db, names) == set(names)


def test_the_same_name_twice_in_one_batch_is_stored_once(db, unique):
    name = unique()
    outcomes = db.run_batch(batch([name] * 3))
    assert sorted(type(error).__name__ for _, error in outcomes) == ["Conflict", "Conflict", "NoneType"]


def test_commands_of_one_batch_see_each_others_changes_in_order(db, unique):
    created = CreateApplication(unique())
    renamed = unique("renamed")
    outcomes = db.run_batch(
        [
            (statement_of(created), Caller()),
            (statement_of(UpdateApplication(created.id, renamed)), Caller()),
        ]
    )
    assert [done.row["version"] for done, _ in outcomes] == [1, 2]
    assert names_stored(db, [renamed]) == {renamed}


def test_each_change_is_recorded_with_its_actor_and_request_id(db, unique):
    names = [unique() for _ in range(3)]
    outcomes = db.run_batch(
        [
            (statement_of(CreateApplication(name)), Caller(actor=f"tool-{n}", request_id=f"req-{n}"))
            for n, name in enumerate(names)
        ]
    )
    ids = [done.id for done, _ in outcomes]

    entries = feed_entries(db, ids)
    assert [(e["id"], e["actor"], e["request_id"], e["action"], e["version"]) for e in entries] == [
        (id, f"tool-{n}", f"req-{n}", "created", 1) for n, id in enumerate(ids)
    ]
    assert [e["revision"] for e in entries] == [done.revision for done, _ in outcomes]


TRANSACTION_ID = Statement("SELECT to_jsonb(txid_current())", {}, outcome=lambda value: value)


@pytest.fixture
def one_write_worker(database_url):
    db = database(database_url, write_workers=1)
    yield db
    db.close()


def test_commands_that_wait_together_share_one_transaction(one_write_worker):
    async def many() -> list[int]:
        return await asyncio.gather(*(one_write_worker.write(TRANSACTION_ID) for _ in range(20)))

    ids = asyncio.run(many())
    assert len(ids) == 20
    assert len(set(ids)) < 20  # the first goes alone; those that arrive meanwhile go together
