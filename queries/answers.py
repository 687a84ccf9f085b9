"""Turning the records of the ``.flux`` files into typed answers: pure functions, no I/O (tested offline).

Where the order of trades matters (the open and close of a range, the last trade before an instant), the
trade id decides, as the timestamp rule asks (docs/concepts): ``_time`` order differs from trade order inside a
millisecond where the ids cross a multiple of 1,000,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pricecap import model
from queries.models import Candle, Extreme, PriceAt, StoredTrade, Summary

Fill = Literal["previous", "null", "none"]
FILLS: tuple[Fill, ...] = ("previous", "null", "none")


@dataclass(frozen=True, slots=True)
class Request:
    """One instant to price: the symbol and the instant in ns."""

    symbol: str
    at_ns: int


def stored_trade(symbol: str, row: dict[str, Any]) -> StoredTrade:
    """The trade in a row of price_at.flux or prices_at.flux."""
    return StoredTrade(
        symbol=symbol,
        trade_id=int(row["trade_id"]),
        time_ns=int(row["time_ns"]),
        price=float(row["price"]),
        qty=float(row["qty"]),
        buyer_maker=bool(row["buyer_maker"]),
    )


def price(request: Request, rows: Sequence[dict[str, Any]]) -> PriceAt | None:
    """The answer of price_at.flux: its rows are the trade before the instant and, if asked, the one after."""
    sides = {row["side"]: stored_trade(request.symbol, row) for row in rows}
    return nearest(request, sides.get("before"), sides.get("after"))


@dataclass(frozen=True, slots=True)
class Range:
    """One look-up of prices_at.flux: a market's ``[start, stop)`` in ns."""

    symbol: str
    start: int
    stop: int


def edges(
    ranges: Sequence[Range], rows: Iterable[dict[str, Any]], first: bool
) -> tuple[dict[Range, StoredTrade], list[Range]]:
    """The trades of prices_at.flux rows per range, and the ranges whose answer needs its millisecond read whole.

    The last point of a range is the last trade unless its millisecond holds ids across a multiple of
    1,000,000: then the point with the greatest _time has an id ending in 999999, and a trade with a greater id
    (a smaller _time) may follow it; likewise the first point of a range, with an id ending in 000000, may have a
    trade with a smaller id in its millisecond. A range with a partial point (a field missing) is unsure too.
    """
    wanted = set(ranges)
    by_range: dict[Range, list[dict[str, Any]]] = {}
    for row in rows:
        key = Range(str(row["symbol"]), int(row["start_ns"]), int(row["stop_ns"]))
        if key in wanted:
            by_range.setdefault(key, []).append(row)
    suspect = 0 if first else model.SUB_MS_SLOTS - 1
    found: dict[Range, StoredTrade] = {}
    unsure: list[Range] = []
    for key, found_rows in by_range.items():
        row = found_rows[0]
        if (
            len(found_rows) > 1
            or any(row[f] is None for f in model.FIELDS)
            or int(row["trade_id"]) % model.SUB_MS_SLOTS == suspect
        ):
            unsure.append(key)
        else:
            found[key] = stored_trade(key.symbol, row)
    return found, unsure


def nearest(request: Request, before: StoredTrade | None, after: StoredTrade | None) -> PriceAt | None:
    """The closer of two trades in time; a tie goes to the trade before (the price in force)."""
    candidates = [t for t in (before, after) if t is not None]
    if not candidates:
        return None
    best = min(candidates, key=lambda t: abs(request.at_ns - t.time_ms * 1_000_000))
    return PriceAt(request.symbol, request.at_ns, best)


@dataclass
class _Aggregates:
    """The named rows of high_low.flux or candles.flux for one range or window."""

    values: dict[str, float]
    times: dict[str, int]


def _group(rows: Iterable[dict[str, Any]], key: str | None) -> dict[int, _Aggregates]:
    groups: dict[int, _Aggregates] = {}
    for row in rows:
        group = groups.setdefault(int(row[key]) if key else 0, _Aggregates({}, {}))
        group.values[row["name"]] = float(row["value"])
        group.times[row["name"]] = int(row["time_ns"])
    return groups


def edge_corrections(aggregates: _Aggregates) -> list[int]:
    """Point times whose price must replace the open or close, because another trade id is first or last."""
    values, times = aggregates.values, aggregates.times
    needed = []
    if "open_id" in values and values["open_id"] != values["first_id"]:
        needed.append(times["first_id"])
    if "close_id" in values and values["close_id"] != values["last_id"]:
        needed.append(times["last_id"])
    return needed


def flagged_minutes(rows: Iterable[dict[str, Any]]) -> tuple[int | None, int | None]:
    """Of high_low_candles.flux rows: the start of the first candle if its open is not the trade-id one, and
    of the last candle if its close is not (see candles_task.flux); None where they are right."""
    group = _group(rows, None).get(0)
    if group is None:
        return None, None
    values, times = group.values, group.times
    opening = times["open"] if values["open_id"] != values["first_id"] else None
    closing = times["close"] if values["close_id"] != values["last_id"] else None
    return opening, closing


def corrections_needed(rows: Iterable[dict[str, Any]], key: str | None = None) -> list[int]:
    """Every point time (ns) whose price the open/close of some range or window needs (usually none)."""
    return [t for group in _group(rows, key).values() for t in edge_corrections(group)]


def _ohlc(aggregates: _Aggregates, prices_at_times: dict[int, float]) -> tuple[float, float, float, float]:
    """Open, high, low, close; the open and close by trade id (see :func:`edge_corrections`)."""
    values, times = aggregates.values, aggregates.times
    open_, close = values["open"], values["close"]
    if "raw_first_id" in values:  # candles: the caller reads a flagged open or close from raw trades
        return open_, values["high"], values["low"], close
    if values["open_id"] != values["first_id"]:
        open_ = prices_at_times[times["first_id"]]
    if values["close_id"] != values["last_id"]:
        close = prices_at_times[times["last_id"]]
    return open_, values["high"], values["low"], close


def summary(
    symbol: str, start_ns: int, stop_ns: int, rows: Iterable[dict[str, Any]], prices_at_times: dict[int, float]
) -> Summary | None:
    """The summary of high_low.flux (or high_low_candles.flux) rows, or None when the range holds no trade.

    For candles, None also when they do not provably hold every trade of the range (see that file).
    """
    group = _group(rows, None).get(0)
    if group is None or group.values.get("trades", 0) == 0:
        return None
    values = group.values
    if "raw_first_id" in values and not (
        values["first_id"] == values["raw_first_id"]
        and values["last_id"] == values["raw_last_id"]
        and values["trades"] == values["last_id"] - values["first_id"] + 1
    ):
        return None
    open_, high, low, close = _ohlc(group, prices_at_times)
    return Summary(
        symbol=symbol,
        start_ns=start_ns,
        stop_ns=stop_ns,
        open=open_,
        high=Extreme(high, group.times["high"]),
        low=Extreme(low, group.times["low"]),
        close=close,
        volume=group.values["volume"],
        trades=int(group.values["trades"]),
        first_trade_id=int(group.values["first_id"]),
        last_trade_id=int(group.values["last_id"]),
    )


def candles(
    rows: Sequence[dict[str, Any]], prices_at_times: dict[int, float], fill: Fill, previous_close: float | None
) -> list[Candle]:
    """The candles of candles.flux rows, in time order, with empty windows filled as ``fill`` says.

    ``previous``: an empty window is a flat candle at the last close (Binance's klines do the same), or has no
    prices when nothing traded before it; ``null``: empty windows carry no prices; ``none``: they are left out.
    """
    stops = {int(row["start_ns"]): int(row["stop_ns"]) for row in rows if row["name"] == "trades"}
    result: list[Candle] = []
    close = previous_close
    for start, group in sorted(_group(rows, "start_ns").items()):
        trades = int(group.values.get("trades", 0))
        if trades:
            open_, high, low, close = _ohlc(group, prices_at_times)
            result.append(Candle(start, stops[start], open_, high, low, close, group.values["volume"], trades))
        elif fill == "previous":
            result.append(Candle(start, stops[start], close, close, close, close, 0.0, 0))
        elif fill == "null":
            result.append(Candle(start, stops[start], None, None, None, None, 0.0, 0))
    return result


def rollup_windows(rows: Iterable[dict[str, Any]], stop_ns: int) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """Of candles_rollup.flux rows over a range that ends at ``stop_ns``: the rows (as candles.flux gives them)
    of the windows its candles prove, and ``(start_ns, stop_ns)`` of every other window, in time order (see
    that file for the proof)."""
    raw: dict[int, int] = {}
    candle: dict[int, dict[str, float]] = {}
    for row in rows:
        start = int(row["start_ns"])
        if row["name"] == "raw_trades":
            raw[start] = int(row["value"])
        else:
            candle.setdefault(start, {})[str(row["name"])] = float(row["value"])
    starts = sorted(raw)
    proven: list[dict[str, Any]] = []
    unproven: list[tuple[int, int]] = []
    for start, stop in zip(starts, [*starts[1:], stop_ns], strict=True):
        count, named = raw[start], candle.get(start, {})
        if count == 0:
            proven.append({"name": "trades", "start_ns": start, "stop_ns": stop, "time_ns": 0, "value": 0.0})
        elif (
            named.get("trades") == count
            and named.get("open_id") == named.get("first_id")
            and named.get("close_id") == named.get("last_id")
        ):
            proven += [
                {"name": name, "start_ns": start, "stop_ns": stop, "time_ns": 0, "value": value}
                for name, value in named.items()
            ]
        else:
            unproven.append((start, stop))
    return proven, unproven


def runs(windows: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Consecutive windows joined into one ``[start, stop)`` each."""
    joined: list[tuple[int, int]] = []
    for start, stop in windows:
        if joined and joined[-1][1] == start:
            joined[-1] = (joined[-1][0], stop)
        else:
            joined.append((start, stop))
    return joined


def combine(parts: Sequence[Summary | None], start_ns: int, stop_ns: int) -> Summary | None:
    """One summary of consecutive ranges: open of the first with trades, close of the last, the extremes of all
    (the earliest at a tie)."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    return Summary(
        symbol=present[0].symbol,
        start_ns=start_ns,
        stop_ns=stop_ns,
        open=present[0].open,
        high=max((p.high for p in present), key=lambda e: e.price),  # max keeps the first of equals
        low=min((p.low for p in present), key=lambda e: e.price),
        close=present[-1].close,
        volume=sum(p.volume for p in present),
        trades=sum(p.trades for p in present),
        first_trade_id=present[0].first_trade_id,
        last_trade_id=present[-1].last_trade_id,
    )
