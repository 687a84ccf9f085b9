"""Reading instants and durations as users type them."""

from __future__ import annotations

import pytest

from pricecap.times import BadTimeError, format_ns, parse_duration, parse_instant

NOW = 1_764_064_800_123_456_789  # 2025-11-25T10:00:00.123456789Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-25T10:00:00Z", 1_764_064_800_000_000_000),
        ("2025-11-25T10:00:00", 1_764_064_800_000_000_000),
        ("2025-11-25 10:00", 1_764_064_800_000_000_000),
        ("2025-11-25", 1_764_028_800_000_000_000),
        ("2025-11-25T11:00:00+01:00", 1_764_064_800_000_000_000),
        ("2025-11-25T10:00:00.000837123Z", 1_764_064_800_000_837_123),
        ("2025-11-25T10:00:00.5Z", 1_764_064_800_500_000_000),
        ("1764064800123", 1_764_064_800_123_000_000),
        ("now", NOW),
        (" NOW ", NOW),
        ("-15m", NOW - 15 * 60 * 10**9),
        ("now-1h30m", NOW - 5400 * 10**9),
        ("-500ms", NOW - 500 * 10**6),
    ],
)
def test_instants(text: str, expected: int) -> None:
    assert parse_instant(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["yesterday", "", "2025-13-01", "-15", "now+1h", "-1y", "1e12", "2025-11-25T10:00:00Q", "99999-01-01"]
)
def test_bad_instants_are_one_readable_error(text: str) -> None:
    with pytest.raises(BadTimeError, match="bad time"):
        parse_instant(text, NOW)


def test_times_outside_what_influxdb_stores_are_refused() -> None:
    with pytest.raises(BadTimeError, match="1970-01-01 to 2262-01-01"):
        parse_instant("2300-01-01", NOW)
    with pytest.raises(BadTimeError, match="1970-01-01 to 2262-01-01"):
        parse_instant("1969-12-31T23:59:59Z", NOW)


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400 * 10**9
    assert parse_duration("7d") == 7 * 86400 * 10**9
    assert parse_duration("250ms") == 250 * 10**6
    for bad in ("0s", "1", "h", "1x", "-1m", "1.5h"):
        with pytest.raises(BadTimeError, match="bad duration"):
            parse_duration(bad)


def test_format() -> None:
    assert format_ns(1_764_064_800_123_000_000) == "2025-11-25T10:00:00.123Z"
    assert format_ns(1_764_064_800_000_837_123) == "2025-11-25T10:00:00.000837123Z"
    assert format_ns(1_764_064_800_000_000_000, "Europe/Berlin") == "2025-11-25T11:00:00.000+01:00"
    assert parse_instant(format_ns(NOW), 0) == NOW
