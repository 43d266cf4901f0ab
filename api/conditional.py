"""Conditional requests (RFC 9110): ETag out, If-None-Match and If-Match in.

Tags are strong: a view's tag changes when, and only when, its body changes.
"""

import re

from fastapi import Request
from fastapi.responses import Response

from api.routing import header
from commands.preconditions import ANY, IfMatch

_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')

IF_MATCH_DOC = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "Change only if the resource's current ETag is one of these (or `*`); else 412",
    "schema": {"type": "string"},
}
IF_NONE_MATCH_DOC = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "304 with no body if the current ETag is one of these",
    "schema": {"type": "string"},
}
ETAG_HEADER = {"ETag": {"description": "The view's entity tag (strong)", "schema": {"type": "string"}}}


def quoted(etag: str) -> str:
    return f'"{etag}"'


def _tags(value: str) -> list[tuple[bool, str]]:
    """(weak, opaque tag) of each entity tag in a header; a bare token counts as one tag."""
    value = value.strip()
    tags, position = [], 0
    while position < len(value):
        match = _TAG.match(value, position)
        if match is None:
            # Not a list of quoted tags: be lenient with clients that forget the quotes.
            return [(False, part.strip()) for part in value.split(",") if part.strip()]
        tags.append((bool(match.group(1)), match.group(2)))
        position = match.end()
    return tags


def if_match(request: Request) -> IfMatch:
    """The If-Match condition of a request; weak tags never match (strong comparison)."""
    value = header(request, b"if-match")
    if value is None:
        return None
    if value.strip() == ANY:
        return (ANY,)
    return tuple(tag for weak, tag in _tags(value) if not weak) or ("",)


def not_modified(request: Request, etag: str) -> bool:
    """Whether If-None-Match names the current tag (weak comparison) or is `*`."""
    value = header(request, b"if-none-match")
    if value is None:
        return False
    if value.strip() == ANY:
        return True
    return any(tag == etag for _, tag in _tags(value))


def not_modified_response(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": quoted(etag)})
