"""The data model: how one trade is stored in InfluxDB. Collector, importer and queries all use this module.

One trade is one point (one line of line protocol, wrapped here)::

    trades,exchange=binance,symbol=BTCUSDT price=97012.5,qty=0.0012,trade_id=4211837123i,buyer_maker=true
        1732500000123837123

- measurement ``trades``; tags ``exchange`` and ``symbol`` only (two tags keep series cardinality at one
  series per market, whatever the number of trades);
- fields ``price`` and ``qty`` (float), ``trade_id`` (integer) and ``buyer_maker`` (boolean: true when the
  buyer was the maker, i.e. the taker sold). The quote volume is ``price * qty`` and is derived in queries
  rather than stored: every extra field is another column InfluxDB must write for every trade;
- timestamp: ``T * 1_000_000 + trade_id % 1_000_000`` nanoseconds, where ``T`` is the exchange's trade time in
  milliseconds. Truncated to the millisecond it is exactly ``T``; the sub-millisecond digits keep trades that
  share a millisecond apart (InfluxDB would otherwise overwrite one point with the next), and a given trade
  always maps to the same point, so backfills and replays are idempotent.

Within one millisecond ``_time`` order is trade-id order, except where the ids cross a multiple of 1,000,000
inside that millisecond. Where order matters (the last trade at or before an instant), decide by
``trade_id``, never by ``_time`` alone.

Prices and quantities are written as the exchange's own decimal strings (validated by :func:`decimal_ok`), so
the stored float64 is exactly ``float(exchange_string)`` with no formatting round trip in between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pricecap.errors import UnknownSymbolError

MEASUREMENT = "trades"
TAG_EXCHANGE = "exchange"
TAG_SYMBOL = "symbol"
FIELD_PRICE = "price"
FIELD_QTY = "qty"
FIELD_TRADE_ID = "trade_id"
FIELD_BUYER_MAKER = "buyer_maker"
FIELDS = (FIELD_PRICE, FIELD_QTY, FIELD_TRADE_ID, FIELD_BUYER_MAKER)

EXCHANGE_BINANCE = "binance"

NS_PER_MS = 1_000_000
SUB_MS_SLOTS = 1_000_000
"""Trade ids modulo this number give the sub-millisecond nanoseconds of a trade's timestamp."""

_DECIMAL = re.compile(r"(?!0*\.?0*$)[0-9]{1,20}(?:\.[0-9]{1,20})?").fullmatch
_SYMBOL = re.compile(r"[^\W_]{1,32}").fullmatch
"""Letters and digits of any script: since 2025-12 Binance symbol names may be Unicode."""


def checked_symbol(text: str) -> str:
    """A symbol in Binance's form (letters and digits, Unicode ones too); lower case is accepted."""
    symbol = text.strip().upper()
    if not _SYMBOL(symbol):
        raise UnknownSymbolError(f"{text!r} is not a symbol: use letters and digits, e.g. BTCUSDT")
    return symbol


@dataclass(frozen=True, slots=True)
class Trade:
    """One exchange trade, as the exchange reported it (price and qty as decimal strings)."""

    symbol: str
    trade_id: int
    price: str
    qty: str
    time_ms: int
    buyer_maker: bool
    exchange: str = EXCHANGE_BINANCE


def timestamp_ns(time_ms: int, trade_id: int) -> int:
    """The point's timestamp: trade time in ms at ns resolution, with the trade id in the sub-ms digits."""
    return time_ms * NS_PER_MS + trade_id % SUB_MS_SLOTS


def time_ms_of(ts_ns: int) -> int:
    """The exchange trade time (ms) of a stored point: its timestamp truncated to the millisecond."""
    return ts_ns // NS_PER_MS


def decimal_ok(text: str) -> bool:
    """True when ``text`` is a plain positive decimal such as ``"0.00123400"`` or ``"97012"``.

    Exponents, signs, ``nan``/``inf``, whitespace, underscores, non-ASCII digits and zero are refused: the
    exchange never sends them, and line protocol must never see them. At most 20 digits either side of the
    point, so the value is always finite.
    """
    return _DECIMAL(text) is not None


def escape_tag(value: str) -> str:
    """Escape a tag key or value for line protocol (commas, equals signs, spaces, backslashes)."""
    if not value:
        raise ValueError("a tag value cannot be empty")
    if "\n" in value or "\r" in value:
        raise ValueError("a tag value cannot contain a line break")
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


@lru_cache(maxsize=8192)
def series_prefix(exchange: str, symbol: str) -> str:
    """The line-protocol start of one market's points, e.g. ``trades,exchange=binance,symbol=BTCUSDT ``."""
    return f"{MEASUREMENT},{TAG_EXCHANGE}={escape_tag(exchange)},{TAG_SYMBOL}={escape_tag(symbol)} "


def encode_line(prefix: str, trade_id: int, price: str, qty: str, time_ms: int, buyer_maker: bool) -> str:
    """One trade as a line-protocol line (no newline). ``prefix`` comes from :func:`series_prefix`.

    The hot path of the collector: callers validate ``price`` and ``qty`` with :func:`decimal_ok` first.
    """
    return (
        f"{prefix}{FIELD_PRICE}={price},{FIELD_QTY}={qty},{FIELD_TRADE_ID}={trade_id}i,"
        f"{FIELD_BUYER_MAKER}={'true' if buyer_maker else 'false'} "
        f"{time_ms * NS_PER_MS + trade_id % SUB_MS_SLOTS}"
    )


def encode_trade(trade: Trade) -> str:
    """One :class:`Trade` as a line-protocol line (no newline); raises ValueError on an invalid trade."""
    if not decimal_ok(trade.price):
        raise ValueError(f"trade {trade.trade_id}: price {trade.price!r} is not a positive decimal")
    if not decimal_ok(trade.qty):
        raise ValueError(f"trade {trade.trade_id}: qty {trade.qty!r} is not a positive decimal")
    if trade.trade_id < 0 or trade.time_ms < 0:
        raise ValueError(f"trade {trade.trade_id}: negative trade id or time")
    return encode_line(
        series_prefix(trade.exchange, trade.symbol),
        trade.trade_id,
        trade.price,
        trade.qty,
        trade.time_ms,
        trade.buyer_maker,
    )


HEALTH_MEASUREMENT = "collector_health"
"""A small point the collector writes every few seconds (tags ``instance`` and ``shard``), so Grafana can show
its health: one series per collector, and the copies of one shard side by side."""
TAG_INSTANCE = "instance"
TAG_SHARD = "shard"
"""The collector's shard, ``K/N`` (``0/1``: every symbol); see :mod:`pricecap.shards`."""


UNSHARDED = "0/1"
"""The shard of a collector that takes every symbol (``str(pricecap.shards.Shard())``)."""


def encode_health(instance: str, fields: dict[str, int | float], ts_ns: int, shard: str = UNSHARDED) -> str:
    """The collector's health point as a line-protocol line: integer counters and float gauges."""
    body = ",".join(f"{k}={v}i" if isinstance(v, int) else f"{k}={float(v)!r}" for k, v in fields.items())
    tags = f"{TAG_INSTANCE}={escape_tag(instance)},{TAG_SHARD}={escape_tag(shard)}"
    return f"{HEALTH_MEASUREMENT},{tags} {body} {ts_ns}"


EXCHANGE_GAPS_MEASUREMENT = "exchange_gaps"
"""Trade ids Binance itself does not have (its REST answers past them): what the collector gave up on, and what
``pricecap audit --repair`` found REST past. One point per range, tags ``exchange`` and ``symbol``, integer fields
``first_id`` and ``last_id`` (inclusive)::

    exchange_gaps,exchange=binance,symbol=BTCUSDT first_id=4991i,last_id=4999i 1732500000123005000

Its timestamp is that of the trade *after* the gap as the trades model makes it (:func:`timestamp_ns` of the
time REST shows for it and of id ``last_id + 1``): Binance's own record, so every collector of a pair and every
repeat writes the same point, and the gap falls in the period that owns the ids after the trade before it (the
hour or day the audit reports it in). Never older than the trades around it, so a bucket's retention keeps it
as long as them."""
FIELD_FIRST_ID = "first_id"
FIELD_LAST_ID = "last_id"


def encode_exchange_gap(exchange: str, symbol: str, first_id: int, last_id: int, next_time_ms: int) -> str:
    """An exchange gap ``first_id..last_id`` as a line-protocol line; ``next_time_ms`` is the time of the trade
    ``last_id + 1`` (see :data:`EXCHANGE_GAPS_MEASUREMENT`)."""
    if not 0 <= first_id <= last_id:
        raise ValueError(f"exchange gap {first_id}..{last_id} is not a range of trade ids")
    tags = f"{TAG_EXCHANGE}={escape_tag(exchange)},{TAG_SYMBOL}={escape_tag(symbol)}"
    body = f"{FIELD_FIRST_ID}={first_id}i,{FIELD_LAST_ID}={last_id}i"
    return f"{EXCHANGE_GAPS_MEASUREMENT},{tags} {body} {timestamp_ns(next_time_ms, last_id + 1)}"


COMPLETENESS_MEASUREMENT = "completeness"
"""Per market and closed hour, what the hourly audit found (:mod:`queries.audit`): tags ``exchange`` and
``symbol``, integer fields ``stored`` (points), ``expected`` (ids the hour owns: after the last id of the hour
before, up to its own last id), ``missing`` (of those, neither stored nor an exchange gap) and ``exchange_gap``;
timestamp: the start of the hour. Written again for the same hour, it replaces the point."""
COMPLETENESS_FIELDS = ("stored", "expected", "missing", "exchange_gap")


def encode_completeness(exchange: str, symbol: str, hour_ns: int, fields: dict[str, int]) -> str:
    """One completeness point as a line-protocol line (``fields``: :data:`COMPLETENESS_FIELDS`)."""
    tags = f"{TAG_EXCHANGE}={escape_tag(exchange)},{TAG_SYMBOL}={escape_tag(symbol)}"
    body = ",".join(f"{name}={int(fields[name])}i" for name in COMPLETENESS_FIELDS)
    return f"{COMPLETENESS_MEASUREMENT},{tags} {body} {hour_ns}"
