"""Create and update configurations (named JSON documents of an application)."""

import json
from dataclasses import dataclass, field
from typing import Any

from psycopg2.errors import ForeignKeyViolation, UniqueViolation
from psycopg2.extensions import cursor as Cursor

from commands.errors import Conflict, InvalidCommand, NotFound
from infra.database import one_statement
from infra.ids import new_id


@dataclass(frozen=True)
class CreateConfiguration:
    application_id: str
    name: str
    config: dict[str, Any]
    comments: str | None = None
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class UpdateConfiguration:
    """Replaces name, comments and config. `application_id`, when given, must be the current one."""

    id: str
    name: str
    config: dict[str, Any]
    comments: str | None = None
    application_id: str | None = None


INSERT_CONFIGURATION = """
INSERT INTO configurations (id, application_id, name, comments, config)
VALUES (%(id)s, %(application_id)s, %(name)s, %(comments)s, %(config)s::jsonb)
RETURNING id, application_id, name, comments, config
"""

# The application_id condition makes "move to another application" update nothing.
UPDATE_CONFIGURATION = """
UPDATE configurations SET name = %(name)s, comments = %(comments)s, config = %(config)s::jsonb
WHERE id = %(id)s AND (%(application_id)s::varchar IS NULL OR application_id = %(application_id)s)
RETURNING id, application_id, name, comments, config
"""

SELECT_APPLICATION_ID = "SELECT application_id FROM configurations WHERE id = %(id)s"


@one_statement
def create_configuration(cmd: CreateConfiguration, cur: Cursor) -> dict:
    try:
        cur.execute(INSERT_CONFIGURATION, _params(cmd))
    except UniqueViolation:
        raise _name_taken(cmd.name) from None
    except ForeignKeyViolation:
        raise InvalidCommand("application_id", f"application {cmd.application_id} does not exist") from None
    return cur.fetchone()


@one_statement
def update_configuration(cmd: UpdateConfiguration, cur: Cursor) -> dict:
    try:
        cur.execute(UPDATE_CONFIGURATION, _params(cmd))
    except UniqueViolation:
        raise _name_taken(cmd.name) from None
    row = cur.fetchone()
    if row is None:
        # Nothing updated: find out why, for the right error.
        cur.execute(SELECT_APPLICATION_ID, {"id": cmd.id})
        if cur.fetchone() is None:
            raise NotFound(f"configuration {cmd.id} does not exist")
        raise InvalidCommand("application_id", "a configuration cannot move to another application")
    return row


def _params(cmd: CreateConfiguration | UpdateConfiguration) -> dict:
    params = dict(cmd.__dict__)
    params["config"] = json.dumps(cmd.config, ensure_ascii=False, allow_nan=False)
    return params


def _name_taken(name: str) -> Conflict:
    return Conflict(f"this application already has a configuration named {name!r}")
