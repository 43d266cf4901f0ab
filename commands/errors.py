"""What a write can fail on, in the domain's words; the API decides the HTTP status."""

from typing import NamedTuple


class NotFound(Exception):
    """The resource the command names does not exist."""


class Conflict(Exception):
    """The change would break a rule of the current state (a name already taken, an
    application that still has configurations)."""


class Forbidden(Exception):
    """The token may change this resource, but not in this way."""


class PreconditionFailed(Exception):
    """The resource is no longer in the state the change was made for (If-Match)."""


class InvalidCommand(Exception):
    """The command is well-formed but cannot apply: it names a missing application, or
    changes what cannot change. `field` names the part of the request at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NoSchema(NotFound):
    """The configuration exists but has no schema."""


class InvalidSchema(Exception):
    """A schema that is not a valid JSON Schema (or one the service will not use: a remote
    $ref). `path`: the JSON Pointer, in the schema, of what is at fault."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class Violation(NamedTuple):
    """Where a document fails its schema: the JSON Pointer of the value at fault, why, and the
    schema keyword that failed."""

    path: str
    message: str
    keyword: str


class SchemaViolations(Exception):
    """The document does not satisfy the configuration's schema: every violation, and where
    the document was (`location`: body.config for a document sent, config for one already
    kept: a version restored, or the current one under a new schema)."""

    def __init__(self, violations: list[Violation], location: str, more: int = 0) -> None:
        count = len(violations) + more
        super().__init__(
            f"the document does not satisfy the configuration's schema ({count} violation{'s' if count != 1 else ''})"
        )
        self.violations = violations
        self.location = location
        self.more = more  # violations beyond those listed
