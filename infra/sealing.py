"""Secret values in documents: where they are (JSON Pointers), and a document with them sealed,
masked or shown.

A configuration lists the JSON Pointers (RFC 6901) of its secret values. A pointer names a
member of the document (never the whole of it), through objects and arrays (`/servers/0/key`);
a pointer that names an object or an array makes it one secret value. One inside another
(`/db` and `/db/password`) is covered by the outer one.

Every transformation works on the document as written (infra/documents.py `literal`): what is
not secret keeps its keys' order and its numbers' text, and a secret value is sealed as its own
JSON text as written, so that showing it gives back exactly what was sent.

- `seal_tree`: each secret value becomes its sealed string (infra/keyring.py), bound to the
  configuration and the pointer;
- `mask_document`: each secret value shows as "********";
- `reveal_document`: each sealed value shows as what it seals (a value that does not open is
  masked, and logged without it).
"""

import logging
import re
from collections.abc import Iterable
from typing import Any

from infra.documents import literal, written
from infra.keyring import Keyring, Unsealable, context, is_sealed, key_id_of

log = logging.getLogger(__name__)

MASK = "********"
MAX_POINTERS = 256
MAX_POINTER_LENGTH = 1024
_BAD_ESCAPE = re.compile("~(?![01])")
_INDEX = re.compile("0|[1-9][0-9]{0,8}")

Parts = tuple[str, ...]


class BadPointer(ValueError):
    """Not a JSON Pointer that can name a secret value."""


def pointer_parts(text: str) -> Parts:
    """The reference tokens of a pointer; BadPointer for one that names nothing a secret can be."""
    if text == "":
        raise BadPointer('"" names the whole document: a secret is a member of it (e.g. /db/password)')
    if not text.startswith("/"):
        raise BadPointer(f"{text[:100]!r} is not a JSON Pointer: it starts with / (RFC 6901)")
    if len(text) > MAX_POINTER_LENGTH:
        raise BadPointer(f"a pointer is at most {MAX_POINTER_LENGTH} characters")
    if _BAD_ESCAPE.search(text):
        raise BadPointer(f"{text[:100]!r} is not a JSON Pointer: ~ is followed by 0 or 1 (RFC 6901)")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/"))


def pointers_of(values: Iterable[str]) -> tuple[str, ...]:
    """Pointers as a configuration keeps them: each checked, each once, in the order given."""
    kept: list[str] = []
    for value in values:
        pointer_parts(value)
        if value not in kept:
            kept.append(value)
    if len(kept) > MAX_POINTERS:
        raise BadPointer(f"at most {MAX_POINTERS} secret pointers")
    return tuple(kept)


def outermost(pointers: Iterable[str]) -> list[tuple[str, Parts]]:
    """The pointers that are not inside another one, with their tokens."""
    parsed = [(text, pointer_parts(text)) for text in dict.fromkeys(pointers)]
    return [
        (text, parts)
        for text, parts in parsed
        if not any(len(other) < len(parts) and parts[: len(other)] == other for _, other in parsed)
    ]


def is_within(path: str, pointers: Iterable[str]) -> bool:
    """Whether `path` (a pointer) is a secret value or inside one."""
    parts = pointer_parts(path) if path else ()
    return any(parts[: len(p)] == p for _, p in outermost(pointers))


def holds_secret(path: str, pointers: Iterable[str]) -> bool:
    """Whether the value at `path` is a secret value, inside one, or holds one."""
    parts = pointer_parts(path) if path else ()
    return any(parts[: len(p)] == p or p[: len(parts)] == parts for _, p in outermost(pointers))


# -- finding a value ----------------------------------------------------------------------------


def _locate(tree: Any, parts: Parts) -> tuple[Any, Any] | None:
    """(container, key) of the value at `parts`, or None when there is none."""
    node = tree
    for n, part in enumerate(parts):
        if isinstance(node, dict):
            if part not in node:
                return None
            key = part
        elif isinstance(node, list):
            if not _INDEX.fullmatch(part) or int(part) >= len(node):
                return None
            key = int(part)
        else:
            return None
        if n == len(parts) - 1:
            return node, key
        node = node[key]
    return None


ABSENT = object()


def value_at(tree: Any, parts: Parts) -> Any:
    """The value at `parts`, or `ABSENT`."""
    found = _locate(tree, parts)
    return ABSENT if found is None else found[0][found[1]]


def set_at(tree: Any, parts: Parts, value: Any) -> bool:
    """Replaces the value at `parts`; whether there was one."""
    found = _locate(tree, parts)
    if found is None:
        return False
    found[0][found[1]] = value
    return True


def remove_at(tree: Any, parts: Parts) -> None:
    """Removes an object's member (an array's element becomes null: the others keep their place)."""
    found = _locate(tree, parts)
    if found is not None:
        container, key = found
        if isinstance(container, dict):
            del container[key]
        else:
            container[key] = None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 on trees, as the database's json_merge_patch (migrations/0008): the target's
    keys keep their order, new ones follow in the patch's."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- sealing, masking, showing ------------------------------------------------------------------


def seal_tree(tree: Any, pointers: Iterable[str], keyring: Keyring, configuration_id: str) -> Any:
    """`tree` with each secret value sealed (in place; also returned)."""
    for text, parts in outermost(pointers):
        found = _locate(tree, parts)
        if found is not None:
            container, key = found
            container[key] = keyring.seal(written(container[key]), context(configuration_id, text))
    return tree


def reveal_tree(
    tree: Any, pointers: Iterable[str], keyring: Keyring | None, configuration_id: str, *, strict: bool = False
) -> Any:
    """`tree` with each sealed secret value opened (in place; also returned). One that does not
    open raises Unsealable when `strict`, else is masked (and logged, without its value)."""
    for text, parts in outermost(pointers):
        found = _locate(tree, parts)
        if found is None:
            continue
        container, key = found
        value = container[key]
        if not is_sealed(value):
            continue  # not sealed (yet): a value marked a moment ago, shown as it is stored
        try:
            if keyring is None:
                raise Unsealable("no secret key is loaded (SECRETS_KEYS)")
            container[key] = literal(keyring.open(value, context(configuration_id, text)))
        except Unsealable as exc:
            if strict:
                raise Unsealable(f"the secret value at {text} cannot be opened: {exc}") from None
            log.warning("configuration %s: the secret value at %s is shown masked: %s", configuration_id, text, exc)
            container[key] = MASK
    return tree


def mask_tree(tree: Any, pointers: Iterable[str]) -> Any:
    for _, parts in outermost(pointers):
        set_at(tree, parts, MASK)
    return tree


def mask_document(text: str, pointers: Iterable[str]) -> str:
    """The document as those who may not see its secret values see it."""
    pointers = tuple(pointers)
    if not pointers:
        return text
    return written(mask_tree(literal(text), pointers))


def reveal_document(
    text: str, pointers: Iterable[str], keyring: Keyring | None, configuration_id: str, *, strict: bool = False
) -> str:
    """The document as those who may see its secret values see it (see `reveal_tree`)."""
    pointers = tuple(pointers)
    if not pointers:
        return text
    return written(reveal_tree(literal(text), pointers, keyring, configuration_id, strict=strict))


def masked_pointers(tree: Any, pointers: Iterable[str]) -> list[str]:
    """The secret pointers whose value in `tree` is the mask ("keep what is stored")."""
    return [text for text, parts in outermost(pointers) if value_at(tree, parts) == MASK]


def sealed_key_ids(tree: Any, pointers: Iterable[str]) -> list[str | None]:
    """For each secret value present: the id of the key that sealed it, None when not sealed."""
    found = []
    for _, parts in outermost(pointers):
        value = value_at(tree, parts)
        if value is not ABSENT:
            found.append(key_id_of(value) if is_sealed(value) else None)
    return found
