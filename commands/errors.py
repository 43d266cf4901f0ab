"""What a write can fail on, in the domain's words; the API decides the HTTP status."""


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
