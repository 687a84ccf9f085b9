"""Gap repair: fetch exactly the trade ids the streams missed from REST, at exchange scale.

The pipeline says per symbol what is missing (closed ranges below its last id, and whether it is catching up
after a reconnect or a restart); :class:`Repairer` fetches those ids a page at a time, within the weight budget
of :class:`~collector.rest.BinanceRest` (which honours 429 ``Retry-After``), and hands them back to the pipeline.

Cheap first: a page of ``aggTrades`` (weight 4, up to 1,000 aggregates, from the time of the trade before the
missing ids, known from the stream) gives every single-trade aggregate exactly; only the ids of aggregates
of several trades are read from ``historicalTrades`` (weight 25; see :mod:`collector.aggregates` for a REST base
without it). Where no time is known (after a restart), ``historicalTrades`` pages are read from the id on.
Symbols catching up are first asked their newest trade id: many at once with one ``ticker/24hr`` request
(weight 80, every symbol), a few with one ``aggTrades`` row each (weight 4): a market that stayed quiet is
then done. Every round takes one page for each symbol that needs one, the largest gaps first, with up to
:data:`~collector.rest.CONCURRENT_REQUESTS` requests in flight, so a burst of 10,000 missed trades on one
symbol delays no other. While repairs wait, the budget may grow to its backlog share
(:class:`~collector.rest.WeightBudget`). Backfilled trades are written with the same timestamps as live ones,
so a repair is idempotent.

REST lags the stream ("Data Source: Database"), so a page that stops short of the missing ids proves nothing:
the symbol is asked again later, with backoff (1 s doubling up to 15 s), for as long as it takes. Ids are given
up on only when REST shows they will never come: a page that starts *past* them (so REST's newest id is
beyond them) at every ask over ``give_up_after_s`` (5 minutes), or, from a source without historicalTrades,
ids of an aggregate of several trades older than its newest 1,000 trades.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from collector import binance
from collector.aggregates import AggregateReader
from collector.decode import TradeEvent
from collector.pipeline import SymbolState, TradePipeline
from collector.rest import CONCURRENT_REQUESTS, BinanceRest, NotServedError, RestError

log = logging.getLogger(__name__)
GIVE_UP_AFTER_S = 300.0
"""How long REST's pages must start past missing ids before they are given up on."""
RETRY_CAP_S = 15.0
"""The longest wait before asking REST again for ids it has not caught up with."""
BULK_LATEST_FROM = binance.WEIGHTS[binance.TICKER_24H_PATH] // binance.WEIGHTS[binance.AGG_TRADES_PATH]
"""From this many symbols asked their newest id at once, one ticker/24hr request is the cheaper question."""
PROBE_BACK_MS = 60_000
"""Without a known time, aggTrades pages are probed from this far back, four times further each time."""


def next_request(state: SymbolState) -> tuple[int, int] | None:
    """The ``(fromId, limit)`` of the next page to fetch for one symbol, or None when nothing is missing."""
    if state.missing:
        first, last = state.missing[0]
        return first, min(binance.MAX_TRADES_PER_REQUEST, last - first + 1)
    if state.catching_up and state.last_id is not None:
        return state.last_id + 1, binance.MAX_TRADES_PER_REQUEST
    return None


def backlog(state: SymbolState) -> int:
    """How many ids are known to be missing (what orders the rounds: the largest gaps first)."""
    return sum(last - first + 1 for first, last in state.missing)


class Repairer:
    """Works through every symbol that needs repair, one page per symbol per round, until stopped."""

    def __init__(
        self,
        pipeline: Callable[[], TradePipeline],
        rest: BinanceRest,
        flush: Callable[[], None],
        settle_s: float = 2.0,
        give_up_after_s: float = GIVE_UP_AFTER_S,
    ) -> None:
        self._pipeline = pipeline
        self._rest = rest
        self._flush = flush
        self._settle_s = settle_s
        self._give_up_after_s = give_up_after_s
        self._reader = AggregateReader(rest)
        self.waiting: dict[str, float] = {}
        """Per symbol that needs repair, since when (monotonic)."""
        self._waits: dict[str, tuple[float, int]] = {}
        """Symbols REST has not caught up with: when to ask again, and how many asks in a row were short."""
        self._doubts: dict[str, tuple[int, float]] = {}
        """Per symbol, a missing id that REST's pages start past, and since when they have done so."""
        self._latest: dict[str, int] = {}
        """Symbols catching up whose newest trade id showed trades to fetch: that id."""
        self._cursors: dict[str, tuple[int, int]] = {}
        """Per symbol, where the last full aggTrades page ended: (next trade id, next aggregate id)."""
        self._probes: dict[str, int] = {}
        """Per symbol without a known time: how far back (ms) the aggTrades page starts."""
        self.unrepairable = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Repair until ``stop`` is set."""
        slots = asyncio.Semaphore(CONCURRENT_REQUESTS)

        async def one(state: SymbolState) -> int:
            async with slots:
                return 0 if stop.is_set() else await self._repair_page(state)

        while not stop.is_set():
            due = self._due(self._pipeline().states.values())
            self._rest.budget.backlog = bool(due)
            if not due:
                await asyncio.sleep(0.2)
                continue
            await self._ask_latest(due)
            if sum(await asyncio.gather(*(one(state) for state in due))):
                self._flush()
            if not any(self._rest_ready(state) for state in due):
                await asyncio.sleep(0.2)

    def _rest_ready(self, state: SymbolState) -> bool:
        return state.needs_repair() and time.monotonic() >= self._waits.get(state.symbol, (0.0, 0))[0]

    def _due(self, states: Iterable[SymbolState]) -> list[SymbolState]:
        """Symbols with a known gap, and catching-up ones that have waited ``settle_s``, the largest gaps
        first, then the oldest."""
        now = time.monotonic()
        due = []
        for state in states:
            if not state.needs_repair():
                if self.waiting.pop(state.symbol, None) is not None:
                    for kept in (self._latest, self._waits, self._doubts, self._cursors, self._probes):
                        kept.pop(state.symbol, None)
                    state.times.clear()
            else:
                since = self.waiting.setdefault(state.symbol, now)
                # a known gap is due at once; a catch-up waits settle_s, since the live stream often closes it
                settled = bool(state.missing) or now - since >= self._settle_s
                if settled and now >= self._waits.get(state.symbol, (0.0, 0))[0]:
                    due.append(state)
        return sorted(due, key=lambda s: (-backlog(s), self.waiting[s.symbol]))

    async def _ask_latest(self, due: list[SymbolState]) -> None:
        """Many symbols catching up are asked their newest trade id with one ticker/24hr request."""
        unknown = [s for s in due if not s.missing and s.symbol not in self._latest]
        if len(unknown) < BULK_LATEST_FROM:
            return
        catch_ups = {s.symbol: s.catch_ups for s in unknown}
        try:
            latest = await self._rest.latest_ids()
        except RestError as e:
            log.warning("newest trade ids not asked", extra={"error": str(e)})
            return
        for state in unknown:
            if state.symbol in latest and state.catch_ups == catch_ups[state.symbol]:
                self._took_latest(state, latest[state.symbol])

    def _took_latest(self, state: SymbolState, latest: int | None) -> None:
        """A catching-up symbol's newest trade id: done when it is not past the last id taken."""
        assert state.last_id is not None
        if latest is None or latest <= state.last_id:
            self._pipeline().add_backfilled(state.symbol, [], complete=True)
        else:
            self._latest[state.symbol] = latest

    async def _repair_page(self, state: SymbolState) -> int:
        """Fetch and hand over one page for ``state``; how many trades it took."""
        request = next_request(state)
        if request is None:
            return 0
        from_id, limit = request
        last = state.missing[0][1] if state.missing else None
        catch_ups = state.catch_ups
        try:
            if last is None and state.symbol not in self._latest:
                latest = await self._rest.latest_id(state.symbol)
                if state.catch_ups == catch_ups:  # else the stream reconnected meanwhile: ask again
                    self._took_latest(state, latest)
                return 0
            trades, full, seen = await self._fetch(state, from_id, limit, last)
        except RestError as e:
            log.warning("repair request failed", extra={"symbol": state.symbol, "from_id": from_id, "error": str(e)})
            self._wait(state.symbol)
            return 0
        if trades is None:
            return 0  # probing further back in time
        if state.missing and (not trades or trades[0].t != from_id):
            if seen is None or not self._never_coming(state, from_id, seen):
                self._wait(state.symbol)  # REST has not caught up (yet): ask again later
            return self._take(state, trades, complete=False)
        self._doubts.pop(state.symbol, None)
        # a short page reaches the present once it reaches the newest id asked, unless the stream reconnected
        reached = bool(trades) and trades[-1].t >= self._latest.get(state.symbol, 0)
        complete = not full and last is None and state.catch_ups == catch_ups and reached
        if not full and not complete and (last is None or not trades or trades[-1].t < last):
            self._wait(state.symbol)  # REST stops short of what is missing: it lags
        else:
            self._waits.pop(state.symbol, None)
        return self._take(state, trades, complete)

    async def _fetch(
        self, state: SymbolState, from_id: int, limit: int, last: int | None
    ) -> tuple[list[TradeEvent] | None, bool, tuple[int, int] | None]:
        """The next page of trades from ``from_id`` (to ``last``), whether it was full, and the first id at or
        after ``from_id`` that REST showed with its time (None: none): aggregates where a cursor or a time says
        where to start, else historicalTrades by id. The trades are None while probing back in time."""
        start_ms = state.times.get(from_id - 1) or (state.last_time_ms if last is None else 0)
        cursor = self._cursors.pop(state.symbol, None)
        if cursor is not None and cursor[0] <= from_id:
            return await self._aggregates(state, from_id, last, from_agg=cursor[1])
        if self._reader.historical and not start_ms:
            try:
                trades = await self._rest.trades_from(state.symbol, from_id, limit)
                return trades, len(trades) == limit, (trades[0].t, trades[0].T) if trades else None
            except NotServedError:
                self._reader.historical = False  # aggTrades from a probed time instead
        return await self._aggregates(state, from_id, last, start_ms=start_ms)

    async def _aggregates(
        self, state: SymbolState, first: int, last: int | None, *, from_agg: int | None = None, start_ms: int = 0
    ) -> tuple[list[TradeEvent] | None, bool, tuple[int, int] | None]:
        """One aggTrades page from ``from_agg`` or ``start_ms`` (else probing back from now), as :meth:`_fetch`
        answers."""
        probing = from_agg is None and not start_ms
        if probing:
            start_ms = int(time.time() * 1000) - self._probes.setdefault(state.symbol, PROBE_BACK_MS)
        aggregates = await self._rest.agg_trades(state.symbol, from_agg=from_agg, start_ms=start_ms)
        full = len(aggregates) == binance.MAX_TRADES_PER_REQUEST
        if full:
            end = aggregates[-1]
            self._cursors[state.symbol] = (end.l + 1, end.a + 1)
        seen = next(((max(a.f, first), a.T) for a in aggregates if a.l >= first), None)
        if probing and aggregates and aggregates[0].f > first and self._probes[state.symbol] < 2 * 86_400_000:
            self._probes[state.symbol] *= 4
            self._cursors.pop(state.symbol, None)
            return None, full, seen
        expanded = await self._reader.expand(state.symbol, aggregates, first, last)
        for low, high in expanded.lost:
            self._lose(state, low, high, "older than the newest 1,000 trades of a source without historicalTrades")
        if expanded.trades:
            end_trade = expanded.trades[-1]
            state.times[end_trade.t] = end_trade.T
        return expanded.trades, full, seen

    def _take(self, state: SymbolState, trades: list[TradeEvent], complete: bool) -> int:
        taken = self._pipeline().add_backfilled(state.symbol, trades, complete=complete)
        if taken:
            log.info("ids repaired", extra={"symbol": state.symbol, "from_id": trades[0].t, "trades": taken})
        return taken

    def _lose(self, state: SymbolState, first: int, last: int, why: str) -> None:
        """Ids ``first..last`` cannot be had from this REST source: counted, logged, no longer missing."""
        lost = sum(state.take_missing(trade_id) for trade_id in range(first, last + 1))
        self.unrepairable += lost
        if lost:
            log.error(
                "ids cannot be repaired", extra={"symbol": state.symbol, "first": first, "last": last, "why": why}
            )

    def _wait(self, symbol: str) -> None:
        """Ask ``symbol`` again later: 1 s, doubling with each short answer in a row, up to 15 s."""
        _, in_a_row = self._waits.get(symbol, (0.0, 0))
        self._waits[symbol] = (time.monotonic() + min(RETRY_CAP_S, 2.0**in_a_row), in_a_row + 1)

    def _never_coming(self, state: SymbolState, first: int, seen: tuple[int, int]) -> bool:
        """A page started past ``first``, at ``seen`` (id, time): True (ids up to it given up on) once pages
        have done so for ``give_up_after_s``; until then the ids are asked again."""
        now = time.monotonic()
        doubt_id, since = self._doubts.get(state.symbol, (first, now))
        if doubt_id != first:
            since = now
        self._doubts[state.symbol] = (first, since)
        if now - since < self._give_up_after_s:
            return False
        del self._doubts[state.symbol]
        self._give_up_on(state, first, seen[0] - 1, seen[1])
        return True

    def _give_up_on(self, state: SymbolState, first: int, last: int, next_time_ms: int) -> None:
        """Binance has no trades ``first..last`` (they are older than it keeps, or never were): say so, record
        them as an exchange gap (at the time of the trade REST showed after them) for audits, go on."""
        last = min(last, state.missing[0][1])
        state.give_up(first, last)
        self._pipeline().add_exchange_gap(state.symbol, first, last, next_time_ms)
        self.unrepairable += last - first + 1
        log.error("ids cannot be repaired", extra={"symbol": state.symbol, "first": first, "last": last})
