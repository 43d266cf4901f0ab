"""Set, remove and restore a configuration's JSON Schema.

A schema is a resource of its configuration (migrations/0009): its ETag is its revision, a
change of it is a revision with its own version, history and feed entry (kind 'schema').
Setting one (or restoring one of its versions) is guarded like a document write
(commands/validation.py): it is refused when it is not a valid schema, or when the document
current at the commit does not satisfy it; its statement writes only over the configuration
revision whose document was validated. Removing one needs no validation.

Restoring a version of a configuration restores its document only, validated against the
schema current then; a schema has its own history and is restored on its own.
"""

from dataclasses import dataclass

from commands.bus import handles
from commands.errors import Conflict, NoSchema, NotFound
from commands.preconditions import IfMatch, check, if_match_param
from commands.sealing import Writes, seals
from commands.validation import PROBE_DOCUMENT, Expect, Guard, Recheck, draft_of, guards
from infra.access import visible_sql
from infra.documents import Document
from infra.events import Committed
from infra.writes import SqlError, Statement


@dataclass(frozen=True)
class SetSchema:
    """Creates or replaces the configuration's schema."""

    configuration_id: str
    schema: Document
    if_match: IfMatch = None  # the schema's ETag; `*`: only if it has one


@dataclass(frozen=True)
class DeleteSchema:
    configuration_id: str
    if_match: IfMatch = None


@dataclass(frozen=True)
class RestoreSchema:
    """Makes an earlier version of the configuration's schema current again, as a new version
    (also after the schema was removed)."""

    configuration_id: str
    version: int
    if_match: IfMatch = None


# The configuration (as if missing outside a limited token's applications) and its schema.
TARGET = f"""
c AS (
    SELECT c.id, c.application_id, c.name, c.revision, c.document, c.secrets
    FROM configurations c WHERE c.id = %(id)s AND {visible_sql("c.application_id")}
), s AS (
    SELECT s.* FROM configuration_schemas s JOIN c ON s.configuration_id = c.id
)"""
# If-Match names the schema's current ETag (its revision); `*`: it has one.
IF_MATCH = """(
    %(if_match)s::text[] IS NULL
    OR EXISTS (SELECT 1 FROM s WHERE '*' = ANY(%(if_match)s::text[]) OR s.revision::text = ANY(%(if_match)s::text[]))
)"""
RETURNED = (
    "x.configuration_id, x.schema::text AS schema, x.draft, x.version, x.revision, x.created_at, x.updated_at, "
    "(SELECT application_id FROM c) AS application_id, (SELECT name FROM c) AS name"
)


def _write(source: str) -> str:
    """The statement that sets the schema `source` gives (a CTE with schema and draft), over
    the configuration revision validated against (`expect_revision`)."""
    return f"""
WITH {TARGET}, source AS ({source}), ready AS (
    SELECT c.id, source.schema, source.draft FROM c, source
    WHERE {IF_MATCH} AND c.revision = %(expect_revision)s::bigint
), updated AS (
    UPDATE configuration_schemas x SET schema = r.schema, draft = r.draft
    FROM ready r WHERE x.configuration_id = r.id
    RETURNING {RETURNED}
), inserted AS (
    INSERT INTO configuration_schemas AS x (configuration_id, schema, draft)
    SELECT r.id, r.schema, r.draft FROM ready r WHERE NOT EXISTS (SELECT 1 FROM s)
    RETURNING {RETURNED}
), done AS (
    SELECT * FROM updated UNION ALL SELECT * FROM inserted
)
SELECT jsonb_build_object(
    'row', (SELECT to_jsonb(d) FROM done d),
    'exists', EXISTS (SELECT 1 FROM c),
    'source', EXISTS (SELECT 1 FROM source),
    'etag', (SELECT revision::text FROM s),
    'guard', CASE WHEN NOT EXISTS (SELECT 1 FROM done) THEN (
        SELECT jsonb_build_object(
            'revision', c.revision,
            'document', c.document::text,
            'secrets', to_jsonb(c.secrets),
            'schema', (SELECT jsonb_build_object('schema', source.schema::text, 'draft', source.draft) FROM source)
        ) FROM c
    ) END
)
"""


SET_SCHEMA = _write("SELECT %(schema)s::json AS schema, %(draft)s::text AS draft")
RESTORE_SCHEMA = _write("""
    SELECT v.schema, v.draft FROM configuration_schema_versions v JOIN c ON v.configuration_id = c.id
    WHERE v.version = %(version)s
""")

DELETE_SCHEMA = f"""
WITH {TARGET}, d AS (
    DELETE FROM configuration_schemas x USING c
    WHERE x.configuration_id = c.id AND {IF_MATCH}
    RETURNING x.configuration_id, c.application_id, c.name, currval('revisions') AS revision  -- the trigger's
)
SELECT jsonb_build_object(
    'row', (SELECT to_jsonb(d) FROM d),
    'exists', EXISTS (SELECT 1 FROM c),
    'etag', (SELECT revision::text FROM s)
)
"""


def committed(row: dict, action: str) -> Committed:
    """A schema's change as its statement returned the row (the configuration's id)."""
    removed = action == "deleted"
    return Committed(
        row["revision"],
        "schema",
        action,
        row["configuration_id"],
        row["application_id"],
        row["name"],
        None if removed else row,
    )


@seals(SetSchema)
def set_writes(cmd: SetSchema) -> Writes:
    return Writes(cmd.configuration_id, "schema", cmd.schema)


@seals(RestoreSchema)
def restore_writes(cmd: RestoreSchema) -> Writes:
    return Writes(cmd.configuration_id, "schema")


@guards(SetSchema)
def set_guard(cmd: SetSchema) -> Guard:
    return Guard(cmd.configuration_id, "schema", known=cmd.schema)


@guards(RestoreSchema)
def restore_guard(cmd: RestoreSchema) -> Guard:
    return Guard(cmd.configuration_id, "schema")


@handles(SetSchema)
def set_schema(cmd: SetSchema, expect: Expect = PROBE_DOCUMENT) -> Statement:
    params = {
        "id": cmd.configuration_id,
        "schema": cmd.schema.text,
        "draft": draft_of(cmd.schema.value),
        "if_match": if_match_param(cmd.if_match),
        "expect_revision": expect.revision,
    }
    return Statement(SET_SCHEMA, params, _outcome(cmd, "updated"), on_error=_on_error(cmd))


@handles(RestoreSchema)
def restore_schema(cmd: RestoreSchema, expect: Expect = PROBE_DOCUMENT) -> Statement:
    params = {
        "id": cmd.configuration_id,
        "version": cmd.version,
        "if_match": if_match_param(cmd.if_match),
        "expect_revision": expect.revision,
    }
    return Statement(RESTORE_SCHEMA, params, _outcome(cmd, "restored"), on_error=_on_error(cmd), action="restored")


@handles(DeleteSchema)
def delete_schema(cmd: DeleteSchema) -> Statement:
    params = {"id": cmd.configuration_id, "if_match": if_match_param(cmd.if_match)}

    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            return committed(value["row"], "deleted")
        _existing(cmd.configuration_id, value)
        check(cmd.if_match, value["etag"], f"the schema of configuration {cmd.configuration_id}")
        raise NoSchema(f"configuration {cmd.configuration_id} has no schema")

    return Statement(DELETE_SCHEMA, params, outcome)


def _outcome(cmd: SetSchema | RestoreSchema, action: str):
    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            # As the database records it: created when there was none, else updated (or restored).
            if action != "restored" and value["etag"] is None:
                return committed(value["row"], "created")
            return committed(value["row"], action)
        _existing(cmd.configuration_id, value)
        if not value["source"]:
            raise NotFound(f"the schema of configuration {cmd.configuration_id} has no version {cmd.version}")
        check(cmd.if_match, value["etag"], f"the schema of configuration {cmd.configuration_id}")
        raise Recheck(value["guard"])

    return outcome


def _on_error(cmd: SetSchema | RestoreSchema):
    def on_error(error: SqlError) -> Exception | None:
        if error.code == "23505":  # set by another request at the same moment
            return Conflict(f"the schema of configuration {cmd.configuration_id} was set meanwhile; read it again")
        if error.code == "23503":  # the configuration was deleted at the same moment
            return NotFound(f"configuration {cmd.configuration_id} does not exist")
        return None

    return on_error


def _existing(id: str, value: dict) -> None:
    if not value["exists"]:
        raise NotFound(f"configuration {id} does not exist")
