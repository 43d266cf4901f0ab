"""Who connects to the embedded cluster as whom.

- `postgres`, the superuser, only makes the cluster, the service's role and the service's
  database (and the test suites' databases).
- `config_service` owns the service's database and is no superuser: the service, the
  migrations and the command-line tools connect as it.

A database that an earlier version made and migrated as the superuser is handed over to the
service's role with every object in it, so that migrations keep working; its data is kept.
Passwords reach the server only as salted SCRAM verifiers, never in the clear.
"""

import logging

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import encrypt_password, make_dsn

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
SERVICE_ROLE = "config_service"

SELECT_ROLE = "SELECT 1 FROM pg_roles WHERE rolname = %(name)s"
CREATE_SERVICE_ROLE = "CREATE ROLE config_service"
SET_SERVICE_ROLE = """
ALTER ROLE config_service LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
PASSWORD %(verifier)s
"""
SET_SUPERUSER_PASSWORD = "ALTER ROLE postgres PASSWORD %(verifier)s"
SELECT_DATABASE_OWNER = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %(name)s"
CREATE_DATABASE = "CREATE DATABASE {database} OWNER config_service TEMPLATE template0 ENCODING 'UTF8'"
SET_DATABASE_OWNER = "ALTER DATABASE {database} OWNER TO config_service"
# One ALTER ... OWNER TO per object of the superuser's outside the system schemas (REASSIGN
# OWNED refuses the bootstrap superuser). Indexes, and sequences owned by a column, move with
# their table; members of extensions stay.
SELECT_SUPERUSER_OBJECTS = """
WITH superuser AS (SELECT oid FROM pg_roles WHERE rolname = %(superuser)s),
own_schemas AS (
    SELECT oid FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%%'
),
members AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT format('ALTER %%s %%s OWNER TO config_service', kind, name) FROM (
    SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                          WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END,
           c.oid::regclass::text
    FROM pg_class c
    WHERE c.relowner = (SELECT oid FROM superuser)
      AND c.relnamespace IN (SELECT oid FROM own_schemas)
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c')
      AND NOT EXISTS (
          SELECT 1 FROM pg_depend d
          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e')
      )
    UNION ALL
    SELECT 'ROUTINE', p.oid::regprocedure::text
    FROM pg_proc p
    WHERE p.proowner = (SELECT oid FROM superuser)
      AND p.pronamespace IN (SELECT oid FROM own_schemas)
      AND p.oid NOT IN (SELECT objid FROM members WHERE classid = 'pg_proc'::regclass)
    UNION ALL
    SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype::text
    FROM pg_type t
    WHERE t.typowner = (SELECT oid FROM superuser)
      AND t.typnamespace IN (SELECT oid FROM own_schemas)
      AND t.typtype IN ('d', 'e', 'r')
      AND t.oid NOT IN (SELECT objid FROM members WHERE classid = 'pg_type'::regclass)
    UNION ALL
    SELECT 'SCHEMA', quote_ident(nspname)
    FROM pg_namespace
    WHERE nspowner = (SELECT oid FROM superuser) AND oid IN (SELECT oid FROM own_schemas)
) AS owned (kind, name)
"""


def prepare_service_role(superuser_url: str, password: str) -> None:
    """The service's role, made when missing: it may log in with `password`, and is no
    superuser (also if someone made it one)."""
    conn = psycopg2.connect(superuser_url, connect_timeout=5)
    try:
        verifier = encrypt_password(password, SERVICE_ROLE, conn, "scram-sha-256")
        with conn, conn.cursor() as cur:
            cur.execute(SELECT_ROLE, {"name": SERVICE_ROLE})
            if cur.fetchone() is None:
                log.info("creating the role %s, that the service connects as", SERVICE_ROLE)
                cur.execute(CREATE_SERVICE_ROLE)
            cur.execute(SET_SERVICE_ROLE, {"verifier": verifier})
    finally:
        conn.close()


def set_superuser_password(conn: psycopg2.extensions.connection, password: str) -> None:
    with conn.cursor() as cur:
        cur.execute(SET_SUPERUSER_PASSWORD, {"verifier": encrypt_password(password, SUPERUSER, conn, "scram-sha-256")})


def provide_service_database(superuser_url: str, name: str) -> None:
    """Database `name`, owned by the service's role: made when missing, handed over when an
    earlier version made it as the superuser."""
    conn = psycopg2.connect(superuser_url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(SELECT_DATABASE_OWNER, {"name": name})
            row = cur.fetchone()
            if row is None:
                cur.execute(sql.SQL(CREATE_DATABASE).format(database=sql.Identifier(name)))
    finally:
        conn.close()
    if row is not None and row[0] != SERVICE_ROLE:
        _hand_over(make_dsn(superuser_url, dbname=name), name)


def _hand_over(database_url: str, database: str) -> None:
    """The database and its objects, to the service's role, in one transaction."""
    log.warning("handing the database %s and its objects over to the role %s", database, SERVICE_ROLE)
    conn = psycopg2.connect(database_url, connect_timeout=5)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(SELECT_SUPERUSER_OBJECTS, {"superuser": SUPERUSER})
            for (statement,) in cur.fetchall():
                cur.execute(statement)
            cur.execute(sql.SQL(SET_DATABASE_OWNER).format(database=sql.Identifier(database)))
    finally:
        conn.close()
