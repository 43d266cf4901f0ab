"""Create, change and delete applications: each handler returns its command as one statement
(infra/writes.py) whose outcome is the committed event."""

from dataclasses import dataclass, field

from commands.bus import handles
from commands.errors import Conflict, Forbidden, NotFound
from commands.preconditions import IfMatch, check, if_match_param, if_match_sql
from infra.access import visible_sql
from infra.events import Committed
from infra.ids import new_id
from infra.writes import SqlError, Statement


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
    if_match: IfMatch = None


@dataclass(frozen=True)
class PatchApplication:
    """Changes the fields given and keeps the others (a JSON merge patch)."""

    id: str
    name: str | None = None  # None: unchanged (a name cannot be removed)
    comments: str | None = None
    set_comments: bool = False  # whether `comments` (perhaps None) replaces the current ones
    if_match: IfMatch = None


@dataclass(frozen=True)
class DeleteApplication:
    """Deletes an application that has no configurations (nothing is deleted by cascade)."""

    id: str
    if_match: IfMatch = None


# The row as the write side answers it: every column, and the ETag of its view.
APPLICATION_JSON = "to_jsonb(a) || jsonb_build_object('etag', application_etag(a.id, a.revision))"
# The application as it is now, for the outcome to explain why nothing changed; outside a
# limited token's applications, as if it did not exist.
CURRENT = f"""(
    SELECT jsonb_build_object('etag', application_etag(id, revision), 'name', name)
    FROM applications WHERE id = %(id)s AND {visible_sql("id")}
)"""
VISIBLE = visible_sql("a.id")

INSERT_APPLICATION = f"""
WITH a AS (
    INSERT INTO applications (id, name, comments)
    VALUES (%(id)s, %(name)s, %(comments)s)
    RETURNING *
)
SELECT {APPLICATION_JSON} FROM a
"""

UPDATE_APPLICATION = f"""
WITH a AS (
    UPDATE applications a
    SET name = coalesce(%(name)s, a.name),
        comments = CASE WHEN %(set_comments)s THEN %(comments)s ELSE a.comments END
    WHERE a.id = %(id)s AND {if_match_sql("application_etag(a.id, a.revision)")} AND {VISIBLE}
      -- Names are unique across every application: a limited token may not rename one, or a
      -- 409 would tell it which names exist outside its limit.
      AND (%(applications)s::text[] IS NULL OR %(name)s::text IS NULL OR a.name = %(name)s)
    RETURNING a.*
)
SELECT jsonb_build_object(
    'row', (SELECT {APPLICATION_JSON} FROM a),
    'current', {CURRENT},
    'limited', %(applications)s::text[] IS NOT NULL
)
"""

DELETE_APPLICATION = f"""
WITH a AS (
    DELETE FROM applications a
    WHERE a.id = %(id)s AND {VISIBLE}
      AND {if_match_sql("application_etag(a.id, a.revision)")}
      AND NOT EXISTS (SELECT 1 FROM configurations c WHERE c.application_id = %(id)s)
    RETURNING a.id, a.name, currval('revisions') AS revision  -- the trigger drew it for this delete
)
SELECT jsonb_build_object(
    'row', (SELECT to_jsonb(a) FROM a),
    'current', {CURRENT},
    'configurations', (SELECT count(*) FROM configurations WHERE application_id = %(id)s)
)
"""


def committed(row: dict, action: str) -> Committed:
    """An application's change as its statement returned the row."""
    removed = action == "deleted"
    return Committed(
        row["revision"], "application", action, row["id"], row["id"], row["name"], None if removed else row
    )


@handles(CreateApplication)
def create_application(cmd: CreateApplication) -> Statement:
    params = {"id": cmd.id, "name": cmd.name, "comments": cmd.comments}
    return Statement(INSERT_APPLICATION, params, lambda row: committed(row, "created"), on_error=_name_taken(cmd.name))


@handles(UpdateApplication)
def update_application(cmd: UpdateApplication) -> Statement:
    return patch_application(PatchApplication(cmd.id, cmd.name, cmd.comments, True, cmd.if_match))


@handles(PatchApplication)
def patch_application(cmd: PatchApplication) -> Statement:
    params = {
        "id": cmd.id,
        "name": cmd.name,
        "comments": cmd.comments,
        "set_comments": cmd.set_comments,
        "if_match": if_match_param(cmd.if_match),
    }

    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            return committed(value["row"], "updated")
        _check_current(cmd.id, cmd.if_match, value["current"])
        if value["limited"] and cmd.name is not None and value["current"]["name"] != cmd.name:
            raise Forbidden("a token limited to some applications may not rename one")
        raise NotFound(f"application {cmd.id} does not exist")  # deleted meanwhile

    return Statement(UPDATE_APPLICATION, params, outcome, on_error=_name_taken(cmd.name))


@handles(DeleteApplication)
def delete_application(cmd: DeleteApplication) -> Statement:
    params = {"id": cmd.id, "if_match": if_match_param(cmd.if_match)}

    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            return committed(value["row"], "deleted")
        _check_current(cmd.id, cmd.if_match, value["current"])
        raise _still_has_configurations(cmd.id, value["configurations"])

    def on_error(error: SqlError) -> Exception | None:
        # A configuration was created while the delete waited for the row.
        if error.code == "23503":
            return _still_has_configurations(cmd.id, None)
        return None

    return Statement(DELETE_APPLICATION, params, outcome, on_error=on_error)


def _check_current(id: str, if_match: IfMatch, current: dict | None) -> None:
    if current is None:
        raise NotFound(f"application {id} does not exist")
    check(if_match, current["etag"], f"application {id}")


def _still_has_configurations(id: str, count: int | None) -> Conflict:
    how_many = "configurations" if count is None else f"{count} configuration{'' if count == 1 else 's'}"
    return Conflict(f"application {id} still has {how_many}; delete them first")


def _name_taken(name: str | None):
    def on_error(error: SqlError) -> Exception | None:
        if error.code == "23505" and error.constraint == "applications_name_key":
            return Conflict(f"an application named {name!r} already exists")
        return None

    return on_error
