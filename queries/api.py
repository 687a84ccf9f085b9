"""The typed Python API of the queries; the ``pricecap`` commands are thin wrappers around it.

>>> from queries import Prices
>>> with Prices.from_config() as prices:                      # settings as the CLI reads them
...     print(prices.price_at("BTCUSDT", "2026-11-25T10:00:00Z").price)

Instants are ``int`` nanoseconds since the epoch, aware ``datetime`` objects, or strings in any form
:mod:`pricecap.times` reads (ISO-8601, epoch ms, ``now``, ``-15m``). Durations are ``timedelta`` or strings
such as ``15m``; ``every`` for candles also takes calendar units (``1mo``, ``1y``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import islice
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pricecap import flux, model, times
from pricecap.errors import BadRangeError, NoDataError, UnknownSymbolError
from pricecap.model import checked_symbol
from pricecap.settings import InfluxSettings, load_settings
from queries import answers, influxql, rollup
from queries.answers import Fill, Request
from queries.audit import Auditor
from queries.models import AuditPeriod, Candle, PriceAt, StoredTrade, Summary, SymbolInfo
from queries.runner import Runner

Instant = int | str | datetime
Duration = str | timedelta
DEFAULT_LOOKBACK = "30d"
MINUTE_NS = 60 * 10**9
HOUR_NS = 60 * MINUTE_NS
CANDLES_FROM_NS = 3 * 3600 * 10**9
"""Ranges with at least this much of whole minutes use the 1-minute candles (when ``pricecap setup`` ran)."""
CANDLES_SETTLE_NS = 20 * MINUTE_NS
"""Candles younger than this may still change (the roll-up task recomputes the last 15 minutes)."""
BLOCK = 10_000
"""Pairs :meth:`Prices.iter_prices_at` takes from its input at a time."""
RANGES_PER_REQUEST = 40
"""Ranges per prices_at.flux request: Flux plans one request's ranges in a time that grows faster than their count
(measured: 100 ranges 0.1 s, 300 ranges 0.5 s, 1,000 ranges 4.8 s), so a batch goes out as many small requests."""
STATEMENTS_PER_REQUEST = 250
"""Ranges per InfluxQL request (one statement each; InfluxDB runs them one after another, at a cost per
statement that does not grow with their number: 50 to 500 measured the same, 2026-12-02)."""
REQUESTS_IN_FLIGHT = 3
"""Batch requests (InfluxQL or prices_at.flux) sent at once: influxd runs them in parallel."""
NEAR_NS = HOUR_NS
"""The batch asks the hour before each instant first, and the rest of the look-back only where that hour held no
trade: a range within one shard costs influxd about 15 % less CPU than one across the shards of 30 days
(measured on the bench dataset, 2026-12-01)."""
MINUTE_ALIGNED = frozenset({"m", "h", "d", "w", "mo", "y"})
"""Window units whose windows start and end on whole minutes (every time zone's offset is whole minutes), so
1-minute candles can fill them."""
MAX_WINDOWS = 100_000
"""More windows than this in one candles answer is an error (ask for a larger ``every``)."""
_EVERY = re.compile(r"([1-9][0-9]{0,8})(mo|y|w|d|h|m|s|ms)").fullmatch


class Prices:
    """Price questions to one bucket of one InfluxDB; use as a context manager (one connection)."""

    def __init__(self, settings: InfluxSettings, exchange: str = model.EXCHANGE_BINANCE) -> None:
        self.runner = Runner(settings, exchange)
        self._has_candles: bool | None = None

    @classmethod
    def from_config(cls, exchange: str = model.EXCHANGE_BINANCE) -> Prices:
        """Connect with the settings the CLI would use (environment, config file, defaults)."""
        return cls(load_settings(None, {}), exchange)

    def __enter__(self) -> Prices:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.runner.close()

    def price_at(
        self, symbol: str, at: Instant, lookback: Duration = DEFAULT_LOOKBACK, nearest: bool = False
    ) -> PriceAt:
        """The price in force at ``at``: the last trade at or before it (a trade at exactly ``at`` counts).

        ``lookback`` limits how far back to look; ``nearest`` answers with the closest trade either side
        instead. Raises UnknownSymbolError or NoDataError when there is no answer.
        """
        request = Request(checked_symbol(symbol), instant_ns(at))
        rows = self._price_at_rows(request.symbol, _stop_ns(request), duration_ns(lookback), nearest)
        answer = answers.price(request, rows)
        if answer is None:
            self.require_symbols({request.symbol})
            raise NoDataError(f"no trade of {request.symbol} within {lookback} of {times.format_ns(request.at_ns)}")
        return answer

    def prices_at(
        self, instants: Iterable[tuple[str, Instant]], lookback: Duration = DEFAULT_LOOKBACK, nearest: bool = False
    ) -> list[PriceAt | None]:
        """:meth:`price_at` for many (symbol, instant) pairs, in order; None where nothing traded."""
        return list(self.iter_prices_at(instants, lookback, nearest))

    def iter_prices_at(
        self, instants: Iterable[tuple[str, Instant]], lookback: Duration = DEFAULT_LOOKBACK, nearest: bool = False
    ) -> Iterator[PriceAt | None]:
        """:meth:`prices_at` for a stream of pairs: the answers in input order, as they come.

        At most ``BLOCK`` pairs are held at a time, so a file of any length is answered in bounded memory. Each
        instant costs one ``last()`` (and with ``nearest`` one ``first()``) over its look-back, an InfluxQL
        statement where InfluxQL reaches the bucket (:mod:`queries.influxql`), else a range of prices_at.flux;
        the same (symbol, millisecond) is asked once per block. Raises UnknownSymbolError for a block that asks for a
        symbol the bucket has never held (after yielding the blocks before it).
        """
        lookback_ns = duration_ns(lookback)
        pairs = iter(instants)
        while block := [Request(checked_symbol(s), instant_ns(at)) for s, at in islice(pairs, BLOCK)]:
            keys = [(r.symbol, _stop_ns(r)) for r in block]
            stops = sorted(set(keys))
            before = self._edges(stops, lookback_ns, first=False)
            after = self._edges(stops, lookback_ns, first=True) if nearest else {}
            found = [answers.nearest(r, before.get(key), after.get(key)) for r, key in zip(block, keys, strict=True)]
            self.require_symbols({r.symbol for r, answer in zip(block, found, strict=True) if answer is None})
            yield from found

    def _edges(
        self, stops: Sequence[tuple[str, int]], lookback_ns: int, first: bool
    ) -> dict[tuple[str, int], StoredTrade]:
        """Per (symbol, stop): the last trade in ``[stop - lookback, stop)``, or with ``first`` the first trade in
        ``[stop, stop + lookback)``, by the trade_id rule; absent where there is none. The hour next to the stop
        is asked first, the rest of the look-back only for the stops it left without an answer."""
        near_ns = min(lookback_ns, NEAR_NS)
        found = self._edges_between(stops, 0, near_ns, first)
        if lookback_ns > near_ns:
            found |= self._edges_between([key for key in stops if key not in found], near_ns, lookback_ns, first)
        return found

    def _edges_between(
        self, stops: Sequence[tuple[str, int]], near_ns: int, far_ns: int, first: bool
    ) -> dict[tuple[str, int], StoredTrade]:
        """:meth:`_edges` between ``near_ns`` and ``far_ns`` from each stop (before it, or with ``first`` after)."""
        keys: dict[answers.Range, tuple[str, int]] = {}
        for symbol, stop in stops:
            if first:
                edge = answers.Range(symbol, stop + near_ns, min(stop + far_ns, times.LATEST_NS))
            else:
                edge = answers.Range(symbol, max(stop - far_ns, times.EARLIEST_NS), stop - near_ns)
            if edge.start < edge.stop:
                keys[edge] = (symbol, stop)
        ranges = list(keys)
        size = RANGES_PER_REQUEST if self.runner.influxql_database is None else STATEMENTS_PER_REQUEST
        chunks = [ranges[i : i + size] for i in range(0, len(ranges), size)]
        with ThreadPoolExecutor(min(REQUESTS_IN_FLIGHT, len(chunks) or 1)) as pool:
            rows = [row for chunk in pool.map(lambda c: self._edge_rows(c, first), chunks) for row in chunk]
        found, unsure = answers.edges(ranges, rows, first)
        for edge in unsure:  # rare: the millisecond of the answer needs reading whole (see price_at.flux)
            side = "after" if first else "before"
            rows = [
                r
                for r in self._price_at_rows(
                    edge.symbol, edge.start if first else edge.stop, edge.stop - edge.start, first
                )
                if r["side"] == side
            ]
            if rows:
                found[edge] = answers.stored_trade(edge.symbol, rows[0])
        return {keys[edge]: trade for edge, trade in found.items()}

    def _edge_rows(self, ranges: Sequence[answers.Range], first: bool) -> list[dict[str, Any]]:
        """The point at one end of each range: through InfluxQL where it reaches the bucket, else prices_at.flux."""
        if (database := self.runner.influxql_database) is not None:
            text, params = influxql.edges_request(ranges, first, self.runner.exchange)
            return influxql.edges_rows(ranges, self.runner.influxql(text, params, database))
        values: dict[str, flux.FluxValue] = {
            "first": first,
            "ranges": [{"symbol": r.symbol, "start": flux.Time(r.start), "stop": flux.Time(r.stop)} for r in ranges],
        }
        return [record.values for record in self.runner.run("prices_at", values)]

    def _price_at_rows(self, symbol: str, stop_ns: int, lookback_ns: int, nearest: bool) -> list[dict[str, Any]]:
        """The rows of price_at.flux for one instant (its ``stop``): the trade before it, and with ``nearest``
        the one after."""
        values: dict[str, flux.FluxValue] = {
            "symbol": symbol,
            "stop": flux.Time(stop_ns),
            "lookback": timedelta(microseconds=lookback_ns // 1000),
            "nearest": nearest,
        }
        return [record.values for record in self.runner.run("price_at", values)]

    def last(self, symbols: Sequence[str] = ()) -> list[PriceAt]:
        """The last stored trade of each symbol (of every symbol in the bucket when none are given)."""
        names = list(symbols) or self.known_symbols()
        latest = times.LATEST_NS - model.NS_PER_MS
        found = self.prices_at([(s, latest) for s in names], lookback=timedelta(microseconds=latest // 1000))
        now = model.time_ms_of(time.time_ns()) * model.NS_PER_MS
        return [replace(answer, at_ns=now) for answer in found if answer is not None]

    def high_low(self, symbol: str, start: Instant, stop: Instant) -> Summary:
        """Open, high (and when), low (and when), close, volume and trade count over ``[start, stop)``.

        Over long ranges, whole minutes come from the 1-minute candles of ``pricecap setup`` when they provably
        hold every trade (see high_low_candles.flux), and the partial minutes at the edges from raw trades; the
        answer is the same as from raw trades alone, only faster.
        """
        symbol = checked_symbol(symbol)
        start_ns, stop_ns = checked_range(start, stop)
        result = self._high_low_from_candles(symbol, start_ns, stop_ns) or self._high_low_raw(symbol, start_ns, stop_ns)
        if result is None:
            self.require_symbols({symbol})
            raise NoDataError(f"no trade of {symbol} in [{times.format_ns(start_ns)}, {times.format_ns(stop_ns)})")
        return result

    def _high_low_raw(self, symbol: str, start_ns: int, stop_ns: int) -> Summary | None:
        values: dict[str, flux.FluxValue] = {"symbol": symbol, "start": flux.Time(start_ns), "stop": flux.Time(stop_ns)}
        rows = [record.values for record in self.runner.run("high_low", values)]
        fixes = self._prices_at_times(symbol, answers.corrections_needed(rows))
        return answers.summary(symbol, start_ns, stop_ns, rows, fixes)

    def _settled_minutes(self, start_ns: int, stop_ns: int) -> tuple[int, int] | None:
        """The whole minutes of ``[start_ns, stop_ns)`` whose candles have settled, when there are enough of them
        to be worth reading from the candles (and ``pricecap setup`` made them); else None."""
        first = start_ns + (-start_ns) % MINUTE_NS
        settled = min(stop_ns, time.time_ns() - CANDLES_SETTLE_NS)
        last = settled - settled % MINUTE_NS
        if last - first < CANDLES_FROM_NS or not self._candles_available():
            return None
        return first, last

    def _high_low_from_candles(self, symbol: str, start_ns: int, stop_ns: int) -> Summary | None:
        """The summary with whole minutes from candles, or None when candles cannot answer exactly."""
        minutes = self._settled_minutes(start_ns, stop_ns)
        if minutes is None:
            return None
        first, last = minutes
        values: dict[str, flux.FluxValue] = {
            "symbol": symbol,
            "start": flux.Time(first),
            "stop": flux.Time(last),
            "candleBucket": rollup.candle_bucket(self.runner.settings),
        }
        rows = [record.values for record in self.runner.run("high_low_candles", values)]
        middle = answers.summary(symbol, first, last, rows, {})
        if middle is None:
            return None
        opening, closing = answers.flagged_minutes(rows)
        middle = replace(
            middle,
            open=middle.open if opening is None else self._minute(symbol, opening).open,
            close=middle.close if closing is None else self._minute(symbol, closing).close,
            high=self._minute(symbol, middle.high.time_ns).high,
            low=self._minute(symbol, middle.low.time_ns).low,
        )
        head = self._high_low_raw(symbol, start_ns, first) if start_ns < first else None
        tail = self._high_low_raw(symbol, last, stop_ns) if last < stop_ns else None
        return answers.combine([head, middle, tail], start_ns, stop_ns)

    def _minute(self, symbol: str, minute_ns: int) -> Summary:
        """The raw summary of the minute that starts at ``minute_ns`` (a candle's exact times and edges)."""
        found = self._high_low_raw(symbol, minute_ns, minute_ns + MINUTE_NS)
        if found is None:
            raise NoDataError(
                f"the candle of {symbol} at {times.format_ns(minute_ns)} has no trades: run pricecap setup"
            )
        return found

    def _candles_available(self) -> bool:
        if self._has_candles is None:
            self._has_candles = rollup.has_candles(self.runner.settings)
        return self._has_candles

    def candles(
        self,
        symbol: str,
        start: Instant,
        stop: Instant,
        every: Duration = "1m",
        tz: str = "UTC",
        fill: Fill = "previous",
    ) -> list[Candle]:
        """OHLCV candles per calendar-aligned window of ``every`` in time zone ``tz`` over ``[start, stop)``.

        ``fill`` says what an empty window becomes (see :func:`queries.answers.candles`).
        """
        symbol = checked_symbol(symbol)
        start_ns, stop_ns = checked_range(start, stop)
        every_literal = checked_every(every, stop_ns - start_ns)
        checked_zone(tz)
        if fill not in answers.FILLS:
            raise ValueError(f"unknown fill {fill!r}: use one of {', '.join(answers.FILLS)}")
        values: dict[str, flux.FluxValue] = {
            "symbol": symbol,
            "start": flux.Time(start_ns),
            "stop": flux.Time(stop_ns),
            "every": every_literal,
            "tz": tz,
        }
        rows = self._candle_rows(values, start_ns, stop_ns, every_literal)
        fixes = self._prices_at_times(symbol, answers.corrections_needed(rows, "start_ns"))
        previous = None
        if fill == "previous" and not any(r["name"] == "open" and int(r["start_ns"]) == start_ns for r in rows):
            before = self.prices_at([(symbol, start_ns - 1)])[0]
            previous = before.price if before else None
        result = answers.candles(rows, fixes, fill, previous)
        if not any(c.trades for c in result):
            self.require_symbols({symbol})
            raise NoDataError(f"no trade of {symbol} in [{times.format_ns(start_ns)}, {times.format_ns(stop_ns)})")
        return result

    def _candle_rows(
        self, values: dict[str, flux.FluxValue], start_ns: int, stop_ns: int, every: flux.FluxValue
    ) -> list[dict[str, Any]]:
        """The rows of candles.flux for ``values``, the cheapest exact way: for windows of whole minutes, from the
        1-minute (or 1-hour) candles where candles_rollup.flux proves them, every other window from raw trades
        aggregated per minute (or hour) first; candles.flux itself only for windows whose open or close needs
        the trade-id rule, and for windows of seconds."""
        if not (isinstance(every, flux.CalendarDuration) and every.unit in MINUTE_ALIGNED):
            return [record.values for record in self.runner.run("candles", values)]
        hourly = every.unit != "m" and _whole_hour_offsets(str(values["tz"]), start_ns, stop_ns)
        grain = {
            "candleBucket": rollup.candle_bucket(self.runner.settings),
            "interval": "1h" if hourly else "1m",
            "grain": timedelta(hours=1) if hourly else timedelta(minutes=1),
        }
        rows: list[dict[str, Any]] = []
        unproven = [(start_ns, stop_ns)]
        if minutes := self._settled_minutes(start_ns, stop_ns):
            first, last = minutes
            if hourly:  # whole hours of 1-hour candles: 60 times fewer rows
                first, last = first + (-first) % HOUR_NS, last - last % HOUR_NS
            candled = values | grain | {"raw": False, "from": flux.Time(first), "to": flux.Time(max(first, last))}
            rows, unproven = self._rollup(candled, stop_ns)
        for start, stop in answers.runs(unproven):
            part = values | grain | {"start": flux.Time(start), "stop": flux.Time(stop)}
            raw_rows, flagged = self._rollup(part | {"raw": True, "from": part["start"], "to": part["stop"]}, stop)
            rows += raw_rows
            for flagged_start, flagged_stop in answers.runs(flagged):
                window = values | {"start": flux.Time(flagged_start), "stop": flux.Time(flagged_stop)}
                rows += [record.values for record in self.runner.run("candles", window)]
        return rows

    def _rollup(
        self, values: dict[str, flux.FluxValue], stop_ns: int
    ) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
        """candles_rollup.flux's proven rows and its other windows (see answers.rollup_windows)."""
        return answers.rollup_windows((r.values for r in self.runner.run("candles_rollup", values)), stop_ns)

    def symbols(self) -> list[SymbolInfo]:
        """Every symbol stored for the exchange, with its trade count and first and last trade times."""
        merged: dict[str, dict[str, int]] = {}
        for record in self.runner.run("symbols", {}):
            merged.setdefault(str(record.values["symbol"]), {})[str(record.values["name"])] = int(
                record.values["value"]
            )
        return [SymbolInfo(symbol, v["trades"], v["first_ns"], v["last_ns"]) for symbol, v in sorted(merged.items())]

    def audit(self, symbols: Sequence[str], start: Instant, stop: Instant, every: str = "1d") -> list[AuditPeriod]:
        """Per symbol (every one of the exchange when none is given) and period of ``every`` (``1d`` or ``1h``)
        in ``[start, stop)`` that holds trades: the trades stored and the trade ids missing, doubled and
        exchange gaps (see :mod:`queries.audit`)."""
        start_ns, stop_ns = checked_range(start, stop)
        names = [checked_symbol(s) for s in symbols]
        self.require_symbols(set(names))
        return Auditor(self.runner).audit(names, start_ns, stop_ns, every)

    def _prices_at_times(self, symbol: str, point_times: list[int]) -> dict[int, float]:
        """Prices of the points at exact times (one round trip, and none when nothing is asked)."""
        if not point_times:
            return {}
        records = self.runner.run("trades_at", {"symbol": symbol, "times": [flux.Time(t) for t in point_times]})
        return {int(r.values["time_ns"]): float(r.values["price"]) for r in records}

    def last_ids(self, before_ns: int | None = None) -> dict[str, tuple[int, int]]:
        """Per symbol, the trade id and point time (ns) of the last stored point (before ``before_ns``, by
        default a day ahead of now), in one cheap query."""
        stop = before_ns if before_ns is not None else time.time_ns() + 86_400 * 10**9
        return {
            str(r.values["symbol"]): (int(r.values["trade_id"]), int(r.values["time_ns"]))
            for r in self.runner.run("last_ids", {"stop": flux.Time(stop)})
        }

    def known_symbols(self) -> list[str]:
        """The symbols stored for the exchange, from InfluxDB's index (cheap, whatever the data size)."""
        return sorted(str(record.get_value()) for record in self.runner.run("known_symbols", {}))

    def require_symbols(self, symbols: set[str]) -> None:
        """Raise UnknownSymbolError for a symbol of which the bucket holds no trade at all."""
        if not symbols:
            return
        known = set(self.known_symbols())
        unknown = sorted(symbols - known)
        if unknown:
            hint = f"; stored: {', '.join(sorted(known)[:10])}" if known else "; the bucket holds no trades"
            raise UnknownSymbolError(
                f"unknown symbol {', '.join(unknown)} in bucket {self.runner.settings.bucket!r}{hint}"
            )


def _stop_ns(request: Request) -> int:
    """The exclusive range stop that makes a trade at exactly the instant's millisecond count."""
    return model.time_ms_of(request.at_ns) * model.NS_PER_MS + model.NS_PER_MS


def _whole_hour_offsets(tz: str, start_ns: int, stop_ns: int) -> bool:
    """True when ``tz`` is a whole number of hours from UTC at both ends of the range (so its hour, day, week,
    month and year windows start and end on whole UTC hours)."""
    zone = ZoneInfo(tz)
    return all(
        (datetime.fromtimestamp(ns / 1e9, zone).utcoffset() or timedelta()) % timedelta(hours=1) == timedelta()
        for ns in (start_ns, stop_ns)
    )


def checked_zone(name: str) -> None:
    """Raise BadTimeError unless ``name`` is an IANA time zone."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise times.BadTimeError(f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Berlin") from None


def instant_ns(at: Instant, now_ns: int | None = None) -> int:
    """An instant as nanoseconds since the epoch (relative forms count from ``now_ns``, default now)."""
    if isinstance(at, int):
        return at
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise times.BadTimeError(f"{at.isoformat()} has no time zone: pass an aware datetime")
        return times.parse_instant(at.isoformat())
    return times.parse_instant(at, now_ns)


def duration_ns(duration: Duration) -> int:
    """A duration as nanoseconds."""
    if isinstance(duration, timedelta):
        return duration // timedelta(microseconds=1) * 1000
    return times.parse_duration(duration)


def checked_range(start: Instant, stop: Instant) -> tuple[int, int]:
    """``[start, stop)`` in ns; raises BadRangeError when stop is before start, NoDataError when it is empty."""
    now = time.time_ns()
    start_ns, stop_ns = instant_ns(start, now), instant_ns(stop, now)
    if stop_ns < start_ns:
        raise BadRangeError(f"the stop {times.format_ns(stop_ns)} is before the start {times.format_ns(start_ns)}")
    if stop_ns == start_ns:
        raise NoDataError(f"the range [{times.format_ns(start_ns)}, {times.format_ns(stop_ns)}) is empty")
    return start_ns, stop_ns


def checked_every(every: Duration, span_ns: int) -> flux.FluxValue:
    """The window length as a Flux duration (calendar months and years included), checked for size."""
    if isinstance(every, timedelta):
        every = f"{every // timedelta(milliseconds=1)}ms"
    match = _EVERY(every.strip())
    if not match:
        raise times.BadTimeError(f"bad window {every!r}: use a number and a unit, e.g. 1m, 15m, 1h, 1d, 1w, 1mo, 1y")
    count, unit = int(match.group(1)), match.group(2)
    approx_ns = count * {"mo": 28 * times.UNIT_NS["d"], "y": 365 * times.UNIT_NS["d"]}.get(
        unit, times.UNIT_NS.get(unit, 0)
    )
    if span_ns // approx_ns > MAX_WINDOWS:
        raise BadRangeError(f"{every} windows over this range make more than {MAX_WINDOWS:,}: use a larger --every")
    return flux.CalendarDuration(count, unit)


def trade_counts(settings: InfluxSettings) -> dict[str, int]:
    """Stored trades per symbol of the exchange in the settings' bucket (:meth:`Prices.symbols`, one round trip)."""
    with Prices(settings) as prices:
        return {info.symbol: info.trades for info in prices.symbols()}
