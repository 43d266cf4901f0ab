"""Create, change, delete and restore configurations (named JSON documents of an application).

Each handler returns its command as one statement (infra/writes.py) whose outcome is the
committed event; the database records the change, with its new version, in the history and
the change feed (migrations/0003).

Documents are written as written (infra/documents.py): a command carries the document's
compact text, which is stored in `document` (`config`, jsonb, is derived from it:
migrations/0008); a merge patch is applied to that text in SQL, keeping the order of the
keys (json_merge_patch); the row a statement returns holds the document as its text.

A change of a document (update, patch, restore) is guarded (commands/validation.py): its
statement writes only if the configuration's schema is the one the document was validated
against (`GUARD`), and otherwise reports the state to validate (`GUARD_STATE`: Recheck).

Secret values (commands/sealing.py): a statement writes the document only as the sealing step
made it (`Written`: its secret values sealed), and only if the configuration still has the
secret pointers (and, for a document made from the current one, the revision) it was made for.
Restoring a version is in commands/restores.py.
"""

from dataclasses import dataclass, field
from typing import Any

from commands.bus import handles
from commands.errors import Conflict, InvalidCommand, NotFound
from commands.preconditions import IfMatch, check, if_match_param, if_match_sql
from commands.sealing import MarkSecrets, Writes, Written, seals
from commands.validation import NO_SCHEMA, PROBE, Expect, Guard, Recheck, guards
from infra.access import visible_sql
from infra.documents import Document, as_document
from infra.events import Committed
from infra.ids import new_id
from infra.writes import SqlError, Statement


@dataclass(frozen=True)
class CreateConfiguration:
    application_id: str
    name: str
    config: Document | dict[str, Any]  # a plain dict is written as json.dumps writes it
    comments: str | None = None
    release: str = "immediate"  # or "staged": changes reach clients through rollouts
    secrets: tuple[str, ...] = ()  # JSON Pointers of the secret values
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class UpdateConfiguration:
    """Replaces name, comments and config. `application_id`, when given, must be the current one."""

    id: str
    name: str
    config: Document | dict[str, Any]
    comments: str | None = None
    application_id: str | None = None
    if_match: IfMatch = None
    release: str | None = None  # None: kept (a forgotten field never switches staging off)
    secrets: tuple[str, ...] | None = None  # None: kept


@dataclass(frozen=True)
class PatchConfiguration:
    """Changes the fields given and keeps the others; `config` is merged (RFC 7396)."""

    id: str
    name: str | None = None  # None: unchanged (a name cannot be removed)
    comments: str | None = None
    set_comments: bool = False  # whether `comments` (perhaps None) replaces the current ones
    config_patch: Document | dict[str, Any] | None = None  # None: the document is unchanged
    application_id: str | None = None
    if_match: IfMatch = None
    release: str | None = None  # None: unchanged
    secrets: tuple[str, ...] | None = None  # None: unchanged; else the whole list


@dataclass(frozen=True)
class DeleteConfiguration:
    """Deletes a configuration; its history stays, and a restore brings it back."""

    id: str
    if_match: IfMatch = None


# The configuration as it is now, for the outcome to explain why nothing changed; outside a
# limited token's applications, as if it did not exist.
CURRENT = f"""(
    SELECT jsonb_build_object('etag', revision::text, 'application_id', application_id)
    FROM configurations WHERE id = %(id)s AND {visible_sql("application_id")}
)"""
IF_MATCH = if_match_sql("c.revision::text")
# Whether the configuration has a rollout under way (running or paused).
ROLLING = "EXISTS (SELECT 1 FROM rollouts r WHERE r.configuration_id = %(id)s AND r.state IN ('running', 'paused'))"
VISIBLE = visible_sql("c.application_id")
# The row as the write left it, its document as the text stored.
RETURNED = (
    "c.id, c.application_id, c.name, c.comments, c.document::text AS config, "
    "c.version, c.created_at, c.updated_at, c.release, c.live_version, c.revision, c.secrets"
)

INSERT_CONFIGURATION = f"""
WITH c AS (
    INSERT INTO configurations AS c (id, application_id, name, comments, document, release, secrets)
    SELECT %(id)s, %(application_id)s, %(name)s, %(comments)s, %(config)s::json, %(release)s, %(secrets)s::text[]
    WHERE {visible_sql("%(application_id)s")}
    RETURNING {RETURNED}
)
SELECT to_jsonb(c) FROM c
"""

# What the document was validated against is still current: the schema (by its revision, 0
# for none) and, for a document made from the current one, the configuration's revision; and
# the secret pointers it was sealed for.
GUARD = """(
    (%(expect_schema)s::bigint IS NULL OR configuration_schema_revision(c.id) = %(expect_schema)s::bigint)
    AND (%(expect_revision)s::bigint IS NULL OR c.revision = %(expect_revision)s::bigint)
    AND (%(expect_secrets)s::text[] IS NULL OR c.secrets = %(expect_secrets)s::text[])
)"""
# The configuration's current schema, for validating against it.
SCHEMA_OF = """(
    SELECT jsonb_build_object('revision', s.revision, 'schema', s.schema::text, 'draft', s.draft)
    FROM configuration_schemas s WHERE s.configuration_id = %(id)s
)"""

# The application_id condition makes "move to another application" update nothing. When the
# guard held back the change, the guard's state is what to validate and seal again: the
# document the change would leave (a patch's result: a PUT's is known), the one stored (with
# its secret values sealed), the configuration's revision, secret pointers and schema.
UPDATE_CONFIGURATION = f"""
WITH c AS (
    UPDATE configurations c
    SET name = coalesce(%(name)s, c.name),
        comments = CASE WHEN %(set_comments)s THEN %(comments)s ELSE c.comments END,
        document = CASE
            WHEN %(config)s::json IS NOT NULL THEN %(config)s::json
            WHEN %(config_patch)s::json IS NOT NULL THEN json_merge_patch(c.document, %(config_patch)s::json)
            ELSE c.document
        END,
        release = coalesce(%(release)s, c.release),
        secrets = coalesce(%(secrets)s::text[], c.secrets)
    WHERE c.id = %(id)s
      AND (%(application_id)s::varchar IS NULL OR c.application_id = %(application_id)s)
      AND {IF_MATCH} AND {VISIBLE} AND {GUARD}
    RETURNING {RETURNED}
)
SELECT jsonb_build_object(
    'row', (SELECT to_jsonb(c) FROM c),
    'current', {CURRENT},
    'guard', CASE WHEN NOT EXISTS (SELECT 1 FROM c) THEN (
        SELECT jsonb_build_object(
            'revision', x.revision,
            'document', CASE WHEN %(config_patch)s::json IS NOT NULL
                             THEN json_merge_patch(x.document, %(config_patch)s::json)::text END,
            'stored', x.document::text,
            'secrets', to_jsonb(x.secrets),
            'schema', {SCHEMA_OF}
        )
        FROM configurations x WHERE x.id = %(id)s
    ) END
)
"""

DELETE_CONFIGURATION = f"""
WITH c AS (
    DELETE FROM configurations c
    WHERE c.id = %(id)s AND {IF_MATCH} AND {VISIBLE} AND NOT {ROLLING}
    RETURNING c.id, c.application_id, c.name, currval('revisions') AS revision  -- drawn by the trigger
)
SELECT jsonb_build_object('row', (SELECT to_jsonb(c) FROM c), 'current', {CURRENT}, 'rolling', {ROLLING})
"""


def committed(row: dict, action: str) -> Committed:
    """A configuration's change as its statement returned the row."""
    removed = action == "deleted"
    return Committed(
        row["revision"],
        "configuration",
        action,
        row["id"],
        row["application_id"],
        row["name"],
        None if removed else row,
    )


@seals(CreateConfiguration)
def create_writes(cmd: CreateConfiguration) -> Writes:
    return Writes(cmd.id, "create", as_document(cmd.config), cmd.secrets)


@seals(UpdateConfiguration)
def update_writes(cmd: UpdateConfiguration) -> Writes:
    return Writes(cmd.id, "replace", as_document(cmd.config), cmd.secrets)


@seals(PatchConfiguration)
def patch_writes(cmd: PatchConfiguration) -> Writes:
    patch = None if cmd.config_patch is None else as_document(cmd.config_patch)
    return Writes(cmd.id, "patch", patch, cmd.secrets)


@seals(MarkSecrets)
def mark_writes(cmd: MarkSecrets) -> Writes:
    return Writes(cmd.configuration_id, "patch", mark=cmd.pointers)


@handles(CreateConfiguration)
def create_configuration(cmd: CreateConfiguration, written: Written | None = None) -> Statement:
    if written is None:
        if cmd.secrets:  # never in clear: the sealing step (commands/sealing.py) makes it
            raise TypeError("a configuration with secrets is written as the sealing step made it")
        written = Written(config=as_document(cmd.config).text, secrets=())
    params = {
        "id": cmd.id,
        "application_id": cmd.application_id,
        "name": cmd.name,
        "comments": cmd.comments,
        "config": written.config,
        "release": cmd.release,
        "secrets": list(written.secrets or ()),
    }

    def on_error(error: SqlError) -> Exception | None:
        if error.code == "23503":
            return _no_application(cmd.application_id)
        return _name_taken(cmd.name, error)

    def outcome(value: dict | None) -> Committed:
        if value is None:  # outside the token's applications: as if there were no such one
            raise _no_application(cmd.application_id)
        return committed(value, "created")

    return Statement(INSERT_CONFIGURATION, params, outcome, on_error=on_error)


@guards(UpdateConfiguration)
def update_guard(cmd: UpdateConfiguration) -> Guard:
    return Guard(cmd.id, "document", known=as_document(cmd.config))


@guards(PatchConfiguration)
def patch_guard(cmd: PatchConfiguration) -> Guard | None:
    return None if cmd.config_patch is None else Guard(cmd.id, "document", follows=True)


@guards(MarkSecrets)
def mark_guard(cmd: MarkSecrets) -> Guard:
    return Guard(cmd.configuration_id, "document", follows=True)


@handles(UpdateConfiguration)
def update_configuration(
    cmd: UpdateConfiguration, expect: Expect = NO_SCHEMA, written: Written | None = None
) -> Statement:
    if written is None:  # as it was sent: for a configuration without secrets only (checked)
        written = Written(config=as_document(cmd.config).text, secrets=cmd.secrets, sealed_for=())
    return _change(cmd, expect, written, set_comments=True)


@handles(PatchConfiguration)
def patch_configuration(
    cmd: PatchConfiguration, expect: Expect = NO_SCHEMA, written: Written | None = None
) -> Statement:
    if written is None and (cmd.config_patch is not None or cmd.secrets is not None):
        patch = None if cmd.config_patch is None else as_document(cmd.config_patch).text
        written = Written(config_patch=patch, secrets=cmd.secrets, sealed_for=())
    return _change(cmd, expect, written or Written(), set_comments=cmd.set_comments)


@handles(MarkSecrets)
def mark_secrets(cmd: MarkSecrets, expect: Expect = NO_SCHEMA, written: Written | None = None) -> Statement:
    return _change(PatchConfiguration(cmd.configuration_id), expect, written or Written(probe=True), set_comments=False)


def _change(
    cmd: UpdateConfiguration | PatchConfiguration, expect: Expect, written: Written, *, set_comments: bool
) -> Statement:
    config, config_patch = (None, None) if written.probe else (written.config, written.config_patch)
    if written.probe:
        expect = PROBE  # nothing is written: the state comes back
    elif config is None and config_patch is None and written.secrets is None:
        expect = Expect()  # the document stays as it is: nothing to validate
    params = {
        "id": cmd.id,
        "name": cmd.name,
        "comments": cmd.comments,
        "set_comments": set_comments,
        "config": config,
        "config_patch": config_patch,
        "application_id": cmd.application_id,
        "if_match": if_match_param(cmd.if_match),
        "release": cmd.release,
        "secrets": None if written.secrets is None else list(written.secrets),
        "expect_schema": expect.schema,
        "expect_revision": written.revision if written.revision is not None else expect.revision,
        "expect_secrets": None if written.sealed_for is None else list(written.sealed_for),
    }

    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            return committed(value["row"], "updated")
        current = _existing(cmd.id, value["current"])
        if cmd.application_id is not None and current["application_id"] != cmd.application_id:
            raise InvalidCommand("application_id", "a configuration cannot move to another application")
        check(cmd.if_match, current["etag"], f"configuration {cmd.id}")
        if value["guard"] is not None:
            raise Recheck(value["guard"])
        raise NotFound(f"configuration {cmd.id} does not exist")  # deleted meanwhile

    return Statement(UPDATE_CONFIGURATION, params, outcome, on_error=lambda error: _name_taken(cmd.name, error))


@handles(DeleteConfiguration)
def delete_configuration(cmd: DeleteConfiguration) -> Statement:
    params = {"id": cmd.id, "if_match": if_match_param(cmd.if_match)}

    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            return committed(value["row"], "deleted")
        current = _existing(cmd.id, value["current"])
        check(cmd.if_match, current["etag"], f"configuration {cmd.id}")
        if value["rolling"]:
            raise Conflict(f"configuration {cmd.id} has a rollout under way: roll it back or promote it first")
        raise NotFound(f"configuration {cmd.id} does not exist")  # deleted meanwhile

    return Statement(DELETE_CONFIGURATION, params, outcome)


def _no_application(id: str) -> InvalidCommand:
    return InvalidCommand("application_id", f"application {id} does not exist")


def _existing(id: str, current: dict | None) -> dict:
    if current is None:
        raise NotFound(f"configuration {id} does not exist")
    return current


def _name_taken(name: str | None, error: SqlError) -> Exception | None:
    if error.code == "23505" and error.constraint == "configurations_application_id_name_key":
        return Conflict(f"this application already has a configuration named {name!r}")
    return None
