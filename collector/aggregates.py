"""From ``aggTrades`` pages to trades: single-trade aggregates are exact, the others are read trade by trade.

An aggregate with ``f == l`` is exactly one trade (id, price, qty, time, side): an aggregates page (weight 4,
up to 1,000 aggregates) then replaces a ``historicalTrades`` page (weight 25). Only the ids of aggregates of
several trades are read from ``historicalTrades``; where the REST base does not serve it
(``data-api.binance.vision`` answers 404), from ``trades``, the newest 1,000 trades, and ids older than those
cannot be had from that source at all: they are returned as ``lost``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from collector import binance
from collector.decode import TradeEvent
from collector.rest import Aggregate, BinanceRest, NotServedError

log = logging.getLogger(__name__)


@dataclass
class Expanded:
    """The trades of some aggregates, in id order, and the id ranges that the source cannot give."""

    trades: list[TradeEvent] = field(default_factory=list)
    lost: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class AggregateReader:
    """Reads the trades behind aggregates; remembers once the REST base turned out to lack historicalTrades."""

    rest: BinanceRest
    historical: bool = True
    _recent_from: dict[str, int] = field(default_factory=dict)
    """Per symbol, the oldest id of the last ``trades`` page: older ids are not asked for again."""

    async def expand(self, symbol: str, aggregates: list[Aggregate], first: int, last: int | None) -> Expanded:
        """The trades with ids in ``first..last`` (``None``: no end) behind ``aggregates``."""
        expanded = Expanded()
        several: list[tuple[int, int]] = []
        for aggregate in aggregates:
            low, high = max(aggregate.f, first), aggregate.l if last is None else min(aggregate.l, last)
            if low > high:
                continue
            if aggregate.f == aggregate.l:
                expanded.trades.append(aggregate.trade(symbol))
            else:
                several.append((low, high))
        if several:
            await self._read(symbol, several, expanded)
        expanded.trades.sort(key=lambda t: t.t)
        return expanded

    async def _read(self, symbol: str, ranges: list[tuple[int, int]], expanded: Expanded) -> None:
        """Add the trades of ``ranges`` (ids of aggregates of several trades) to ``expanded``."""
        if self.historical:
            try:
                expanded.trades += await self._historical(symbol, ranges)
                return
            except NotServedError as e:
                self.historical = False
                log.warning(
                    "no historicalTrades at this REST base: aggregates of several trades are read from the newest "
                    "1,000 trades only",
                    extra={"error": str(e)},
                )
        if ranges[-1][1] < self._recent_from.get(symbol, 0):
            expanded.lost += ranges
            return
        recent = await self.rest.recent_trades(symbol)
        oldest = recent[0].t if recent else None
        if oldest is not None:
            self._recent_from[symbol] = oldest
        wanted = [t for t in recent if any(low <= t.t <= high for low, high in ranges)]
        expanded.trades += wanted
        for low, high in ranges:
            if oldest is not None and low < oldest:
                expanded.lost.append((low, min(high, oldest - 1)))

    async def _historical(self, symbol: str, ranges: list[tuple[int, int]]) -> list[TradeEvent]:
        """The trades of ``ranges`` from historicalTrades pages, one page per 1,000 ids spanned."""
        trades: list[TradeEvent] = []
        index = 0
        while index < len(ranges):
            start = ranges[index][0]
            limit = min(binance.MAX_TRADES_PER_REQUEST, ranges[-1][1] - start + 1)
            page = await self.rest.trades_from(symbol, start, limit)
            if not page:
                return trades  # REST has not caught up: the repairer asks again
            trades += [t for t in page if any(low <= t.t <= high for low, high in ranges[index:])]
            while index < len(ranges) and ranges[index][1] <= page[-1].t:
                index += 1
            if index < len(ranges) and ranges[index][0] <= page[-1].t:
                ranges = [*ranges[:index], (page[-1].t + 1, ranges[index][1]), *ranges[index + 1 :]]
            if len(page) < limit:
                return trades
        return trades
