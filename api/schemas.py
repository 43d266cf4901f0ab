"""Request and response bodies of the HTTP API.

Names count characters (as PostgreSQL's varchar does), so multibyte text up to the limit
fits. Text that PostgreSQL cannot store (NUL, unpaired surrogates) is refused here with a 422,
as are unknown fields.
"""

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from infra.ids import Ulid, UlidText

MAX_CONFIG_DEPTH = 64
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> str:
    if _UNSTORABLE.search(text):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
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


Name = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_storable)]
Comments = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_storable)] | None
ConfigDocument = Annotated[dict[str, Any], AfterValidator(_json_document)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApplicationCreate(_Body):
    name: Name
    comments: Comments = None


class ApplicationUpdate(_Body):
    """Replaces name and comments (an omitted comments becomes null)."""

    name: Name
    comments: Comments = None


class ApplicationOut(BaseModel):
    id: UlidText
    name: str
    comments: str | None


class ConfigurationCreate(_Body):
    application_id: Ulid
    name: Name
    comments: Comments = None
    config: ConfigDocument


class ConfigurationUpdate(_Body):
    """Replaces name, comments and config. `application_id` may be sent, but only unchanged."""

    name: Name
    comments: Comments = None
    config: ConfigDocument
    application_id: Ulid | None = None
