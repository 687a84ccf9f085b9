"""Gap repair: fetch exactly the trade ids the streams missed from REST ``historicalTrades``.

The pipeline says per symbol what is missing (closed ranges below its last id, and whether it is catching up
after a reconnect or a restart); :class:`Repairer` fetches those ids a page at a time, within the weight budget
of :class:`~collector.rest.BinanceRest` (which honours 429 ``Retry-After``), and hands them back to the pipeline.
A symbol catching up first gets one cheap question, its newest trade id (weight 4): a market that stayed
quiet through a reconnect or a restart, the usual case among hundreds of symbols, is then done without a
``historicalTrades`` page (weight 25). Backfilled trades are written with the same timestamps as live ones,
so a repair is idempotent.

REST lags the stream ("Data Source: Database"), so a page that stops short of the missing ids proves nothing:
the symbol is asked again later, with backoff (1 s doubling up to 15 s), for as long as it takes. Ids are given
up on only when REST shows they will never come: a page that starts *past* them (so REST's newest id is
beyond them) at every ask over ``give_up_after_s`` (5 minutes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from collector import binance
from collector.pipeline import SymbolState, TradePipeline
from collector.rest import BinanceRest, RestError

log = logging.getLogger(__name__)
GIVE_UP_AFTER_S = 300.0
"""How long REST's pages must start past missing ids before they are given up on."""
RETRY_CAP_S = 15.0
"""The longest wait before asking REST again for ids it has not caught up with."""


def next_request(state: SymbolState) -> tuple[int, int] | None:
    """The ``(fromId, limit)`` of the next page to fetch for one symbol, or None when nothing is missing."""
    if state.missing:
        first, last = state.missing[0]
        return first, min(binance.MAX_TRADES_PER_REQUEST, last - first + 1)
    if state.catching_up and state.last_id is not None:
        return state.last_id + 1, binance.MAX_TRADES_PER_REQUEST
    return None


class Repairer:
    """Works through every symbol that needs repair, one page at a time, until stopped."""

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
        self._since: dict[str, float] = {}
        self._waits: dict[str, tuple[float, int]] = {}
        """Symbols REST has not caught up with: when to ask again, and how many asks in a row were short."""
        self._doubts: dict[str, tuple[int, float]] = {}
        """Per symbol, a missing id that REST's pages start past, and since when they have done so."""
        self._behind: set[str] = set()
        """Symbols catching up whose newest trade id showed trades to fetch."""
        self.unrepairable = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Repair until ``stop`` is set."""
        while not stop.is_set():
            busy = False
            for state in self._due(self._pipeline().states.values()):
                if stop.is_set():
                    break
                busy |= await self._repair_page(state)
            if not busy:
                await asyncio.sleep(0.2)

    def _due(self, states: Iterable[SymbolState]) -> list[SymbolState]:
        """Symbols with work that has waited ``settle_s`` (the live stream often closes a catch-up itself)."""
        now = time.monotonic()
        due = []
        for state in states:
            if not state.needs_repair():
                self._since.pop(state.symbol, None)
                self._behind.discard(state.symbol)
                self._waits.pop(state.symbol, None)
                self._doubts.pop(state.symbol, None)
            elif (
                now - self._since.setdefault(state.symbol, now) >= self._settle_s
                and now >= self._waits.get(state.symbol, (0.0, 0))[0]
            ):
                due.append(state)
        return due

    async def _repair_page(self, state: SymbolState) -> bool:
        """Fetch and hand over one page for ``state``; False when there was nothing to do."""
        request = next_request(state)
        if request is None:
            return False
        from_id, limit = request
        pipeline, catch_ups = self._pipeline(), state.catch_ups
        try:
            if not state.missing and state.symbol not in self._behind:
                latest = await self._rest.latest_id(state.symbol)
                if state.catch_ups != catch_ups:  # the stream reconnected meanwhile: ask again
                    return True
                if latest is None or latest < from_id:
                    pipeline.add_backfilled(state.symbol, [], complete=True)
                else:
                    self._behind.add(state.symbol)
                return True
            trades = await self._rest.trades_from(state.symbol, from_id, limit)
        except RestError as e:
            log.warning("repair request failed", extra={"symbol": state.symbol, "from_id": from_id, "error": str(e)})
            self._wait(state.symbol)
            return True
        if state.missing and (not trades or trades[0].t != from_id):
            if not trades or not self._never_coming(state, from_id, trades[0].t - 1):
                self._wait(state.symbol)  # REST has not caught up (yet): ask again later
            pipeline.add_backfilled(state.symbol, trades, complete=False)
            return True
        self._waits.pop(state.symbol, None)
        self._doubts.pop(state.symbol, None)
        # a short page reaches the present, unless the stream reconnected while it was asked for
        complete = len(trades) < limit and not state.missing and state.catch_ups == catch_ups
        taken = pipeline.add_backfilled(state.symbol, trades, complete=complete)
        if taken:
            self._flush()
            log.info("ids repaired", extra={"symbol": state.symbol, "from_id": from_id, "trades": taken})
        return True

    def _wait(self, symbol: str) -> None:
        """Ask ``symbol`` again later: 1 s, doubling with each short answer in a row, up to 15 s."""
        _, in_a_row = self._waits.get(symbol, (0.0, 0))
        self._waits[symbol] = (time.monotonic() + min(RETRY_CAP_S, 2.0**in_a_row), in_a_row + 1)

    def _never_coming(self, state: SymbolState, first: int, last: int) -> bool:
        """A page started past ``first..last``: True (ids given up on) once pages have done so for
        ``give_up_after_s``; until then the ids are asked again."""
        now = time.monotonic()
        doubt_id, since = self._doubts.get(state.symbol, (first, now))
        if doubt_id != first:
            since = now
        self._doubts[state.symbol] = (first, since)
        if now - since < self._give_up_after_s:
            return False
        del self._doubts[state.symbol]
        self._give_up_on(state, first, last)
        return True

    def _give_up_on(self, state: SymbolState, first: int, last: int) -> None:
        """Binance has no trades ``first..last`` (they are older than it keeps, or never were): say so, go on."""
        last = min(last, state.missing[0][1])
        state.give_up(first, last)
        self.unrepairable += last - first + 1
        log.error("ids cannot be repaired", extra={"symbol": state.symbol, "first": first, "last": last})
