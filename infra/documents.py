"""JSON documents as they were written: keys in the order they were written, at every depth,
and numbers in their written form.

A configuration's document (and a schema) is read here, not by pydantic-core's parser, which
keeps neither a number's text (`1.50` becomes 1.5) nor a key written twice. `read` uses
Python's json module with hooks:

- objects become dicts in key order; an object with a key written twice is kept as a
  `_Repeated` dict, which `problems` reports at that key's JSON Pointer;
- an integer is an int, exact (a longer one than Python converts, over 4300 digits, is
  refused); any other number is a float when Python writes that float back the same way
  (`1.5`, `1.0`, `-0.0`), else a Decimal with its exact value (`1.50`, `1e2`), so a validator
  compares exact values either way; `-0` is a Decimal too (an int has no sign of zero);
- a number no double can hold (`1e400`, `1e-400`: it would become infinity or zero), NaN and
  Infinity are refused: clients could not read them as written.

A `Document` is a document's compact text (what is stored and sent: no whitespace between
tokens, keys in order, every number as written) with its value (what a schema validates).
The text is written by json.dumps when every number is written the way Python writes it (the
usual case), else by a slower walk over the text read again with each number's literal.
"""

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

MAX_DEPTH = 64
# Longer number literals are refused: Python converts integers of up to 4300 digits, and
# PostgreSQL's numeric holds at most 16383 digits after the point.
MAX_NUMBER_LENGTH = 4300

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In the raw text, what can become a NUL or an unpaired surrogate: only these escapes can
# (JSON refuses raw control characters, and UTF-8 cannot hold a surrogate).
_SUSPICIOUS_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class Unreadable(ValueError):
    """The text is not one JSON value (or nests deeper than the parser goes)."""


class Problem(NamedTuple):
    pointer: str  # JSON Pointer (RFC 6901) of what is at fault, "" for the whole value
    message: str


class _Repeated(dict):
    """An object in which a key was written more than once (the last value is kept)."""

    __slots__ = ("keys_repeated",)


class _Unrepresentable:
    """A number refused as written: why, and its text."""

    __slots__ = ("reason", "text")

    def __init__(self, text: str, reason: str) -> None:
        self.text = text
        self.reason = reason


class _Literal:
    """A number as written, for writing it back (see `compact_as_written`)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _object(pairs: list[tuple[str, Any]]) -> dict:
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    repeated = _Repeated(found)
    seen: set[str] = set()
    repeated.keys_repeated = [key for key, _ in pairs if key in seen or seen.add(key)]
    return repeated


def _float(text: str) -> float | Decimal | _Unrepresentable:
    if len(text) > MAX_NUMBER_LENGTH:
        return _Unrepresentable(text, f"is longer than {MAX_NUMBER_LENGTH} characters")
    value = float(text)
    if math.isinf(value):
        return _Unrepresentable(text, "is too large for a double (the largest is about 1.8e308)")
    if value == 0.0 and any(digit in re.split("[eE]", text, maxsplit=1)[0] for digit in "123456789"):
        return _Unrepresentable(text, "is too small for a double: it would become 0")
    return value if repr(value) == text else Decimal(text)


def _int(text: str) -> int | Decimal | _Unrepresentable:
    if len(text) > MAX_NUMBER_LENGTH:
        return _Unrepresentable(text, f"is longer than {MAX_NUMBER_LENGTH} characters")
    return Decimal(text) if text == "-0" else int(text)


def _constant(text: str) -> _Unrepresentable:
    return _Unrepresentable(text, "is not a JSON number (NaN and Infinity are not JSON)")


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_float=_float, parse_int=_int, parse_constant=_constant)
_LITERAL_DECODER = json.JSONDecoder(object_pairs_hook=dict, parse_float=_Literal, parse_int=_Literal)


def read(text: str | bytes) -> Any:
    """The value of JSON text, as described above; `problems` says what in it is refused.
    Raises Unreadable when it is not one JSON value in UTF-8."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Unreadable(f"not UTF-8 at byte {exc.start}") from None
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Unreadable("nested too deep") from None


def pointer(parts: tuple) -> str:
    """The JSON Pointer of a path of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def problems(value: Any, raw: str | bytes | None = None, limit: int = 20) -> tuple[list[Problem], bool]:
    """What `read` kept that is refused (keys written twice, numbers no double holds, nesting
    deeper than MAX_DEPTH, NUL or unpaired surrogates in keys or strings), up to `limit`; and
    whether every number is written the way Python writes it (then json.dumps writes the
    document as written). `raw`, the text read, spares the string checks when it holds no
    escape that could make such characters."""
    if not isinstance(value, (dict, list)):
        if isinstance(value, _Unrepresentable):
            return [Problem("", f"this number {value.reason}")], True
        return [], not isinstance(value, Decimal)
    strings = raw is None or _SUSPICIOUS_ESCAPE.search(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
    found: list[Problem] = []
    exact = True
    # Iterative, so that a deep document cannot exhaust the stack here.
    stack: list[tuple[Any, tuple, int]] = [(value, (), 1)]
    while stack and len(found) < limit:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            found.append(Problem(pointer(path), f"must not nest deeper than {MAX_DEPTH} levels"))
            continue
        if isinstance(node, dict):
            if type(node) is _Repeated:
                found += [Problem(pointer((*path, key)), "is written more than once") for key in node.keys_repeated]
            children = node.items()
        else:
            children = enumerate(node)
        for key, child in children:
            if strings and isinstance(key, str) and _UNSTORABLE.search(key):
                found.append(
                    Problem(pointer((*path, key)), "keys must not contain NUL characters or unpaired surrogates")
                )
            kind = type(child)
            if kind is dict or kind is list or kind is _Repeated:
                stack.append((child, (*path, key), depth + 1))
            elif kind is str:
                if strings and _UNSTORABLE.search(child):
                    found.append(
                        Problem(pointer((*path, key)), "strings must not contain NUL characters or unpaired surrogates")
                    )
            elif kind is Decimal:
                exact = False
            elif kind is _Unrepresentable:
                found.append(Problem(pointer((*path, key)), f"this number {child.reason}"))
    return found[:limit], exact


_COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=False)


def compact(value: Any) -> str:
    """Compact JSON of a value with no Decimal in it (every number written as Python writes it)."""
    return _COMPACT.encode(value)


def compact_as_written(text: str | bytes, key: str | None = None) -> str:
    """Compact JSON of `text` (or of its top-level member `key`), every number as written.
    For text that `read` accepted."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    value = _LITERAL_DECODER.decode(text)
    if key is not None:
        value = value[key]
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def literal(text: str | bytes) -> Any:
    """`text` (accepted by `read`, or stored) as a tree that keeps every number as written:
    dicts in key order, lists, strings, booleans, None, and numbers as literals; `written`
    makes its text again."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _LITERAL_DECODER.decode(text)


def written(tree: Any) -> str:
    """The compact JSON text of a tree made by `literal` (or of plain values)."""
    out: list[str] = []
    _write(tree, out)
    return "".join(out)


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for n, (key, child) in enumerate(value.items()):
            out.append(("," if n else "") + _COMPACT.encode(key) + ":")
            _write(child, out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for n, child in enumerate(value):
            if n:
                out.append(",")
            _write(child, out)
        out.append("]")
    elif isinstance(value, _Literal):
        out.append(value.text)
    else:
        out.append(_COMPACT.encode(value))


def _stored_number(parse):
    # What the database holds was accepted once (or written by an operator): exact, never refused.
    def exact(text: str) -> float | int | Decimal:
        value = parse(text)
        return Decimal(text) if isinstance(value, _Unrepresentable) else value

    return exact


_STORED_DECODER = json.JSONDecoder(parse_float=_stored_number(_float), parse_int=_stored_number(_int))


@dataclass(frozen=True, slots=True)
class Document:
    """A JSON document as written: its compact text (stored and sent as it is) and its value
    (what a schema validates: dicts in key order, exact numbers)."""

    text: str
    value: Any

    @classmethod
    def of(cls, value: Any) -> "Document":
        """A document made in code (a dict of plain values): its text is json.dumps's, compact."""
        return cls(compact(value), value)

    @classmethod
    def stored(cls, text: str) -> "Document":
        """A document as the database holds it (written by this service, or by an operator)."""
        return cls(text, _STORED_DECODER.decode(text))


def as_document(document: "Document | Any") -> Document:
    return document if isinstance(document, Document) else Document.of(document)
