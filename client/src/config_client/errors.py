"""The errors the client raises: one class per kind of failure, all `ConfigServiceError`s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigServiceError",
    "Conflict",
    "ErrorDetail",
    "Forbidden",
    "InvalidConfiguration",
    "InvalidSchema",
    "NotFound",
    "PreconditionFailed",
    "SchemaViolation",
    "Unauthorized",
    "Unavailable",
    "ValidationError",
]


@dataclass(frozen=True)
class ErrorDetail:
    """One problem found: where (the service's `body.name`, `path.id`, `body.config`, ...; a
    JSON Pointer into the document for `InvalidConfiguration`, empty for the document as a
    whole) and what.

    For a document (or a schema) at fault, `path` is the JSON Pointer (RFC 6901) of the value
    in it (`/db/pool`; `""`: the document itself, e.g. a required key missing); for a
    violation of a configuration's JSON Schema, `keyword` is the schema keyword that failed
    (`type`, `required`, `format`, ...). Both are None where they say nothing.
    """

    location: str
    message: str
    path: str | None = None
    keyword: str | None = None

    def __str__(self) -> str:
        where = " ".join(part for part in (self.location, self.path) if part)
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} [{self.keyword}]" if self.keyword else text


class ConfigServiceError(Exception):
    """A request to the Config Service failed.

    Attributes:
        message: what went wrong, as the service (or the client) said it.
        status: the HTTP status, or None when no response came back.
        code: the service's machine-readable code (`not_found`, `conflict`, ...), if any.
        details: per-field problems, for validation errors.
        request_id: the service's id of the request, to quote when reporting a problem.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: tuple[ErrorDetail, ...] = (),
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details
        self.request_id = request_id

    def __str__(self) -> str:
        text = self.message
        if self.details:
            text += ": " + "; ".join(map(str, self.details))
        if self.request_id:
            text += f" [request_id={self.request_id}]"
        return text


class NotFound(ConfigServiceError):
    """404: the application, configuration or version does not exist."""


class Unauthorized(ConfigServiceError):
    """401: no token, or a token the service does not accept."""


class Forbidden(ConfigServiceError):
    """403: the token is valid but may not do this."""


class Conflict(ConfigServiceError):
    """409: the name is taken, or an application still has configurations."""


class PreconditionFailed(ConfigServiceError):
    """412: the resource changed since the ETag or version you named; nothing was changed.

    `current_version` is the version found, when the client checked an `expected_version`.
    """

    def __init__(self, message: str, *, current_version: int | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.current_version = current_version


class ValidationError(ConfigServiceError):
    """422: the request is invalid; `details` says where, as the service reported it."""


class SchemaViolation(ValidationError):
    """422 `schema_violation`: the document does not satisfy the configuration's JSON Schema,
    and nothing was written. (Also when a schema being set is not satisfied by the current
    document.)

    `violations` lists each one, every one at once (the service lists up to 100 and counts
    the rest in one more detail, without a keyword): its `path` (a JSON Pointer into the
    document), `keyword` and `message`; `location` says which document (`body.config`: the
    one sent; `config`: one kept, such as a version being restored).
    """

    @property
    def violations(self) -> tuple[ErrorDetail, ...]:
        return tuple(detail for detail in self.details if detail.keyword is not None)


class InvalidSchema(ValidationError):
    """422 `invalid_schema`: the schema sent is not a valid JSON Schema (or refers to another
    document, which the service never fetches); the detail's `path` points at the fault."""


class Unavailable(ConfigServiceError):
    """The service could not be reached or answered 5xx, after retries, and nothing was cached."""


class InvalidConfiguration(ConfigServiceError):
    """A configuration's document does not fit the model it was read as (`get(..., model=)`),
    and no earlier document that fits is known, in memory or in the cache directory.

    Attributes:
        application, name, version: the configuration, and the version that does not fit.
        model: the class it was read as.
        errors: the model's validation errors as it reported them (pydantic's `errors()`),
            without the values found (`input`), which may be secrets.
        details: each error as an `ErrorDetail`: a JSON Pointer (`/db/pool`) and its message.
    """

    def __init__(
        self,
        message: str,
        *,
        application: str,
        name: str,
        version: int,
        model: type,
        errors: tuple[dict[str, Any], ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.application = application
        self.name = name
        self.version = version
        self.model = model
        self.errors = errors
