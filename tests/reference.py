"""Python reference answers for the queries, computed from the generated trades themselves.

They follow docs/guides/queries.md, not the Flux: the last trade at or before an instant is the one
with the highest (trade time, trade id); a range is ``[start, stop)`` on the point timestamps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from pricecap import model
from pricecap.model import Trade


@dataclass(frozen=True)
class Point:
    """A generated trade as it is stored."""

    trade: Trade

    @property
    def ts(self) -> int:
        return model.timestamp_ns(self.trade.time_ms, self.trade.trade_id)

    @property
    def order(self) -> tuple[int, int]:
        return (self.trade.time_ms, self.trade.trade_id)

    @property
    def price(self) -> float:
        return float(self.trade.price)


def price_at(points: Sequence[Point], at_ns: int, lookback_ns: int, nearest: bool) -> Point | None:
    """The trade in force at ``at_ns`` (or the nearest one either side), within the look-back."""
    stop = model.time_ms_of(at_ns) * model.NS_PER_MS + model.NS_PER_MS
    before = [p for p in points if stop - lookback_ns <= p.ts < stop]
    best = max(before, key=lambda p: p.order, default=None)
    if not nearest:
        return best
    after = [p for p in points if stop <= p.ts < stop + lookback_ns]
    following = min(after, key=lambda p: p.order, default=None)
    candidates = [p for p in (best, following) if p is not None]
    return min(candidates, key=lambda p: abs(at_ns - p.trade.time_ms * model.NS_PER_MS), default=None)


@dataclass(frozen=True)
class Ohlcv:
    """What a range or window holds."""

    open: float
    high: float
    high_ts: int
    low: float
    low_ts: int
    close: float
    volume: float
    trades: int

    @property
    def prices(self) -> tuple[float, float, float, float]:
        """Open, high, low and close."""
        return self.open, self.high, self.low, self.close


def ohlcv(points: Sequence[Point], start_ns: int, stop_ns: int) -> Ohlcv | None:
    """Open and close by trade order; high and low with the first point at them in timestamp order."""
    inside = sorted((p for p in points if start_ns <= p.ts < stop_ns), key=lambda p: p.ts)
    if not inside:
        return None
    by_order = sorted(inside, key=lambda p: p.order)
    high = max(p.price for p in inside)
    low = min(p.price for p in inside)
    return Ohlcv(
        open=by_order[0].price,
        high=high,
        high_ts=next(p.ts for p in inside if p.price == high),
        low=low,
        low_ts=next(p.ts for p in inside if p.price == low),
        close=by_order[-1].price,
        volume=sum(float(p.trade.qty) for p in inside),
        trades=len(inside),
    )


def windows(start_ns: int, stop_ns: int, every: timedelta, zone: str) -> Iterator[tuple[int, int]]:
    """Calendar windows of ``every`` (a whole number of days aligns to local midnight) clipped to the range."""
    tz = ZoneInfo(zone)
    if every % timedelta(days=1) == timedelta(0):
        day = datetime.fromtimestamp(start_ns // 10**9, tz).replace(hour=0, minute=0, second=0, tzinfo=None)
        bounds = []
        while True:
            bounds.append(int(day.replace(tzinfo=tz).astimezone(UTC).timestamp()) * 10**9)
            if bounds[-1] >= stop_ns:
                break
            day += every
    else:
        step = every // timedelta(microseconds=1) * 1000
        first = start_ns - start_ns % step
        bounds = list(range(first, stop_ns + step, step))
    for lo, hi in pairwise(bounds):
        if hi > start_ns and lo < stop_ns:
            yield max(lo, start_ns), min(hi, stop_ns)


EVERY = {"1m": timedelta(minutes=1), "15m": timedelta(minutes=15), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
"""The window lengths the tests ask candles for."""


def candles(
    points: Sequence[Point], start_ns: int, stop_ns: int, every: str, zone: str
) -> list[tuple[int, float | None, float | None, float | None, float | None, int]]:
    """(start, open, high, low, close, trades) per window of :func:`windows`; no prices where nothing traded."""
    result: list[tuple[int, float | None, float | None, float | None, float | None, int]] = []
    for lo, hi in windows(start_ns, stop_ns, EVERY[every], zone):
        found = ohlcv(points, lo, hi)
        result.append((lo, None, None, None, None, 0) if found is None else (lo, *found.prices, found.trades))
    return result
