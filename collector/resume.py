"""Where each symbol resumes at start-up: the last trade that is surely stored, bounded by the repair window.

Sources, lowest wins (resuming too early only fetches a few trades again; too late would skip some): the
last stored trade id in InfluxDB (Flux, ``last_ids.flux``) and the checkpoint (``collector/checkpoint.py``).
A symbol InfluxDB holds nothing of starts afresh, live only: a checkpoint alone could belong to a bucket
that was emptied since (``pricecap backfill`` fetches history). When InfluxDB does not answer at start-up,
the checkpoint is all there is (:func:`checkpoint_points`).
Trades older than ``repair_window_s`` are not fetched: the symbol resumes at the first trade inside the window,
found with ``aggTrades`` by time, and the ids skipped are logged.
"""

from __future__ import annotations

import logging
import time

from collector.checkpoint import Checkpoint
from collector.rest import BinanceRest

log = logging.getLogger(__name__)


def resume_points(
    symbols: list[str], checkpoint: Checkpoint | None, stored: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    """Per symbol with any record, ``(last durable id, its time in ms)``; the checkpoint's time is its save."""
    points: dict[str, tuple[int, int]] = {}
    for symbol in symbols:
        if symbol not in stored:
            continue
        trade_id, time_ns = stored[symbol]
        candidates = [(trade_id, time_ns // 1_000_000)]
        if checkpoint is not None and symbol in checkpoint.watermarks:
            candidates.append((checkpoint.watermarks[symbol], checkpoint.saved_at_ms))
        points[symbol] = min(candidates)
    return points


def checkpoint_points(symbols: list[str], checkpoint: Checkpoint | None) -> dict[str, tuple[int, int]]:
    """Like :func:`resume_points` with InfluxDB not answering: the checkpoint's records alone."""
    if checkpoint is None:
        return {}
    return {s: (checkpoint.watermarks[s], checkpoint.saved_at_ms) for s in symbols if s in checkpoint.watermarks}


async def bounded_by_window(
    points: dict[str, tuple[int, int]], rest: BinanceRest, repair_window_s: float
) -> dict[str, int]:
    """The id to resume after, per symbol, moved forward where the last record is older than the window."""
    horizon_ms = int((time.time() - repair_window_s) * 1000)
    resume: dict[str, int] = {}
    for symbol, (last_id, time_ms) in points.items():
        if time_ms >= horizon_ms:
            resume[symbol] = last_id
            continue
        first = await rest.first_id_at(symbol, horizon_ms)
        if first is None or first <= last_id + 1:
            resume[symbol] = last_id
            continue
        resume[symbol] = first - 1
        log.warning(
            "ids older than the repair window are not fetched",
            extra={"symbol": symbol, "first": last_id + 1, "last": first - 1, "window_s": repair_window_s},
        )
    return resume
