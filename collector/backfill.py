"""History from REST: every trade of one symbol in a time range, written with the live data model.

``aggTrades`` by start time gives the first trade id of the range; ``historicalTrades`` pages of 1,000 from
there up to the end, within the weight budget of :class:`~collector.rest.BinanceRest`. From a REST base without
``historicalTrades`` (``data-api.binance.vision``), ``aggTrades`` pages instead: their single-trade aggregates
exactly, and the trades of aggregates of several trades only while they are among the newest 1,000
(:mod:`collector.aggregates`); the ids it cannot have are counted in ``unavailable``. After each write is
confirmed the next id is saved to a progress file, so an interrupted backfill resumes where it stopped.
The same trades land on the same points as live ones: running it twice, or over collected data, changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from collector import binance
from collector.aggregates import AggregateReader
from collector.bulk import BulkWriter
from collector.decode import TradeEvent, rest_lines
from collector.rest import BinanceRest, NotServedError
from collector.spool import write_atomically
from pricecap import model


@dataclass
class BackfillProgress:
    """Where a backfill stands: the next id to fetch, and what it wrote so far."""

    next_id: int | None = None
    written: int = 0
    last_time_ms: int = 0
    unavailable: int = 0
    """Ids the REST base cannot give (trades of old aggregates of several trades, without historicalTrades)."""


def load_progress(path: Path) -> BackfillProgress:
    """The saved progress of an interrupted backfill (a fresh one when there is none)."""
    try:
        data = orjson.loads(path.read_bytes())
        return BackfillProgress(
            int(data["next_id"]), int(data["written"]), int(data["last_time_ms"]), int(data.get("unavailable", 0))
        )
    except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return BackfillProgress()


async def backfill(
    rest: BinanceRest,
    writer: BulkWriter,
    symbol: str,
    start_ms: int,
    stop_ms: int,
    progress_path: Path,
    on_page: Callable[[BackfillProgress], None],
    pages_per_write: int = 10,
) -> BackfillProgress:
    """Write every trade of ``symbol`` with time in ``[start_ms, stop_ms)``; resumes from ``progress_path``."""
    progress = load_progress(progress_path)
    if progress.next_id is None:
        progress.next_id = await rest.first_id_at(symbol, start_ms)
        if progress.next_id is None:
            return progress
    prefix = model.series_prefix(model.EXCHANGE_BINANCE, symbol)
    lines: list[str] = []
    done = False
    pages = _Pages(rest, symbol, start_ms)
    while not done:
        page, full = await pages.next(progress)
        lines += rest_lines(prefix, [t for t in page if start_ms <= t.T < stop_ms])
        done = not full or stop_ms <= progress.last_time_ms
        if len(lines) >= pages_per_write * 1000 or done:
            if lines:
                writer.write("\n".join(lines))
                writer.flush()
            progress.written += len(lines)
            lines = []
            write_atomically(progress_path, orjson.dumps(progress.__dict__))
        on_page(progress)
    progress_path.unlink(missing_ok=True)
    return progress


class _Pages:
    """The pages of a backfill: historicalTrades by id, or aggTrades where the REST base lacks it."""

    def __init__(self, rest: BinanceRest, symbol: str, start_ms: int) -> None:
        self._rest, self._symbol, self._start_ms = rest, symbol, start_ms
        self._reader = AggregateReader(rest)
        self._cursor: int | None = None

    async def next(self, progress: BackfillProgress) -> tuple[list[TradeEvent], bool]:
        """The next page from ``progress.next_id``, and whether it was full; moves ``progress`` on."""
        assert progress.next_id is not None
        if self._reader.historical:
            try:
                page = await self._rest.trades_from(self._symbol, progress.next_id)
            except NotServedError:
                self._reader.historical = False
                return [], True
            if page:
                progress.next_id, progress.last_time_ms = page[-1].t + 1, page[-1].T
            return page, len(page) == binance.MAX_TRADES_PER_REQUEST
        start = None if self._cursor is not None else progress.last_time_ms or self._start_ms
        aggregates = await self._rest.agg_trades(self._symbol, from_agg=self._cursor, start_ms=start)
        expanded = await self._reader.expand(self._symbol, aggregates, progress.next_id, None)
        progress.unavailable += sum(high - low + 1 for low, high in expanded.lost)
        if aggregates:
            self._cursor = aggregates[-1].a + 1
            progress.next_id = max(progress.next_id, aggregates[-1].l + 1)
            progress.last_time_ms = aggregates[-1].T
        return expanded.trades, len(aggregates) == binance.MAX_TRADES_PER_REQUEST
