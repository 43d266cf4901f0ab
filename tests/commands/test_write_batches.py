"""Commands that wait together are committed together; one at fault fails alone."""

import asyncio

import pytest

from commands.applications import CreateApplication, create_application
from commands.errors import Conflict
from tests.support import database


def names_stored(db, names: list[str]) -> set[str]:
    def query(cur):
        cur.execute("SELECT name FROM applications WHERE name = ANY(%s)", (names,))
        return {row["name"] for row in cur.fetchall()}

    return db.run_query(query)


def test_a_batch_without_faults_commits_every_command(db, unique):
    names = [unique() for _ in range(5)]
    outcomes = db.run_batch([(create_application, CreateApplication(name)) for name in names])

    assert [error for _, error in outcomes] == [None] * 5
    assert [row["name"] for row, _ in outcomes] == names
    assert names_stored(db, names) == set(names)


def test_a_command_at_fault_fails_alone_and_the_others_are_stored(db, unique):
    taken = unique("taken")
    db.run_command(create_application, CreateApplication(taken))
    names = [unique(), taken, unique()]

    outcomes = db.run_batch([(create_application, CreateApplication(name)) for name in names])

    assert outcomes[0][1] is None and outcomes[2][1] is None
    assert isinstance(outcomes[1][1], Conflict)
    assert names_stored(db, names) == set(names)


def test_the_same_name_twice_in_one_batch_is_stored_once(db, unique):
    name = unique()
    outcomes = db.run_batch([(create_application, CreateApplication(name)) for _ in range(3)])
    assert sorted(type(error).__name__ for _, error in outcomes) == ["Conflict", "Conflict", "NoneType"]


def transaction_id(command: object, cur) -> int:
    cur.execute("SELECT txid_current() AS id")
    return cur.fetchone()["id"]


@pytest.fixture
def one_write_worker(database_url):
    db = database(database_url, write_workers=1)
    yield db
    db.close()


def test_commands_that_wait_together_share_one_transaction(one_write_worker):
    async def many() -> list[int]:
        return await asyncio.gather(*(one_write_worker.command(transaction_id, n) for n in range(20)))

    ids = asyncio.run(many())
    assert len(ids) == 20
    assert len(set(ids)) < 20  # the first goes alone; those that arrive meanwhile go together
