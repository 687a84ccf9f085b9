"""What the queries answer, as typed records (the Python API returns these; the CLI prints them)."""

from __future__ import annotations

from dataclasses import dataclass

from pricecap import model
from queries.coverage import size


@dataclass(frozen=True, slots=True)
class StoredTrade:
    """One stored trade: its point timestamp (ns) and fields."""

    symbol: str
    trade_id: int
    time_ns: int
    price: float
    qty: float
    buyer_maker: bool

    @property
    def time_ms(self) -> int:
        """The exchange's trade time in milliseconds."""
        return model.time_ms_of(self.time_ns)


@dataclass(frozen=True, slots=True)
class PriceAt:
    """The price in force at ``at_ns``: the last trade at or before it (or, when asked, the nearest one).

    ``stale_ns`` is how long before the instant the trade happened, measured from its millisecond; it is
    negative for a trade after the instant (possible only when the nearest trade either side was asked for).
    """

    symbol: str
    at_ns: int
    trade: StoredTrade

    @property
    def price(self) -> float:
        """The trade's price."""
        return self.trade.price

    @property
    def stale_ns(self) -> int:
        """Nanoseconds from the trade's millisecond to the instant."""
        return self.at_ns - self.trade.time_ms * model.NS_PER_MS


@dataclass(frozen=True, slots=True)
class Extreme:
    """A high or a low: the price and the point time of the first trade at it (in ``_time`` order)."""

    price: float
    time_ns: int


@dataclass(frozen=True, slots=True)
class Summary:
    """Open, high, low, close, volume and trade count of one market over ``[start_ns, stop_ns)``.

    ``high`` and ``low`` carry the time and id of the first trade at that price.
    """

    symbol: str
    start_ns: int
    stop_ns: int
    open: float
    high: Extreme
    low: Extreme
    close: float
    volume: float
    trades: int
    first_trade_id: int
    last_trade_id: int


@dataclass(frozen=True, slots=True)
class Candle:
    """One window ``[start_ns, stop_ns)``; an empty window has ``trades == 0`` (see ``fill`` in candles)."""

    start_ns: int
    stop_ns: int
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float
    trades: int


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """One market stored in the bucket."""

    symbol: str
    trades: int
    first_ns: int
    last_ns: int


@dataclass(frozen=True, slots=True)
class AuditPeriod:
    """What one period ``[start_ns, stop_ns)`` of one market holds, by trade id (see :mod:`queries.audit`).

    ``missing``, ``doubled`` and ``exchange_gaps`` are id ranges (inclusive) in id order; a doubled range appears
    once per extra copy. The period owns the ids after the last id of the period before, up to its own last id.
    """

    symbol: str
    start_ns: int
    stop_ns: int
    trades: int
    first_id: int
    last_id: int
    missing: tuple[tuple[int, int], ...] = ()
    doubled: tuple[tuple[int, int], ...] = ()
    exchange_gaps: tuple[tuple[int, int], ...] = ()

    @property
    def missing_ids(self) -> int:
        """Ids missing (exchange gaps excluded)."""
        return size(self.missing)

    @property
    def doubled_ids(self) -> int:
        """Points that repeat an id stored already."""
        return size(self.doubled)

    @property
    def exchange_gap_ids(self) -> int:
        """Ids Binance itself does not have."""
        return size(self.exchange_gaps)

    @property
    def expected(self) -> int:
        """Ids the period owns: stored once, missing, or exchange gaps."""
        return self.trades - self.doubled_ids + self.missing_ids + self.exchange_gap_ids

    @property
    def complete(self) -> bool:
        """No id missing, none doubled."""
        return not self.missing and not self.doubled
