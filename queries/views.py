"""Read-optimised projections, returned by the query functions and sent to clients as they are.

A view that can be changed conditionally knows its ETag (`etag`, not part of the body): the
same tag the write side checks If-Match against.

A view is sent as `render()` makes it. A view that holds a document (a configuration's, a
version's, a schema) holds it as the text stored (infra/documents.py: keys in the order
written, numbers as written), and `render()` splices that text into the view's JSON: a
document is never parsed and dumped again on the way out.

A document with secret values (its `secrets` pointers) is stored with them sealed; its view is
shown `masked()` ("********" at each) or `revealed()` (opened), never as stored. A document
without secrets is shown as stored, at no cost.
"""

import hashlib
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_serializer

from infra.ids import UlidText
from infra.keyring import Keyring
from infra.sealing import mask_document, reveal_document
from infra.timestamps import Timestamp

# A document's stored JSON text, sent as it is; documented as the object it is.
RawDocument = Annotated[
    str, WithJsonSchema({"type": "object", "additionalProperties": True, "description": "The document as written"})
]
# Stands for a document while the rest of a view is dumped: no string of a view can hold a
# NUL (the API refuses it, PostgreSQL cannot store it), so its JSON appears nowhere else.
_HOLE = "\x00"
_HOLE_JSON = b'"\\u0000"'


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)

    def render(self) -> bytes:
        """The view's JSON, as sent."""
        return self.model_dump_json().encode()


class _DocumentView(_View):
    """A view with a document (in the field `document_field`), kept as its stored text."""

    document_field: ClassVar[str] = "config"

    def render(self) -> bytes:
        field = self.document_field
        body = self.model_copy(update={field: _HOLE}).model_dump_json().encode()
        return body.replace(_HOLE_JSON, getattr(self, field).encode(), 1)


SECRETS_DESCRIPTION = (
    'JSON Pointers (RFC 6901) of the secret values: stored encrypted, shown as "********" unless the token may see them'
)


class _SecretsView(_DocumentView):
    """A document view whose `config` may hold secret values (at its `secrets` pointers)."""

    def masked(self) -> Self:
        """As those who may not see the secret values see it."""
        if not self.secrets:
            return self
        return self.model_copy(update={"config": mask_document(self.config, self.secrets)})

    def revealed(self, keyring: Keyring | None, configuration_id: str) -> Self:
        """As those who may see them see it."""
        if not self.secrets:
            return self
        return self.model_copy(update={"config": reveal_document(self.config, self.secrets, keyring, configuration_id)})

    def shown(self, reveal: bool, keyring: Keyring | None, configuration_id: str) -> Self:
        return self.revealed(keyring, configuration_id) if reveal else self.masked()


class ApplicationRecord(_View):
    """An application's own fields: what a write of it answers."""

    id: UlidText
    name: str
    comments: str | None
    version: int = Field(description="1 at creation, +1 on each change")
    created_at: Timestamp
    updated_at: Timestamp


class ApplicationSummary(ApplicationRecord):
    """One application in the list, with what an overview shows of its configurations."""

    configuration_count: int
    changed_at: Timestamp = Field(
        description="The latest change to the application or any of its configurations, deletions included"
    )


class ApplicationView(ApplicationRecord):
    """An application with the ids of all its configurations, in id (creation) order."""

    configuration_ids: list[UlidText]
    etag: str = Field(exclude=True)


class ConfigurationView(_SecretsView):
    id: UlidText
    application_id: UlidText
    name: str
    comments: str | None
    config: RawDocument
    secrets: list[str] = Field(default_factory=list, description=SECRETS_DESCRIPTION)
    version: int = Field(description="1 at creation, +1 on each change")
    created_at: Timestamp
    updated_at: Timestamp
    release: Literal["immediate", "staged"] = Field(
        "immediate",
        description="'immediate': every change is live at once; 'staged': clients get live_version until a "
        "rollout moves them",
    )
    live_version: int = Field(description="The version client services are served (/config)")
    revision: int = Field(exclude=True)

    @property
    def etag(self) -> str:
        return str(self.revision)


class ServedVersion(ConfigurationView):
    """What a client of a staged configuration is served: one version's name, comments and
    document (`version`; `updated_at` is when it was made), with the configuration's release
    and live version. Its ETag changes with either."""

    @property
    def etag(self) -> str:
        return f"{self.revision}.{self.live_version}"


class VersionView(_SecretsView):
    """One version of a configuration, as it was made; versions never change."""

    version: int
    revision: int = Field(description="The change that made this version (see /changes)")
    name: str
    comments: str | None
    config: RawDocument
    secrets: list[str] = Field(default_factory=list, description=SECRETS_DESCRIPTION)
    created_at: Timestamp
    actor: str | None = Field(description="Who made it; null when access control is off")

    @property
    def etag(self) -> str:
        return str(self.revision)


class SchemaView(_DocumentView):
    """A configuration's JSON Schema. Its ETag is its revision."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)
    document_field: ClassVar[str] = "json_schema"

    configuration_id: UlidText
    json_schema: RawDocument = Field(alias="schema", description="The schema as written")
    draft: Literal["2020-12", "2019-09", "draft-07"] = Field(description="From its $schema; 2020-12 without one")
    version: int = Field(description="1 when first set, +1 on each change (continuing after a removal)")
    revision: int = Field(description="The change that made this version (see /changes); also its ETag")
    created_at: Timestamp
    updated_at: Timestamp

    @property
    def etag(self) -> str:
        return str(self.revision)


class SchemaVersionView(_DocumentView):
    """One version of a configuration's schema, as it was set; versions never change."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)
    document_field: ClassVar[str] = "json_schema"

    version: int
    revision: int = Field(description="The change that made this version (see /changes)")
    json_schema: RawDocument = Field(alias="schema", description="The schema as written")
    draft: Literal["2020-12", "2019-09", "draft-07"]
    created_at: Timestamp
    actor: str | None = Field(description="Who set it; null when access control is off")

    @property
    def etag(self) -> str:
        return str(self.revision)


class ChangeView(_View):
    """One entry of the change feed: one accepted change."""

    revision: int
    at: Timestamp
    actor: str | None
    request_id: str | None
    action: Literal[
        "created",
        "updated",
        "deleted",
        "restored",
        "started",
        "step",
        "paused",
        "resumed",
        "rolled_back",
        "promoted",
        "completed",
    ]
    kind: Literal["application", "configuration", "schema", "rollout"]
    id: UlidText = Field(
        description="The changed resource's id: the application's, the configuration's, the rollout's; "
        "for kind 'schema', its configuration's"
    )
    application_id: UlidText = Field(description="The application's own id for kind 'application'")
    name: str = Field(description="The application's or the configuration's name")
    version: int = Field(description="For a rollout, the version it moves clients to")
    configuration_id: UlidText | None = Field(None, description="A rollout's configuration")
    percent: int | None = Field(None, description="A rollout's share of clients after the event (0: rolled back)")
    reason: str | None = Field(None, description="Why a rollout was rolled back, promoted or completed")

    @model_serializer(mode="wrap")
    def _rollout_fields_only_for_rollouts(self, handler):
        # Entries of other kinds keep the shape they always had.
        data = handler(self)
        for key in ("configuration_id", "percent", "reason"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class Page[T](BaseModel):
    """One page of a list; `next_after` is set while more remain."""

    items: list[T]
    next_after: str | None


def page_of[T: BaseModel](model: type[T], rows: list[dict], limit: int, key: str) -> Page[T]:
    """A page from up to `limit + 1` rows: the extra row only says that more follow."""
    items = [model(**row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page[model](items=items, next_after=str(getattr(items[-1], key)) if more else None)


class ApplicationBrief(_View):
    """What a client service needs to know of its application."""

    id: UlidText
    name: str
    comments: str | None
    version: int


class ConfigurationBundle(_View):
    """Everything a service needs at start-up, in one request: its application and all of its
    configurations, by name."""

    application: ApplicationBrief
    configurations: list[ConfigurationView]


def application_etag(revision: int, configuration_ids: list[str]) -> str:
    """An application's ETag: its revision and a digest of its configuration ids (they are part
    of its view). The same as the database's application_etag(), which the write side checks
    If-Match against (migrations/0006)."""
    ids = ",".join(sorted(configuration_ids)).encode()
    return f"{revision}-{hashlib.md5(ids, usedforsecurity=False).hexdigest()[:12]}"


def json_array(items: list[bytes]) -> bytes:
    """A JSON array of items already rendered as JSON."""
    return b"[" + b",".join(items) + b"]"


def render_bundle(application: bytes, configurations: list[bytes]) -> bytes:
    """A bundle's JSON from its parts' JSON: the same bytes as ConfigurationBundle would dump,
    so a bundle put together from held views and one read whole are the same."""
    return b'{"application":' + application + b',"configurations":' + json_array(configurations) + b"}"


def digest(body: bytes) -> str:
    """The ETag of a view that has no revision of its own (a page, a bundle): its bytes' digest."""
    return hashlib.blake2b(body, digest_size=12).hexdigest()
