"""Which database host is tried first: the one that last gave a good connection."""

import psycopg2
from psycopg2.extensions import parse_dsn

from infra.hosts import Hosts
from infra.postgres import free_port
from tests.support import database


def test_the_host_that_worked_goes_first_and_the_rest_of_the_dsn_is_kept():
    hosts = Hosts("postgresql://u:secret@db1,db2,db3/config?target_session_attrs=read-write")
    hosts.worked("db3", 5432)
    parts = parse_dsn(hosts.dsn)
    assert parts["host"] == "db3,db1,db2"
    assert (parts["user"], parts["password"], parts["dbname"]) == ("u", "secret", "config")
    assert parts["target_session_attrs"] == "read-write"


def test_each_host_keeps_its_own_port():
    hosts = Hosts("postgresql://u@db1:5433,db2:5434/config")
    hosts.worked("db2", 5434)
    parts = parse_dsn(hosts.dsn)
    assert (parts["host"], parts["port"]) == ("db2,db1", "5434,5433")


def test_a_single_host_or_an_unknown_one_changes_nothing():
    one = "postgresql://u@db1/config"
    hosts = Hosts(one)
    hosts.worked("db1", 5432)
    assert hosts.dsn == one
    two = "postgresql://u@db1,db2/config"
    hosts = Hosts(two)
    hosts.worked("10.0.0.9", 5432)
    hosts.worked("db1", 5432)
    assert hosts.dsn == two


def test_the_pool_tries_first_the_host_that_answered(database_url):
    """The first host refuses: once a connection got through to the second, new ones try it first."""
    parts = parse_dsn(database_url)
    dead = free_port()
    dsn = psycopg2.extensions.make_dsn(database_url, host="127.0.0.1,127.0.0.1", port=f"{dead},{parts['port']}")
    db = database(dsn)
    try:
        assert db.run_query(lambda cur: cur.execute("SELECT 1") or 1) == 1
        assert parse_dsn(db.hosts.dsn)["port"] == f"{parts['port']},{dead}"
    finally:
        db.close()
