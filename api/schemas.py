"""Request and response bodies of the HTTP API.

Names count characters (as PostgreSQL's varchar does), so multibyte text up to the limit
fits. Text that PostgreSQL cannot store (NUL, unpaired surrogates) is refused here with a 422,
as are unknown fields.

A body that holds a document (`DocumentBody`) is read by infra/documents.py, not by
pydantic-core's parser, so that the document keeps its keys' order and its numbers as written,
and a key written twice is refused (422, with its JSON Pointer in `path`).
"""

import math
import re
from typing import Annotated, Any, ClassVar, Literal, Self

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    RootModel,
    StringConstraints,
    ValidationError,
    field_validator,
)

from infra import documents, sealing
from infra.documents import Document
from infra.ids import Ulid

MAX_CONFIG_DEPTH = documents.MAX_DEPTH
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


def _secret_pointer(text: str) -> str:
    try:
        sealing.pointer_parts(text)
    except sealing.BadPointer as exc:
        raise ValueError(str(exc)) from None
    return text


# A JSON Pointer (RFC 6901) to a secret value of the document.
SecretPointer = Annotated[
    str,
    StringConstraints(max_length=sealing.MAX_POINTER_LENGTH),
    AfterValidator(_storable),
    AfterValidator(_secret_pointer),
]
SECRETS_DOC = (
    'JSON Pointers (RFC 6901) of the document\'s secret values, e.g. ["/db/password"]: stored encrypted, shown as '
    '"********" unless the token may see them; one naming an object makes it one secret value. Sending '
    '"********" back at one keeps the value stored there.'
)
Secrets = Annotated[list[SecretPointer], Field(max_length=sealing.MAX_POINTERS)]


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


class DocumentBody(_Body):
    """A body with a document in `document_field` (`config`). `document` is that document as
    written; `from_json` is how the route reads the body (api/routing.py)."""

    document_field: ClassVar[str] = "config"
    _document: Document | None = PrivateAttr(default=None)

    @property
    def document(self) -> Document | None:
        return self._document

    @classmethod
    def from_json(cls, raw: bytes) -> Self:
        try:
            value = documents.read(raw)
        except documents.Unreadable as exc:
            error = {"type": "json_invalid", "loc": ("body",), "msg": "Invalid JSON", "ctx": {"error": str(exc)}}
            raise RequestValidationError([error]) from None
        exact, problems = True, []
        if isinstance(value, (dict, list)):
            found, exact = documents.problems(value, raw)
            problems = [cls._problem(problem) for problem in found]
        errors = []
        try:
            body = cls.model_validate(value)
        except ValidationError as exc:
            # Every error at once, in the fields' order; what the document's own problems say
            # of a field, they say better.
            located = {problem["loc"] for problem in problems}
            errors = [
                {**error, "loc": ("body", *error["loc"])}
                for error in exc.errors()
                if ("body", *error["loc"][:1]) not in located
            ]
        errors += problems
        if errors:
            raise RequestValidationError(errors)
        field = cls.document_field
        written = getattr(body, field)
        if written is not None:
            text = documents.compact(written) if exact else documents.compact_as_written(raw, field)
            body._document = Document(text, written)
        return body

    @classmethod
    def _problem(cls, problem: documents.Problem) -> dict:
        """A problem of the body as a validation error: in the document, located at the
        document's field with the rest of its pointer as `path`."""
        prefix = "/" + cls.document_field
        if problem.pointer == prefix or problem.pointer.startswith(prefix + "/"):
            path = problem.pointer[len(prefix) :]
            return {"type": "value_error", "loc": ("body", cls.document_field), "msg": problem.message, "path": path}
        parts = [part.replace("~1", "/").replace("~0", "~") for part in problem.pointer.split("/")[1:]]
        return {"type": "value_error", "loc": ("body", *parts), "msg": problem.message}


class ConfigurationCreate(DocumentBody):
    application_id: Ulid
    name: Name
    comments: Comments = None
    config: ConfigDocument
    release: Release = "immediate"
    secrets: Secrets = Field(default_factory=list, description=SECRETS_DOC)


class ConfigurationUpdate(DocumentBody):
    """Replaces name, comments and config. `application_id` may be sent, but only unchanged."""

    name: Name
    comments: Comments = None
    config: ConfigDocument
    application_id: Ulid | None = None
    release: Release | None = Field(None, description="Omitted: kept as it is (never switched off by omission)")
    secrets: Secrets | None = Field(None, description=SECRETS_DOC + " Omitted: kept as they are.")


class ConfigurationPatch(DocumentBody):
    """A JSON merge patch (RFC 7396): the fields given change, the others stay. `config` is
    merged into the document: a null value removes its key, objects merge, anything else
    (arrays included) replaces; a secret value in it replaces the one stored whole, and
    "********" there keeps it. `name` and `config` cannot be removed."""

    name: Name | None = None
    comments: Comments = None
    config: ConfigDocument | None = None
    application_id: Ulid | None = None
    release: Release | None = None
    secrets: Secrets | None = Field(None, description=SECRETS_DOC + " Given, it replaces the list ([] for none).")

    @field_validator("name", "config", "release", "secrets", mode="before")
    @classmethod
    def _kept(cls, value: object) -> object:
        return _cannot_be_removed(value)


# Who a client is: what X-Client-Id carries.
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]

# Text to look for in names: what a name may hold.
SearchText = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_storable)]

# The largest PostgreSQL integer: versions and version numbers are int4.
INT4 = 2**31 - 1

# Query parameters of every paged list.
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
OlderThan = Annotated[int | None, Query(ge=1, le=INT4, description="Continue with the versions older than this one")]
Offset = Annotated[
    int,
    Query(
        ge=0,
        le=1_000_000_000,
        description="Skip this many first, for clients that page by position (it costs what it skips); "
        "`after`, from the Link header, is the constant-cost way. Not together with `after`.",
    ),
]


class SchemaBody(RootModel[dict[str, Any]]):
    """A JSON Schema document: the whole body, read like a configuration's document (keys in
    the order written, numbers as written; a key written twice is 422 with its `path`)."""

    model_config = ConfigDict(
        json_schema_extra={"description": "A JSON Schema (draft 2020-12; 2019-09 or draft-07 by $schema)"}
    )
    _document: Document | None = PrivateAttr(default=None)

    @property
    def document(self) -> Document:
        assert self._document is not None
        return self._document

    @classmethod
    def from_json(cls, raw: bytes) -> Self:
        try:
            value = documents.read(raw)
        except documents.Unreadable as exc:
            error = {"type": "json_invalid", "loc": ("body",), "msg": "Invalid JSON", "ctx": {"error": str(exc)}}
            raise RequestValidationError([error]) from None
        if not isinstance(value, dict):
            raise RequestValidationError(
                [{"type": "dict_type", "loc": ("body",), "msg": "a schema must be a JSON object"}]
            )
        found, exact = documents.problems(value, raw)
        if found:
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("body",), "msg": p.message, "path": p.pointer} for p in found]
            )
        body = cls.model_validate(value)
        text = documents.compact(value) if exact else documents.compact_as_written(raw)
        body._document = Document(text, value)
        return body
