"""Sealing: the step every write of a configuration's document passes through before its
statement, so that a statement never carries a secret value in clear (infra/keyring.py,
infra/sealing.py).

What a command writes is described by its `@seals` function (`Writes`). Then:

- A new configuration: the values at its secret pointers are sealed here; the statement
  carries ciphertext only.
- A change of a configuration that has no secrets and gets none (the usual case, known from a
  hint: what the read model holds, else what this step last saw) goes out as it is, its
  statement checking that the configuration has no secrets (`sealed_for`).
- A change of a configuration that has secrets, or gets some, is made from the current state:
  the first statement only reports it (a probe, carrying no document), then the new document
  is made here in clear (the stored one opened; "********" at a secret pointer keeps the value
  stored there; a merge patch applied), validated, sealed with the new list of pointers, and
  written whole, its statement checking that the configuration is still at the revision and
  with the pointers it was made from (else it is made again from the state found).

Marking a pointer seals it in every stored version too, right after the change commits
(`after`: commands/resealing.py). A schema may mark properties secret with `"x-secret": true`:
setting it adds their pointers to the configuration's list, as a change of its own made right
after (`MarkSecrets`); a write of a document keeps them in the list while the schema has them.
"""

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from commands.errors import InvalidCommand
from infra.documents import Document, literal, written
from infra.events import Committed
from infra.keyring import Keyring, Unsealable
from infra.sealing import (
    ABSENT,
    MASK,
    BadPointer,
    masked_pointers,
    merge_patch,
    outermost,
    pointer_parts,
    pointers_of,
    reveal_tree,
    seal_tree,
    set_at,
    value_at,
)

log = logging.getLogger(__name__)

NO_KEYS = (
    "secret values need a key, and none is configured: set SECRETS_KEYS to a key file "
    "(`pipenv run secrets keygen --file PATH`); nothing was stored"
)


@dataclass(frozen=True)
class MarkSecrets:
    """Adds pointers to a configuration's secrets (its schema marks them `x-secret`)."""

    configuration_id: str
    pointers: tuple[str, ...]


class NothingToMark(Exception):
    """A MarkSecrets whose pointers the configuration lists already: no change to make."""


@dataclass(frozen=True, slots=True)
class Writes:
    """What a command writes of a configuration's document."""

    configuration_id: str
    how: Literal["create", "replace", "patch", "schema"]
    document: Document | None = None  # the document, the merge patch, or the schema; None: unchanged
    secrets: tuple[str, ...] | None = None  # the pointers asked for; None: unchanged
    mark: tuple[str, ...] = ()  # pointers added to the list


@dataclass(frozen=True, slots=True)
class Written:
    """How a document write goes out, as this step made it (handlers send only this)."""

    config: str | None = None  # the whole document to store, its secret values sealed
    config_patch: str | None = None  # or a merge patch (of a configuration without secrets)
    secrets: tuple[str, ...] | None = None  # the pointers to set; None: unchanged
    sealed_for: tuple[str, ...] | None = None  # the pointers the configuration must have now
    revision: int | None = None  # the configuration revision it was made from (checked)
    document: Document | None = None  # the document it leaves, in clear (for validation), if known
    marked: tuple[str, ...] = ()  # pointers newly secret: sealed in every version after the commit
    probe: bool = False  # write nothing: report the state


PROBING = Written(probe=True)

WRITES: dict[type, Callable[[Any], Writes | None]] = {}


def seals(command_type: type) -> Callable:
    """Registers the decorated function as what `command_type` writes (None: no document)."""

    def register(describe: Callable[[Any], Writes | None]) -> Callable[[Any], Writes | None]:
        WRITES[command_type] = describe
        return describe

    return register


def _refuse_pointers(exc: BadPointer) -> InvalidCommand:
    return InvalidCommand("secrets", str(exc))


class Sealing:
    """The write side's sealing step (one per command bus), with what it knows of each
    configuration's secret pointers: a hint, checked by every statement it makes."""

    def __init__(
        self,
        keyring: Keyring | None = None,
        hint: Callable[[str], tuple[str, ...] | None] | None = None,
        max_known: int = 16384,
    ) -> None:
        self.keyring = keyring
        self._hint = hint  # the read model's knowledge (api/app.py wires it)
        self._known: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._max = max_known

    def first(self, command: object) -> Written | None:
        """How the command's first statement goes out; None when it writes no document."""
        writes = _writes(command)
        if writes is None:
            return None
        if writes.how == "schema":
            if writes.document is not None and schema_secrets(writes.document.value) and not self.keyring:
                raise InvalidCommand("schema", "the schema marks properties x-secret, but " + NO_KEYS)
            return None
        pointers = self._checked(writes.secrets or ())
        if writes.how == "create":
            return self._create(writes, pointers)
        if writes.document is None and writes.secrets is None and not writes.mark:
            return None  # a rename: the document is not touched
        if pointers or writes.mark or self._secrets_of(writes.configuration_id):
            return PROBING
        return self._plain(writes)

    def again(self, command: object, state: dict) -> Written | None:
        """After a Recheck: the write made from the state found (see the module's doc)."""
        writes = _writes(command)
        if writes is None or writes.how not in ("replace", "patch"):
            return None
        current = tuple(state.get("secrets") or ())
        self._remember(writes.configuration_id, current)
        schema = state.get("schema")
        marked_by_schema = schema_secrets(literal(schema["schema"])) if schema else ()
        asked = current if writes.secrets is None else self._checked(writes.secrets)
        pointers = self._checked((*asked, *writes.mark, *marked_by_schema))
        if writes.document is None and writes.secrets is None and set(pointers) == set(current):
            raise NothingToMark(f"configuration {writes.configuration_id} lists these secret pointers already")
        if not current and not pointers:
            return self._plain(writes)
        keyring = self._keys()
        id = writes.configuration_id
        try:
            stored = reveal_tree(literal(state["stored"]), current, keyring, id, strict=True)
        except Unsealable as exc:
            raise InvalidCommand("config", f"{exc}; nothing was stored") from None
        both = (*current, *pointers)
        if writes.how == "replace":
            document = self._kept(literal(writes.document.text), stored, both)
        elif writes.document is not None:
            document = merge_patch(stored, self._kept(literal(writes.document.text), stored, both))
        else:
            document = stored
        clear = written(document)
        sealed = written(seal_tree(literal(clear), pointers, keyring, id))
        log.debug("configuration %s: sealed at %s with key %s", id, ", ".join(pointers), keyring.sealing_id)
        return Written(
            config=sealed,
            secrets=pointers,
            sealed_for=current,
            revision=state["revision"],
            document=Document.stored(clear),
            marked=tuple(p for p in pointers if p not in current),
        )

    def held(self, command: object, committed: Committed) -> None:
        """A write committed: what its row says of the configuration's pointers."""
        row = committed.row
        if committed.kind == "configuration" and row is not None and "secrets" in row:
            self._remember(committed.id, tuple(row["secrets"]))

    def marks(self, command: object, committed: Committed) -> tuple[str, ...]:
        """After a schema was set: the pointers it marks that its configuration does not list."""
        writes = _writes(command)
        if writes is None or writes.how != "schema" or committed.row is None:
            return ()
        listed = self._secrets_of(writes.configuration_id)
        return tuple(p for p in schema_secrets(literal(committed.row["schema"])) if p not in listed)

    # -- the ways a document goes out --------------------------------------------------------

    def _create(self, writes: Writes, pointers: tuple[str, ...]) -> Written:
        document = writes.document
        if not pointers:
            return Written(config=document.text, secrets=())
        keyring = self._keys()
        tree = literal(document.text)
        masked = masked_pointers(tree, pointers)
        if masked:
            raise InvalidCommand(
                "config", f'{masked[0]} is masked ("{MASK}"), and a new configuration has no value to keep: send it'
            )
        sealed = written(seal_tree(tree, pointers, keyring, writes.configuration_id))
        log.debug(
            "configuration %s: sealed at %s with key %s",
            writes.configuration_id,
            ", ".join(pointers),
            keyring.sealing_id,
        )
        return Written(config=sealed, secrets=pointers, document=document)

    def _plain(self, writes: Writes) -> Written:
        """A document without secrets, as it was sent, for a configuration without them."""
        text = None if writes.document is None else writes.document.text
        if writes.how == "replace":
            return Written(config=text, secrets=writes.secrets, sealed_for=())
        return Written(config_patch=text, secrets=writes.secrets, sealed_for=())

    @staticmethod
    def _kept(tree: Any, stored: Any, pointers: tuple[str, ...]) -> Any:
        """`tree` with the value stored put back wherever a secret pointer holds the mask."""
        for text, parts in outermost(pointers):
            if value_at(tree, parts) != MASK:
                continue
            value = value_at(stored, parts)
            if value is ABSENT:
                raise InvalidCommand(
                    "config", f'{text} is masked ("{MASK}"), but nothing is stored there to keep: send its value'
                )
            set_at(tree, parts, value)
        return tree

    # -- what is known ---------------------------------------------------------------------------

    def _keys(self) -> Keyring:
        if not self.keyring:
            raise InvalidCommand("secrets", NO_KEYS)
        return self.keyring

    @staticmethod
    def _checked(pointers: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return pointers_of(pointers)
        except BadPointer as exc:
            raise _refuse_pointers(exc) from None

    def _secrets_of(self, configuration_id: str) -> tuple[str, ...]:
        known = self._known.get(configuration_id)
        if known is None and self._hint is not None:
            known = self._hint(configuration_id)
        return known or ()

    def _remember(self, configuration_id: str, pointers: tuple[str, ...]) -> None:
        self._known[configuration_id] = pointers
        self._known.move_to_end(configuration_id)
        while len(self._known) > self._max:
            self._known.popitem(last=False)


def _writes(command: object) -> Writes | None:
    describe = WRITES.get(type(command))
    return None if describe is None else describe(command)


# -- schemas that mark secrets ----------------------------------------------------------------

MAX_SCHEMA_DEPTH = 32


def schema_secrets(schema: Any) -> tuple[str, ...]:
    """The pointers of the properties a JSON Schema marks `"x-secret": true`: through
    `properties`, and the subschemas of `allOf`, `anyOf`, `oneOf` and local `$ref`s
    (#/$defs/..., #/definitions/...) at the same place. Arrays' items have no fixed pointer,
    so they are not followed."""
    found: list[str] = []
    if not isinstance(schema, dict):
        return ()

    def visit(node: Any, path: tuple[str, ...], depth: int) -> None:
        if not isinstance(node, dict) or depth > MAX_SCHEMA_DEPTH:
            return
        if node.get("x-secret") is True and path:
            text = "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)
            if text not in found:
                found.append(text)
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            try:
                target = value_at(schema, pointer_parts(ref[1:]))
            except BadPointer:
                target = ABSENT
            if target is not ABSENT:
                visit(target, path, depth + 1)
        for keyword in ("allOf", "anyOf", "oneOf"):
            subschemas = node.get(keyword)
            if isinstance(subschemas, list):
                for subschema in subschemas:
                    visit(subschema, path, depth + 1)
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, subschema in properties.items():
                visit(subschema, (*path, name), depth + 1)

    visit(schema, (), 0)
    return tuple(found)
