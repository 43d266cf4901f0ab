"""Create, change, delete and restore configurations (named JSON documents of an application).

Each handler returns its command as one statement (infra/writes.py) whose outcome is the
committed event; the database records the change, with its new version, in the history and
the change feed (migrations/0003).
"""

import json
from dataclasses import dataclass, field
from typing import Any

from commands.bus import handles
from commands.errors import Conflict, InvalidCommand, NotFound
from commands.preconditions import IfMatch, check, if_match_param, if_match_sql
from infra.access import visible_sql
from infra.events import Committed
from infra.ids import new_id
from infra.writes import SqlError, Statement


@dataclass(frozen=True)
class CreateConfiguration:
    application_id: str
    name: str
    config: dict[str, Any]
    comments: str | None = None
    release: str = "immediate"  # or "staged": changes reach clients through rollouts
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class UpdateConfiguration:
    """Replaces name, comments and config. `application_id`, when given, must be the current one."""

    id: str
    name: str
    config: dict[str, Any]
    comments: str | None = None
    application_id: str | None = None
    if_match: IfMatch = None
    release: str | None = None  # None: kept (a forgotten field never switches staging off)


@dataclass(frozen=True)
class PatchConfiguration:
    """Changes the fields given and keeps the others; `config` is merged (RFC 7396)."""

    id: str
    name: str | None = None  # None: unchanged (a name cannot be removed)
    comments: str | None = None
    set_comments: bool = False  # whether `comments` (perhaps None) replaces the current ones
    config_patch: dict[str, Any] | None = None  # None: the document is unchanged
    application_id: str | None = None
    if_match: IfMatch = None
    release: str | None = None  # None: unchanged


@dataclass(frozen=True)
class DeleteConfiguration:
    """Deletes a configuration; its history stays, and a restore brings it back."""

    id: str
    if_match: IfMatch = None


@dataclass(frozen=True)
class RestoreConfiguration:
    """Makes an earlier version's name, comments and config current again, as a new version;
    brings a deleted configuration back under its id."""

    id: str
    version: int
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

INSERT_CONFIGURATION = f"""
INSERT INTO configurations (id, application_id, name, comments, config, release)
SELECT %(id)s, %(application_id)s, %(name)s, %(comments)s, %(config)s::jsonb, %(release)s
WHERE {visible_sql("%(application_id)s")}
RETURNING to_jsonb(configurations.*)
"""

# The application_id condition makes "move to another application" update nothing.
UPDATE_CONFIGURATION = f"""
WITH c AS (
    UPDATE configurations c
    SET name = coalesce(%(name)s, c.name),
        comments = CASE WHEN %(set_comments)s THEN %(comments)s ELSE c.comments END,
        config = CASE
            WHEN %(config)s::jsonb IS NOT NULL THEN %(config)s::jsonb
            WHEN %(config_patch)s::jsonb IS NOT NULL THEN jsonb_merge_patch(c.config, %(config_patch)s::jsonb)
            ELSE c.config
        END,
        release = coalesce(%(release)s, c.release)
    WHERE c.id = %(id)s
      AND (%(application_id)s::varchar IS NULL OR c.application_id = %(application_id)s)
      AND {IF_MATCH} AND {VISIBLE}
    RETURNING c.*
)
SELECT jsonb_build_object('row', (SELECT to_jsonb(c) FROM c), 'current', {CURRENT})
"""

DELETE_CONFIGURATION = f"""
WITH c AS (
    DELETE FROM configurations c
    WHERE c.id = %(id)s AND {IF_MATCH} AND {VISIBLE} AND NOT {ROLLING}
    RETURNING c.id, c.application_id, c.name, currval('revisions') AS revision  -- drawn by the trigger
)
SELECT jsonb_build_object('row', (SELECT to_jsonb(c) FROM c), 'current', {CURRENT}, 'rolling', {ROLLING})
"""

# Updates the configuration when it exists, else inserts it again under its id; the
# database records either as 'restored' (Statement.action).
RESTORE_CONFIGURATION = f"""
WITH source AS (
    SELECT configuration_id AS id, application_id, name, comments, config
    FROM configuration_versions c
    WHERE configuration_id = %(id)s AND version = %(version)s AND {VISIBLE}
), updated AS (
    UPDATE configurations c
    SET name = s.name, comments = s.comments, config = s.config
    FROM source s
    WHERE c.id = s.id AND {IF_MATCH}
    RETURNING c.*
), inserted AS (
    INSERT INTO configurations (id, application_id, name, comments, config)
    SELECT id, application_id, name, comments, config FROM source
    WHERE %(if_match)s::text[] IS NULL AND NOT EXISTS (SELECT 1 FROM configurations WHERE id = %(id)s)
    RETURNING *
)
SELECT jsonb_build_object(
    'row', coalesce((SELECT to_jsonb(u) FROM updated u), (SELECT to_jsonb(i) FROM inserted i)),
    'current', {CURRENT},
    'source', EXISTS (SELECT 1 FROM source),
    'known', EXISTS (SELECT 1 FROM configuration_versions c WHERE configuration_id = %(id)s AND {VISIBLE})
)
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


@handles(CreateConfiguration)
def create_configuration(cmd: CreateConfiguration) -> Statement:
    params = {
        "id": cmd.id,
        "application_id": cmd.application_id,
        "name": cmd.name,
        "comments": cmd.comments,
        "config": _json(cmd.config),
        "release": cmd.release,
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


@handles(UpdateConfiguration)
def update_configuration(cmd: UpdateConfiguration) -> Statement:
    return _change(cmd, config=_json(cmd.config), set_comments=True)


@handles(PatchConfiguration)
def patch_configuration(cmd: PatchConfiguration) -> Statement:
    return _change(cmd, config_patch=_json(cmd.config_patch), set_comments=cmd.set_comments)


def _change(
    cmd: UpdateConfiguration | PatchConfiguration,
    *,
    set_comments: bool,
    config: str | None = None,
    config_patch: str | None = None,
) -> Statement:
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
    }

    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            return committed(value["row"], "updated")
        current = _existing(cmd.id, value["current"])
        if cmd.application_id is not None and current["application_id"] != cmd.application_id:
            raise InvalidCommand("application_id", "a configuration cannot move to another application")
        check(cmd.if_match, current["etag"], f"configuration {cmd.id}")
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


@handles(RestoreConfiguration)
def restore_configuration(cmd: RestoreConfiguration) -> Statement:
    params = {"id": cmd.id, "version": cmd.version, "if_match": if_match_param(cmd.if_match)}

    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            return committed(value["row"], "restored")
        if not value["known"]:
            raise NotFound(f"configuration {cmd.id} does not exist")
        if not value["source"]:
            raise NotFound(f"configuration {cmd.id} has no version {cmd.version}")
        current = value["current"]
        check(cmd.if_match, None if current is None else current["etag"], f"configuration {cmd.id}")
        raise Conflict(f"configuration {cmd.id} was restored by another request meanwhile; read it again")

    def on_error(error: SqlError) -> Exception | None:
        if error.code == "23503":
            return Conflict(f"the application of configuration {cmd.id} no longer exists")
        if error.code == "23505" and error.constraint == "configurations_pkey":
            return Conflict(f"configuration {cmd.id} was restored by another request meanwhile; read it again")
        if error.code == "23505":
            return Conflict(
                f"version {cmd.version}'s name is now taken by another configuration of the application; "
                "rename that one first"
            )
        return None

    return Statement(RESTORE_CONFIGURATION, params, outcome, on_error=on_error, action="restored")


def _no_application(id: str) -> InvalidCommand:
    return InvalidCommand("application_id", f"application {id} does not exist")


def _existing(id: str, current: dict | None) -> dict:
    if current is None:
        raise NotFound(f"configuration {id} does not exist")
    return current


def _json(document: dict[str, Any] | None) -> str | None:
    return None if document is None else json.dumps(document, ensure_ascii=False, allow_nan=False)


def _name_taken(name: str | None, error: SqlError) -> Exception | None:
    if error.code == "23505" and error.constraint == "configurations_application_id_name_key":
        return Conflict(f"this application already has a configuration named {name!r}")
    return None
