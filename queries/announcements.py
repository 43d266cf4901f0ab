"""What the database announces on its channel: each change's feed entry, as JSON
(migrations/0003), {"token": "<id>"} when a token changes (migrations/0005), and
{"secrets_keys": "<key id>"} when a key was added to the secret keys (`pipenv run secrets
rotate`: migrations/0011)."""

import json
import logging
from dataclasses import dataclass, field

from pydantic import ValidationError

from infra.events import Committed
from queries.views import ChangeView

log = logging.getLogger(__name__)

# How a token's announcement begins (migrations/0005: json_build_object('token', id)).
TOKEN_ANNOUNCEMENT = '{"token"'
# How a rotation's announcement begins: every instance reads its key file again.
KEYS_ANNOUNCEMENT = '{"secrets_keys"'


@dataclass
class Announced:
    changes: list[ChangeView] = field(default_factory=list)
    tokens_changed: bool = False
    keys_changed: bool = False


def parse_announcements(payloads: list[str]) -> Announced | None:
    """The changes announced, in order; None if any payload is neither a change nor a token's
    (someone else NOTIFYing on the channel), after which no view held can be trusted."""
    announced = Announced()
    for payload in payloads:
        try:
            if payload.startswith(TOKEN_ANNOUNCEMENT):
                json.loads(payload)
                announced.tokens_changed = True
            elif payload.startswith(KEYS_ANNOUNCEMENT):
                json.loads(payload)
                announced.keys_changed = True
            else:
                announced.changes.append(ChangeView.model_validate_json(payload))
        except (ValidationError, ValueError):
            log.warning("an announcement that is not a change: %.200r; dropping every held view", payload)
            return None
    return announced


def committed_of(change: ChangeView) -> Committed:
    """An announced change (a feed entry) as the event the read side applies: without its row."""
    return Committed(
        change.revision,
        change.kind,
        change.action,
        change.id,
        change.application_id,
        change.name,
        configuration_id=change.configuration_id,
    )
