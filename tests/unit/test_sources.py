"""sources.parse_time: the service's RFC 3339 timestamps, 7 fractional digits and offsets included."""

from datetime import UTC, datetime

import pytest

from ingest_core.sources import parse_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2099-12-31T23:59:59.0000000Z", datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2025-10-26T17:39:07.4852296Z", datetime(2025, 10, 26, 17, 39, 7, 485229, tzinfo=UTC)),
        ("2025-10-26T17:39:07.4852296+00:00", datetime(2025, 10, 26, 17, 39, 7, 485229, tzinfo=UTC)),
        ("2025-10-26T19:39:07.5+02:00", datetime(2025, 10, 26, 17, 39, 7, 500000, tzinfo=UTC)),
        ("2025-10-26T17:39:07", datetime(2025, 10, 26, 17, 39, 7, tzinfo=UTC)),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


def test_empty_is_none():
    assert parse_time("") is None and parse_time(None) is None
