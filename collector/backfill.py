"""History from REST: every trade of one symbol in a time range, written with the live data model.

``aggTrades`` by start time gives the first trade id of the range; ``historicalTrades`` pages of 1,000 from
there up to the end, within the weight budget of :class:`~collector.rest.BinanceRest`. After each write is
confirmed the next id is saved to a progress file, so an interrupted backfill resumes where it stopped.
The same trades land on the same points as live ones: running it twice, or over collected data, changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from collector import binance
from collector.bulk import BulkWriter
from collector.rest import BinanceRest
from collector.spool import write_atomically
from pricecap import model


@dataclass
class BackfillProgress:
    """Where a backfill stands: the next id to fetch, and what it wrote so far."""

    next_id: int | None = None
    written: int = 0
    last_time_ms: int = 0


def load_progress(path: Path) -> BackfillProgress:
    """The saved progress of an interrupted backfill (a fresh one when there is none)."""
    try:
        data = orjson.loads(path.read_bytes())
        return BackfillProgress(int(data["next_id"]), int(data["written"]), int(data["last_time_ms"]))
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
    while not done:
        page = await rest.trades_from(symbol, progress.next_id)
        inside = [t for t in page if start_ms <= t.T < stop_ms and model.decimal_ok(t.p) and model.decimal_ok(t.q)]
        lines += [model.encode_line(prefix, t.t, t.p, t.q, t.T, t.m) for t in inside]
        done = len(page) < binance.MAX_TRADES_PER_REQUEST or stop_ms <= page[-1].T
        if page:
            progress.next_id = page[-1].t + 1
            progress.last_time_ms = page[-1].T
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
