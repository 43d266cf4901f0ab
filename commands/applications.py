"""Create and update applications."""

from dataclasses import asdict, dataclass, field

from psycopg2.errors import UniqueViolation
from psycopg2.extensions import cursor as Cursor

from commands.errors import Conflict, NotFound
from infra.database import one_statement
from infra.ids import new_id


@dataclass(frozen=True)
class CreateApplication:
    name: str
    comments: str | None = None
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class UpdateApplication:
    """Replaces the writable fields of an existing application."""

    id: str
    name: str
    comments: str | None = None


INSERT_APPLICATION = """
INSERT INTO applications (id, name, comments)
VALUES (%(id)s, %(name)s, %(comments)s)
RETURNING id, name, comments
"""

UPDATE_APPLICATION = """
UPDATE applications SET name = %(name)s, comments = %(comments)s
WHERE id = %(id)s
RETURNING id, name, comments
"""


@one_statement
def create_application(cmd: CreateApplication, cur: Cursor) -> dict:
    try:
        cur.execute(INSERT_APPLICATION, asdict(cmd))
    except UniqueViolation:
        raise _name_taken(cmd.name) from None
    return cur.fetchone()


@one_statement
def update_application(cmd: UpdateApplication, cur: Cursor) -> dict:
    try:
        cur.execute(UPDATE_APPLICATION, asdict(cmd))
    except UniqueViolation:
        raise _name_taken(cmd.name) from None
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"application {cmd.id} does not exist")
    return row


def _name_taken(name: str) -> Conflict:
    return Conflict(f"an application named {name!r} already exists")
