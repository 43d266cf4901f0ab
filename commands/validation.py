"""Validation: the one step every change of a document, or of its schema, passes through.

A configuration may have a JSON Schema (commands/schemas.py). Every change of its document
(PUT, PATCH, restore of a version) must satisfy the schema current when it commits, and a
schema being set (or restored) must be satisfied by the document current when it commits.
Validation runs here, in Python (jsonschema-rs), before the command's one statement; the
statement then checks, atomically with its write, that what was validated is still what is
current, and otherwise writes nothing and reports what is current instead:

- a document write carries `Expect.schema`, the revision of the schema it was validated
  against (0: none); the statement writes only if `configuration_schema_revision(id)` is
  that one (migrations/0009). When the document results from the current one (a merge patch),
  `Expect.revision` pins the configuration's revision it was computed from as well;
- a schema write carries `Expect.revision`: the configuration's revision whose document was
  validated against the new schema; the statement writes only if it is still current.

When the check fails, the statement's outcome raises `Recheck` with the current state (the
schema, the document as the write would leave it, the configuration's revision): the bus
validates that (raising SchemaViolations, a 422, when it fails) and runs the statement again
with the new expectation, a few times at most. What was validated is therefore exactly what
the write commits next to: a schema set concurrently with a write can never let an invalid
document in, whatever their order. Besides, every write transaction of the service takes the
revision lock before its first statement (run_commands, migrations/0003), and each statement
reads with a snapshot taken after it, so the statements of concurrent batches see each
other's commits; the check never looks at a state older than the one it writes over.

What this module knows is only a hint that saves round trips: per configuration, the schema
revision last seen (so that a write of a configuration with no schema, the usual case, goes
out at once expecting none), and the compiled schemas by (configuration, schema revision), a
bounded LRU, so validating a document costs one jsonschema-rs call. A hint gone stale costs a
second round trip, never a wrong answer. When the write's document is not known before the
statement (a patch, a restore) and the configuration has a schema, the first statement is a
probe (`PROBE`: expects what cannot be) whose outcome is the state to validate.

Schemas: draft 2020-12, or 2019-09 / draft-07 when `$schema` names them; formats are asserted
(uri, email, date-time, duration, ipv4, ...); `$ref` within the schema works, a `$ref` to
another document is refused (nothing is fetched).

Secret values (commands/sealing.py) are validated in clear: a document made by the sealing step
is validated as it made it, one stored is opened first. A violation says where it is, never a
secret value: one at (or inside) a secret value, or of a value that holds one and whose
message would quote it, gets a message of its own that quotes nothing.
"""

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import jsonschema_rs

from commands.errors import InvalidCommand, InvalidSchema, SchemaViolations, Violation
from commands.sealing import schema_secrets
from infra.documents import Document, pointer
from infra.events import Committed
from infra.keyring import Keyring, Unsealable
from infra.sealing import ABSENT, holds_secret, is_within, outermost, reveal_document, value_at

# $schema -> the draft's name, as stored and shown
DRAFTS = {
    "https://json-schema.org/draft/2020-12/schema": "2020-12",
    "https://json-schema.org/draft/2019-09/schema": "2019-09",
    "http://json-schema.org/draft-07/schema": "draft-07",
}
DEFAULT_DRAFT = "2020-12"
MAX_VIOLATIONS = 100  # listed; beyond, only counted
MAX_ROUNDS = 5  # statements per command before giving up (changes racing it every time)


@dataclass(frozen=True, slots=True)
class Expect:
    """What a guarded statement writes over: the schema revision its document was validated
    against (0: none; None: not checked) and the configuration revision the validated
    document was made from (None: not checked)."""

    schema: int | None = None
    revision: int | None = None


UNCHECKED = Expect()
NO_SCHEMA = Expect(schema=0)  # a guarded handler's default: writes only where there is no schema
PROBE = Expect(schema=-1)  # no schema has this revision: the statement only reports
PROBE_DOCUMENT = Expect(revision=-1)  # nor a configuration


class Recheck(Exception):
    """A guarded statement found another state than it expected, and wrote nothing."""

    def __init__(self, state: dict) -> None:
        super().__init__("the state validated against is no longer current")
        self.state = state  # {"revision", "document" (text or None), "schema": {...} or None}


@dataclass(frozen=True)
class Guard:
    """What a command's validation needs to know of it."""

    configuration_id: str
    writes: Literal["document", "schema"]
    # The document written (a document write) or the schema set (a schema write), when known
    # before the statement; else the statement's state says it.
    known: Document | None = None
    # A document that results from the current one (a merge patch): pinned to its revision.
    follows: bool = False
    location: str = "body.config"  # where a violation is reported (SchemaViolations)


GUARDS: dict[type, Callable[[Any], Guard | None]] = {}


def guards(command_type: type) -> Callable:
    """Registers the decorated function as the guard of `command_type`: the command's Guard,
    or None when this one changes no document (a rename)."""

    def register(guard: Callable[[Any], Guard | None]) -> Callable[[Any], Guard | None]:
        GUARDS[command_type] = guard
        return guard

    return register


# -- schemas ----------------------------------------------------------------------------------


def draft_of(schema: Any) -> str:
    """The draft a schema is written in; InvalidSchema for one the service does not take."""
    if not isinstance(schema, dict):
        raise InvalidSchema("a schema must be a JSON object")
    said = schema.get("$schema")
    if said is None:
        return DEFAULT_DRAFT
    draft = DRAFTS.get(said.rstrip("#")) if isinstance(said, str) else None
    if draft is None:
        raise InvalidSchema(
            f"$schema {str(said)[:200]!r} is not supported: use draft 2020-12 (the default), 2019-09 or draft-07",
            "/$schema",
        )
    return draft


class Compiled:
    """A schema ready to validate documents."""

    def __init__(self, schema: Document) -> None:
        self.draft = draft_of(schema.value)
        fetched: list[str] = []

        def refuse(uri: str) -> Any:
            fetched.append(uri)
            raise LookupError("the service fetches nothing")

        try:
            self._validator = jsonschema_rs.validator_for(schema.text, validate_formats=True, retriever=refuse)
        except jsonschema_rs.ValidationError as exc:
            if fetched or exc.kind.name == "$ref":
                target = fetched[0] if fetched else "another document"
                raise InvalidSchema(
                    f"$ref to {target[:200]} is refused: the service fetches no schema; "
                    "put what it refers to in $defs and refer to it with #/$defs/...",
                ) from None
            raise InvalidSchema(
                f"not a valid JSON Schema: {exc.message[:300]}", pointer(tuple(exc.instance_path))
            ) from None
        except ValueError as exc:  # e.g. a malformed regular expression the meta-schema lets through
            raise InvalidSchema(f"not a valid JSON Schema: {str(exc)[:300]}") from None

    def violations(self, value: Any, secrets: tuple[str, ...] = ()) -> tuple[list[Violation], int]:
        """Every violation (sorted by path), up to MAX_VIOLATIONS; and how many more. With the
        document's secret pointers, no message quotes a secret value."""
        found = [
            Violation(pointer(tuple(error.instance_path)), error.message[:300], error.kind.name)
            for error in self._validator.iter_errors(value)
        ]
        if secrets:
            found = _without_secrets(found, value, secrets)
        found.sort(key=lambda violation: (violation.path, violation.keyword))
        return found[:MAX_VIOLATIONS], max(0, len(found) - MAX_VIOLATIONS)

    def check(self, value: Any, location: str, secrets: tuple[str, ...] = ()) -> None:
        violations, more = self.violations(value, secrets)
        if violations:
            raise SchemaViolations(violations, location, more)


def _without_secrets(violations: list[Violation], value: Any, secrets: tuple[str, ...]) -> list[Violation]:
    texts = _secret_texts(value, secrets)
    kept = []
    for violation in violations:
        if is_within(violation.path, secrets):
            message = f"the secret value here does not satisfy the schema ({violation.keyword}); it is not shown"
        elif holds_secret(violation.path, secrets) and any(text in violation.message for text in texts):
            message = (
                f"the value here, which holds secret values, does not satisfy the schema ({violation.keyword}); "
                "it is not shown"
            )
        else:
            message = violation.message
        kept.append(violation._replace(message=message))
    return kept


def _secret_texts(value: Any, secrets: tuple[str, ...]) -> set[str]:
    """Every string, number and boolean of the secret values, as a message could quote them."""
    texts: set[str] = set()
    stack = [found for _, parts in outermost(secrets) if (found := value_at(value, parts)) is not ABSENT]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            texts.update((node, json.dumps(node), json.dumps(node, ensure_ascii=False)))
        elif node is not None:
            texts.update((str(node), json.dumps(node) if not isinstance(node, Decimal) else str(node)))
    return texts


# -- the step ----------------------------------------------------------------------------------


class Validation:
    """The write side's validation step (one per command bus): what to expect first, and what
    to expect after a Recheck."""

    def __init__(self, max_schemas: int = 1024, keyring: Keyring | None = None) -> None:
        self._max = max_schemas
        self._keyring = keyring  # to open a stored document's secret values before validating it
        self._known: OrderedDict[str, int] = OrderedDict()  # configuration id -> schema revision (0: none)
        self._compiled: OrderedDict[tuple[str, int], Compiled] = OrderedDict()

    def first(self, command: object) -> Expect | None:
        """The first statement's expectation; None for a command that is not guarded."""
        make = GUARDS.get(type(command))
        if make is None:
            return None
        guard = make(command)
        if guard is None:
            return UNCHECKED
        if guard.writes == "schema":
            if guard.known is not None:
                Compiled(guard.known)  # an invalid schema is refused before anything is read
            return PROBE_DOCUMENT
        revision = self._known.get(guard.configuration_id, 0)
        if revision == 0:
            return NO_SCHEMA
        compiled = self._compiled.get((guard.configuration_id, revision))
        if compiled is None or guard.known is None or guard.follows or compiled.violations(guard.known.value)[0]:
            return PROBE  # a violation of a schema perhaps gone meanwhile is confirmed first
        return Expect(schema=revision)

    def again(self, command: object, state: dict, made: Document | None = None, secrets: tuple = ()) -> Expect:
        """After a Recheck: validates the state found (SchemaViolations when it fails) and
        returns what the next statement expects. `made`: the document the sealing step made
        from that state (in clear), with its secret pointers."""
        guard = GUARDS[type(command)](command)
        if guard is None:
            return UNCHECKED
        if made is None:
            secrets = tuple(state.get("secrets") or ())
        if guard.writes == "schema":
            schema = guard.known or Document.stored(state["schema"]["schema"])
            # What the schema marks secret is, to its violations, as secret as what is marked.
            marked = (*secrets, *schema_secrets(schema.value))
            Compiled(schema).check(self._opened(state, guard.configuration_id).value, "config", marked)
            return Expect(revision=state["revision"])
        if made is not None:
            document = made
        elif guard.known is not None:
            document, secrets = guard.known, ()
        else:
            document = self._opened(state, guard.configuration_id)
        current = state["schema"]
        if current is None:
            self._remember(guard.configuration_id, 0)
            return NO_SCHEMA
        compiled = self.compiled(guard.configuration_id, current["revision"], current["schema"])
        compiled.check(document.value, guard.location, secrets)
        return Expect(schema=current["revision"], revision=state["revision"] if guard.follows else None)

    def _opened(self, state: dict, configuration_id: str) -> Document:
        """The state's document, its secret values opened."""
        text, secrets = state["document"], tuple(state.get("secrets") or ())
        if secrets:
            try:
                text = reveal_document(text, secrets, self._keyring, configuration_id, strict=True)
            except Unsealable as exc:
                raise InvalidCommand("config", f"{exc}: it cannot be validated here") from None
        return Document.stored(text)

    def held(self, command: object, expect: Expect | None, committed: Committed) -> None:
        """A guarded command committed: remember the schema revision it found current."""
        make = GUARDS.get(type(command))
        guard = make(command) if make is not None else None
        if guard is None:
            return
        if guard.writes == "document" and expect is not None and expect.schema is not None:
            self._remember(guard.configuration_id, expect.schema)
        elif committed.row is not None:  # a schema set: compiled now, for the writes to come
            self.compiled(guard.configuration_id, committed.revision, committed.row["schema"])

    def compiled(self, configuration_id: str, revision: int, text: str) -> Compiled:
        """The schema of this revision, compiled once."""
        key = (configuration_id, revision)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = Compiled(Document.stored(text))
            while len(self._compiled) > self._max:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        self._remember(configuration_id, revision)
        return found

    def _remember(self, configuration_id: str, revision: int) -> None:
        self._known[configuration_id] = revision
        self._known.move_to_end(configuration_id)
        while len(self._known) > 16 * self._max:
            self._known.popitem(last=False)
