"""What the database announces on its channel: each change's feed entry, as JSON
(migrations/0003). The read model and the feed both follow them."""

import logging

from pydantic import ValidationError

from queries.views import ChangeView

log = logging.getLogger(__name__)


def parse_announcements(payloads: list[str]) -> list[ChangeView] | None:
    """The changes announced, in order; None if any payload is not a change (someone else
    NOTIFYing on the channel), after which nothing held can be trusted."""
    changes = []
    for payload in payloads:
        try:
            changes.append(ChangeView.model_validate_json(payload))
        except ValidationError:
            log.warning("an announcement that is not a change: %.200r; dropping every held view", payload)
            return None
    return changes
