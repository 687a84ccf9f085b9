"""Instants and durations as users type them, turned into integer nanoseconds since the epoch (UTC).

Accepted instants:

- ISO-8601 with a zone (``2026-11-25T10:00:00Z``, ``2026-11-25T11:00:00.123+01:00``) or without one, which
  means UTC (``2026-11-25``, ``2026-11-25 10:00``); up to nine fractional digits are kept;
- epoch milliseconds, Binance's own unit (``1732530000123``);
- ``now`` and relative forms counted from now: ``-15m``, ``now-2h``, ``-1d12h`` (units ``ms s m h d w``).

Everything is an ``int`` of nanoseconds, never a ``datetime``, which stops at microseconds.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pricecap.errors import ExitCode, PricecapError

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
UNIT_NS = {
    "ms": NS_PER_MS,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "d": 86400 * NS_PER_S,
    "w": 7 * 86400 * NS_PER_S,
}
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w))+").fullmatch
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
_RELATIVE = re.compile(r"(?:now)?\s*-\s*(.+)").fullmatch
_EPOCH_MS = re.compile(r"[0-9]{1,15}").fullmatch
_FRACTION = re.compile(r"(\d{2}:\d{2}:\d{2})[.,](\d{1,9})")
EARLIEST_NS = 0
LATEST_NS = 9_214_646_400 * NS_PER_S
"""2262-01-01T00:00:00Z: InfluxDB's times are signed 64-bit nanoseconds, which end in April 2262."""


class BadTimeError(PricecapError):
    """An instant or duration the user typed cannot be read."""

    exit_code = ExitCode.BAD_TIME


def parse_duration(text: str) -> int:
    """``"15m"``, ``"1h30m"``, ``"500ms"`` as nanoseconds (positive)."""
    compact = text.strip().replace(" ", "")
    if not _DURATION(compact):
        raise BadTimeError(f"bad duration {text!r}: use a number and a unit, e.g. 90s, 15m, 1h30m, 7d")
    total = sum(int(n) * UNIT_NS[unit] for n, unit in _DURATION_PART.findall(compact))
    if total <= 0:
        raise BadTimeError(f"bad duration {text!r}: it must be longer than zero")
    if total > LATEST_NS - EARLIEST_NS:
        longest = (LATEST_NS - EARLIEST_NS) // UNIT_NS["d"]
        raise BadTimeError(f"bad duration {text!r}: InfluxDB's times end in 2262, so at most {longest}d")
    return total


def format_duration(ns: int) -> str:
    """A duration as people write it: ``30d``, ``1h30m``, ``2m5s``, ``250ms`` (negative with a ``-``)."""
    sign, rest = ("-", -ns) if ns < 0 else ("", ns)
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        count, rest = divmod(rest, UNIT_NS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0s")


def parse_instant(text: str, now_ns: int | None = None) -> int:
    """An instant as nanoseconds since the epoch; raises :class:`BadTimeError` with a hint on bad input."""
    value = text.strip()
    now = time.time_ns() if now_ns is None else now_ns
    if value.lower() == "now":
        return now
    if relative := _RELATIVE(value.lower()):
        try:
            return _checked(now - parse_duration(relative.group(1)), text)
        except BadTimeError:
            raise BadTimeError(f"bad time {text!r}: a relative time looks like -15m, -2h or now-1d") from None
    if _EPOCH_MS(value):
        return _checked(int(value) * NS_PER_MS, text)
    return _checked(_parse_iso(value, text), text)


def _parse_iso(value: str, text: str) -> int:
    """ISO-8601, naive meaning UTC, with the fraction kept to the nanosecond."""
    fraction_ns = 0
    if match := _FRACTION.search(value):
        digits = match.group(2)
        fraction_ns = int(digits.ljust(9, "0"))
        value = value[: match.start()] + match.group(1) + value[match.end() :]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadTimeError(
            f"bad time {text!r}: use ISO-8601 (2026-11-25T10:00:00Z), epoch milliseconds, now, or -15m"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _timestamp_ns(parsed) + fraction_ns


def _timestamp_ns(moment: datetime) -> int:
    """Exact nanoseconds of a whole-second-or-microsecond aware datetime (no float rounding)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def _checked(ns: int, text: str) -> int:
    if not EARLIEST_NS <= ns <= LATEST_NS:
        raise BadTimeError(f"bad time {text!r}: InfluxDB stores times from 1970-01-01 to 2262-01-01")
    return ns


def format_ns(ns: int, zone: str = "UTC") -> str:
    """An instant as ISO-8601 with milliseconds (all nine digits when the sub-millisecond ones are not zero),
    in UTC (``Z``) or with the offset of an IANA time zone."""
    seconds, rest = divmod(ns, NS_PER_S)
    moment = datetime.fromtimestamp(seconds, UTC if zone == "UTC" else ZoneInfo(zone))
    fraction = f"{rest // NS_PER_MS:03d}" if rest % NS_PER_MS == 0 else f"{rest:09d}"
    offset = "Z" if zone == "UTC" else moment.strftime("%z")
    if offset != "Z":
        offset = f"{offset[:3]}:{offset[3:]}"
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{fraction}{offset}"
