"""Request and response bodies of the HTTP API.

Names count characters (as PostgreSQL's varchar does), so multibyte text up to the limit
fits. Text that PostgreSQL cannot store (NUL, unpaired surrogates) is refused here with a 422,
as are unknown fields.
"""

import math
import re
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from infra.ids import Ulid

MAX_CONFIG_DEPTH = 64
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> str:
    if _UNSTORABLE.search(text):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return text


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


def _json_document(document: dict[str, Any]) -> dict[str, Any]:
    # Iterative, so a deep document cannot exhaust the stack here.
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ValueError(f"must not nest deeper than {MAX_CONFIG_DEPTH} levels")
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in children:
            if isinstance(key, str) and _UNSTORABLE.search(key):
                raise ValueError("keys must not contain NUL characters or unpaired surrogates")
            if isinstance(value, str):
                if _UNSTORABLE.search(value):
                    raise ValueError("strings must not contain NUL characters or unpaired surrogates")
            elif isinstance(value, float):
                if not math.isfinite(value):
                    raise ValueError("numbers must be finite")
            elif isinstance(value, (dict, list)):
                stack.append((value, depth + 1))
    return document


Name = Annotated[
    str, StringConstraints(min_length=1, max_length=256), AfterValidator(_storable), AfterValidator(_not_blank)
]
Comments = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_storable)] | None
ConfigDocument = Annotated[dict[str, Any], AfterValidator(_json_document)]


def _cannot_be_removed(value: object) -> object:
    # Runs only for fields present in a patch: there, null would mean "remove".
    if value is None:
        raise ValueError("cannot be removed (null removes a field in a merge patch)")
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicationCreate(_Body):
    name: Name
    comments: Comments = None


class ApplicationUpdate(_Body):
    """Replaces name and comments (an omitted comments becomes null)."""

    name: Name
    comments: Comments = None


class ApplicationPatch(_Body):
    """A JSON merge patch (RFC 7396): the fields given change, the others stay; a null
    `comments` removes them. `name` cannot be removed."""

    name: Name | None = None
    comments: Comments = None

    @field_validator("name", mode="before")
    @classmethod
    def _kept(cls, value: object) -> object:
        return _cannot_be_removed(value)


# How changes reach client services: at once, or through staged rollouts.
Release = Literal["immediate", "staged"]


class ConfigurationCreate(_Body):
    application_id: Ulid
    name: Name
    comments: Comments = None
    config: ConfigDocument
    release: Release = "immediate"


class ConfigurationUpdate(_Body):
    """Replaces name, comments and config. `application_id` may be sent, but only unchanged."""

    name: Name
    comments: Comments = None
    config: ConfigDocument
    application_id: Ulid | None = None
    release: Release | None = Field(None, description="Omitted: kept as it is (never switched off by omission)")


class ConfigurationPatch(_Body):
    """A JSON merge patch (RFC 7396): the fields given change, the others stay. `config` is
    merged into the document: a null value removes its key, objects merge, anything else
    (arrays included) replaces. `name` and `config` cannot be removed."""

    name: Name | None = None
    comments: Comments = None
    config: ConfigDocument | None = None
    application_id: Ulid | None = None
    release: Release | None = None

    @field_validator("name", "config", "release", mode="before")
    @classmethod
    def _kept(cls, value: object) -> object:
        return _cannot_be_removed(value)


# Who a client is: what X-Client-Id carries.
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]

# Text to look for in names: what a name may hold.
SearchText = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_storable)]

# Query parameters of every paged list.
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
Offset = Annotated[
    int,
    Query(
        ge=0,
        le=1_000_000_000,
        description="Skip this many first, for clients that page by position (it costs what it skips); "
        "`after`, from the Link header, is the constant-cost way. Not together with `after`.",
    ),
]
