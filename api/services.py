"""What the routes work with, made once by the app's lifespan (api/app.py), and who asks."""

from dataclasses import dataclass

from fastapi import Request

from api.auth import client_sees_secrets, principal, sees_secrets
from api.errors import request_id
from api.token_use import TokenUses
from commands.bus import CommandBus
from infra.access import Among
from infra.database import Database
from infra.health import DatabaseCheck
from infra.writes import Caller
from queries.feed import ChangeFeed
from queries.fleet import Sightings
from queries.read_model import ReadModel
from queries.sources import ReadSources
from queries.tokens import TokenTable


@dataclass(frozen=True)
class Services:
    db: Database
    bus: CommandBus  # every change goes through it
    reads: ReadModel
    sources: ReadSources  # reads a replica may serve (lists, history): queries/sources.py
    feed: ChangeFeed
    tokens: TokenTable
    health: DatabaseCheck  # what /health answers from
    token_uses: TokenUses  # when tokens were last used, not written yet
    sightings: Sightings  # which client holds which version, noted since the last flush
    client_ttl: float  # seconds a client seen stays in the fleet view

    def end_waits(self) -> None:
        """Shutting down: held requests (watches, feed waits) answer now."""
        self.reads.end_watches()
        self.feed.end_waits()


def services(request: Request) -> Services:
    return request.app.state.services


def caller(request: Request) -> Caller:
    """Who makes a change (the token's name and limit), and in which request."""
    who = principal(request)
    return Caller(actor=who.name, request_id=request_id(request), applications=who.applications)


def among(request: Request) -> Among:
    """The applications the request's token may see; None: every one."""
    return principal(request).applications


def reveals(request: Request) -> bool:
    """Whether the admin views show this request's token the secret values (api/auth.py)."""
    return sees_secrets(principal(request))


def reveals_to_client(request: Request) -> bool:
    """Whether /config shows this request's token the secret values (api/auth.py)."""
    return client_sees_secrets(principal(request))
