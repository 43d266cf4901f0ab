"""Timestamps as the API shows them: RFC 3339 in UTC, with microseconds, always the same width."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from infra.timestamps import rfc3339


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (datetime(2026, 12, 2, 9, 59, 28, 432911, tzinfo=UTC), "2026-12-02T09:59:28.432911Z"),
        (datetime(2026, 1, 1, 0, 0, 0, 0, tzinfo=UTC), "2026-01-01T00:00:00.000000Z"),  # no microseconds
        (datetime(2026, 1, 1, 3, 30, 0, 5, tzinfo=timezone(timedelta(hours=5))), "2025-12-31T22:30:00.000005Z"),
        (datetime(5, 1, 1, tzinfo=UTC), "0005-01-01T00:00:00.000000Z"),  # four digits of year
    ],
)
def test_a_timestamp_is_shown_in_utc_with_microseconds(value, shown):
    assert rfc3339(value) == shown
