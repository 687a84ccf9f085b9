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
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from types import TracebackType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pricecap import flux, model, times
from pricecap.errors import BadRangeError, NoDataError, UnknownSymbolError
from pricecap.settings import InfluxSettings, load_settings
from queries import answers, rollup
from queries.answers import Fill, Request
from queries.models import Candle, PriceAt, Summary, SymbolInfo
from queries.runner import Runner

Instant = int | str | datetime
Duration = str | timedelta
DEFAULT_LOOKBACK = "30d"
MINUTE_NS = 60 * 10**9
CANDLES_FROM_NS = 3 * 3600 * 10**9
"""Ranges with at least this much of whole minutes use the 1-minute candles (when ``pricecap setup`` ran)."""
CANDLES_SETTLE_NS = 20 * MINUTE_NS
"""Candles younger than this may still change (the roll-up task recomputes the last 15 minutes)."""
MAX_WINDOWS = 100_000
"""More windows than this in one candles answer is an error (ask for a larger ``every``)."""
_SYMBOL = re.compile(r"[^\W_]{1,32}").fullmatch
"""Letters and digits of any script: since 2025-12 Binance symbol names may be Unicode."""
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
        values = self._lookup_values(lookback, nearest) | {"symbol": request.symbol, "stop": _stop_of(request)}
        answer = answers.price(request, [record.values for record in self.runner.run("price_at", values)])
        if answer is None:
            self._require_symbols({request.symbol})
            raise NoDataError(f"no trade of {request.symbol} within {lookback} of {times.format_ns(request.at_ns)}")
        return answer

    def prices_at(
        self, instants: Iterable[tuple[str, Instant]], lookback: Duration = DEFAULT_LOOKBACK, nearest: bool = False
    ) -> list[PriceAt | None]:
        """:meth:`price_at` for many (symbol, instant) pairs in one round trip; None where nothing traded."""
        requests = [Request(checked_symbol(s), instant_ns(at)) for s, at in instants]
        if not requests:
            return []
        values = self._lookup_values(lookback, nearest)
        values["instants"] = [{"symbol": r.symbol, "stop": _stop_of(r)} for r in requests]
        found = answers.prices(requests, [record.values for record in self.runner.run("prices_at", values)])
        self._require_symbols({r.symbol for r, answer in zip(requests, found, strict=True) if answer is None})
        return found

    @staticmethod
    def _lookup_values(lookback: Duration, nearest: bool) -> dict[str, flux.FluxValue]:
        return {"lookback": timedelta(microseconds=duration_ns(lookback) // 1000), "nearest": nearest}

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
            self._require_symbols({symbol})
            raise NoDataError(f"no trade of {symbol} in [{times.format_ns(start_ns)}, {times.format_ns(stop_ns)})")
        return result

    def _high_low_raw(self, symbol: str, start_ns: int, stop_ns: int) -> Summary | None:
        values: dict[str, flux.FluxValue] = {"symbol": symbol, "start": flux.Time(start_ns), "stop": flux.Time(stop_ns)}
        rows = [record.values for record in self.runner.run("high_low", values)]
        fixes = self._prices_at_times(symbol, answers.corrections_needed(rows))
        return answers.summary(symbol, start_ns, stop_ns, rows, fixes)

    def _high_low_from_candles(self, symbol: str, start_ns: int, stop_ns: int) -> Summary | None:
        """The summary with whole minutes from candles, or None when candles cannot answer exactly."""
        first = start_ns + (-start_ns) % MINUTE_NS
        settled = time.time_ns() - CANDLES_SETTLE_NS
        last = min(stop_ns, settled) - min(stop_ns, settled) % MINUTE_NS
        if last - first < CANDLES_FROM_NS or not self._candles_available():
            return None
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
        rows = [record.values for record in self.runner.run("candles", values)]
        fixes = self._prices_at_times(symbol, answers.corrections_needed(rows, "start_ns"))
        previous = None
        if fill == "previous" and not any(r["name"] == "open" and int(r["start_ns"]) == start_ns for r in rows):
            before = self.prices_at([(symbol, start_ns - 1)])[0]
            previous = before.price if before else None
        result = answers.candles(rows, fixes, fill, previous)
        if not any(c.trades for c in result):
            self._require_symbols({symbol})
            raise NoDataError(f"no trade of {symbol} in [{times.format_ns(start_ns)}, {times.format_ns(stop_ns)})")
        return result

    def symbols(self) -> list[SymbolInfo]:
        """Every symbol stored for the exchange, with its trade count and first and last trade times."""
        merged: dict[str, dict[str, int]] = {}
        for record in self.runner.run("symbols", {}):
            merged.setdefault(str(record.values["symbol"]), {})[str(record.values["name"])] = int(
                record.values["value"]
            )
        return [SymbolInfo(symbol, v["trades"], v["first_ns"], v["last_ns"]) for symbol, v in sorted(merged.items())]

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

    def _require_symbols(self, symbols: set[str]) -> None:
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


def _stop_of(request: Request) -> flux.Time:
    """The exclusive range stop that makes a trade at exactly the instant's millisecond count."""
    return flux.Time(model.time_ms_of(request.at_ns) * model.NS_PER_MS + model.NS_PER_MS)


def checked_symbol(text: str) -> str:
    """A symbol in Binance's form (letters and digits, Unicode ones too); lower case is accepted."""
    symbol = text.strip().upper()
    if not _SYMBOL(symbol):
        raise UnknownSymbolError(f"{text!r} is not a symbol: use letters and digits, e.g. BTCUSDT")
    return symbol


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
