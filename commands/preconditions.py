"""If-Match: the entity tags a change is made for (RFC 9110, strong comparison).

The condition is part of the statement that makes the change, so the check and the write
are one atomic step: of concurrent changes made for the same tag, one wins and the others
find the row changed.
"""

from commands.errors import PreconditionFailed

# The opaque tags (no quotes) a client accepts, ('*',) for any current one; None: no condition.
IfMatch = tuple[str, ...] | None

ANY = "*"


def if_match_sql(etag: str) -> str:
    """The SQL condition, given the SQL expression of the row's current tag."""
    return f"(%(if_match)s::text[] IS NULL OR '*' = ANY(%(if_match)s::text[]) OR {etag} = ANY(%(if_match)s::text[]))"


def if_match_param(if_match: IfMatch) -> list[str] | None:
    return None if if_match is None else list(if_match)


def matches(if_match: IfMatch, etag: str | None) -> bool:
    """Whether a resource whose current tag is `etag` (None: it has none) meets the condition."""
    if if_match is None:
        return True
    return etag is not None and (ANY in if_match or etag in if_match)


def check(if_match: IfMatch, etag: str | None, what: str) -> None:
    if not matches(if_match, etag):
        raise PreconditionFailed(f"{what} has changed since the ETag you sent (If-Match); read it again")
