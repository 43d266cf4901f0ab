"""Restoring a version of a configuration: its name, comments and document (with the secret
pointers it was sealed for) become current again, as a new version; a deleted configuration
comes back under its id. Guarded like any change of a document (commands/validation.py): the
version's document is validated against the schema current when it commits.
"""

from dataclasses import dataclass

from commands.bus import handles
from commands.configurations import CURRENT, IF_MATCH, RETURNED, SCHEMA_OF, VISIBLE, committed
from commands.errors import Conflict, NotFound
from commands.preconditions import IfMatch, check, if_match_param
from commands.validation import NO_SCHEMA, Expect, Guard, Recheck, guards
from infra.events import Committed
from infra.writes import SqlError, Statement


@dataclass(frozen=True)
class RestoreConfiguration:
    """Makes an earlier version's name, comments and config current again, as a new version;
    brings a deleted configuration back under its id."""

    id: str
    version: int
    if_match: IfMatch = None


# A version's document does not depend on the current one: only the schema is checked.
RESTORE_GUARD = (
    "(%(expect_schema)s::bigint IS NULL OR configuration_schema_revision(%(id)s) = %(expect_schema)s::bigint)"
)

# Updates the configuration when it exists, else inserts it again under its id; the
# database records either as 'restored' (Statement.action).
RESTORE_CONFIGURATION = f"""
WITH source AS (
    SELECT configuration_id AS id, application_id, name, comments, document, secrets
    FROM configuration_versions c
    WHERE configuration_id = %(id)s AND version = %(version)s AND {VISIBLE}
), updated AS (
    UPDATE configurations c
    SET name = s.name, comments = s.comments, document = s.document, secrets = s.secrets
    FROM source s
    WHERE c.id = s.id AND {IF_MATCH} AND {RESTORE_GUARD}
    RETURNING {RETURNED}
), inserted AS (
    INSERT INTO configurations AS c (id, application_id, name, comments, document, secrets)
    SELECT id, application_id, name, comments, document, secrets FROM source
    WHERE %(if_match)s::text[] IS NULL AND NOT EXISTS (SELECT 1 FROM configurations WHERE id = %(id)s)
      AND {RESTORE_GUARD}
    RETURNING {RETURNED}
), done AS (
    SELECT * FROM updated UNION ALL SELECT * FROM inserted
)
SELECT jsonb_build_object(
    'row', (SELECT to_jsonb(d) FROM done d),
    'current', {CURRENT},
    'source', EXISTS (SELECT 1 FROM source),
    'known', EXISTS (SELECT 1 FROM configuration_versions c WHERE configuration_id = %(id)s AND {VISIBLE}),
    'guard', CASE WHEN %(expect_schema)s::bigint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM done) THEN (
        SELECT jsonb_build_object(
            'revision', (SELECT revision FROM configurations WHERE id = %(id)s),
            'document', s.document::text,
            'secrets', to_jsonb(s.secrets),
            'schema', {SCHEMA_OF}
        )
        FROM source s
    ) END
)
"""


@guards(RestoreConfiguration)
def restore_guard(cmd: RestoreConfiguration) -> Guard:
    return Guard(cmd.id, "document", location="config")


@handles(RestoreConfiguration)
def restore_configuration(cmd: RestoreConfiguration, expect: Expect = NO_SCHEMA) -> Statement:
    params = {
        "id": cmd.id,
        "version": cmd.version,
        "if_match": if_match_param(cmd.if_match),
        "expect_schema": expect.schema,
    }

    def outcome(value: dict) -> Committed:
        if value["row"] is not None:
            return committed(value["row"], "restored")
        if not value["known"]:
            raise NotFound(f"configuration {cmd.id} does not exist")
        if not value["source"]:
            raise NotFound(f"configuration {cmd.id} has no version {cmd.version}")
        current = value["current"]
        check(cmd.if_match, None if current is None else current["etag"], f"configuration {cmd.id}")
        if value["guard"] is not None:
            raise Recheck(value["guard"])
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
