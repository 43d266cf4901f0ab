"""Identifiers: ULIDs (python-ulid behind pydantic_extra_types), always 26 Crockford characters."""

import re
from typing import Annotated, Any, get_args, get_origin

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError
from pydantic_extra_types.ulid import ULID
from ulid import ULID as _NewULID

ULID_PATTERN = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
_ULID_TEXT = re.compile(ULID_PATTERN)
ULID_JSON_SCHEMA = {
    "type": "string",
    "pattern": ULID_PATTERN,
    "minLength": 26,
    "maxLength": 26,
    "description": "ULID: 26 characters of Crockford base32",
    "examples": ["01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"],
}


def new_id() -> str:
    return str(_NewULID())


ULID_ERROR = "must be a ULID: 26 characters of Crockford base32, e.g. 01JDQ8ZJ1T2K5X1VJ4Q6M2N3P4"


def canonical_ulid(text: str) -> str | None:
    """The canonical (upper case) form of a ULID in text, or None if it is not one."""
    text = text.upper()  # ULIDs are case-insensitive
    return text if _ULID_TEXT.match(text) else None


def _ulid_text(value: Any) -> Any:
    # Only text: pydantic's ULID would also take integers and bytes, which no client means.
    if isinstance(value, str) and (canonical := canonical_ulid(value)) is not None:
        return canonical
    raise PydanticCustomError("ulid_format", ULID_ERROR)


# A ULID from a client (path, query or body): validated, then handled as its canonical text.
Ulid = Annotated[
    ULID,
    BeforeValidator(_ulid_text),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(ULID_JSON_SCHEMA),
]

# A ULID read back from the database, which only ever stores canonical ones.
UlidText = Annotated[str, WithJsonSchema(ULID_JSON_SCHEMA)]

# A ULID in a path or query parameter: FastAPI takes only scalar types there, so it is
# checked by the same rule and kept as its canonical text.
UlidParam = Annotated[str, BeforeValidator(_ulid_text), WithJsonSchema(ULID_JSON_SCHEMA)]


def is_ulid_param(annotation: Any) -> bool:
    """Whether a parameter's annotation is `UlidParam` (perhaps with more metadata)."""
    if get_origin(annotation) is not Annotated:
        return False
    return any(isinstance(m, BeforeValidator) and m.func is _ulid_text for m in get_args(annotation)[1:])
