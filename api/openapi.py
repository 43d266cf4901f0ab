"""Pieces of the OpenAPI document that several routers declare."""

from api.conditional import IF_MATCH_DOC, IF_NONE_MATCH_DOC

LINK = {
    "Link": {
        "description": 'URL of the next page, as `<url>; rel="next"`, while more remain',
        "schema": {"type": "string"},
    }
}
NOT_MODIFIED = {304: {"description": "Not modified"}}
CONDITIONAL_GET = {"parameters": [IF_NONE_MATCH_DOC]}
CONDITIONAL_CHANGE = {"parameters": [IF_MATCH_DOC]}
MERGE_PATCH = "application/merge-patch+json"


def location(what: str) -> dict:
    return {"Location": {"description": f"URL of the new {what}", "schema": {"type": "string"}}}
