"""A committed change, as the write side reports it and the read side applies it.

The write side makes one when a command commits (with the row its write left, so that this
instance can show it at once); the read side makes the same from each change the database
announces (without the row: the read side reads it again). Both go through one place,
`queries.follow.ReadSide.apply`.
"""

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["application", "configuration", "schema", "token", "rollout", "report", "sightings"]


@dataclass(frozen=True, slots=True)
class Committed:
    revision: int | None  # the change's revision; None for tokens, which are not revisions
    kind: Kind
    # created, updated, deleted, restored; for tokens created or revoked; for a rollout its
    # state after the event (the event itself is in the feed)
    action: str
    id: str  # for kind 'schema': its configuration's
    application_id: str | None = None  # an application's own id for kind 'application'
    name: str | None = None  # the name after the change
    row: dict[str, Any] | None = None  # the row as the write left it; None when deleted or not known
    configuration_id: str | None = None  # a rollout's configuration

    @property
    def removed(self) -> bool:
        return self.action in ("deleted", "revoked")
