"""The sink: chunks of line protocol into InfluxDB through influxdb-client's batching WriteApi.

Each chunk (pre-joined lines) is one item for the WriteApi and, with ``batch_size=1``, one request: the
batching happens before, where the collector decides when to hand a chunk over (``collector/service.py``:
at once while a write worker is free, else when the chunk is full or a worker frees up), so a request
carries one trade when the collector is idle and up to ``chunk_lines`` under load. A per-Point path tops out
near 60,000 trades/s on this kind of machine. Requests go out from ``write_workers`` threads, with urllib3 retries
(exponential backoff with random jitter, as influxdb-client's WritesRetry does it). The callbacks settle each
chunk: written (counted per symbol, lag observed) or given up on, which sends the request body to the durable
spool (``collector/spool.py``) for replay once InfluxDB is back. Only when the spool is full are trades left
unwritten: counted (``lost``) and logged, their chunks stay *pinned* in memory so that the checkpoint never
passes them, and once a write succeeds again they are handed to the WriteApi once more
(:meth:`ChunkWriter.requeue_pinned`); should the process stop first, the next start repairs them from REST.
Memory is bounded: :meth:`ChunkWriter.wait_for_room` holds the reader back while more than
``max_pending`` trades are unconfirmed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from influxdb_client.client.write_api import SYNCHRONOUS, WriteApi, WriteOptions
from prometheus_client import Histogram
from reactivex.scheduler import ThreadPoolScheduler

from collector.pipeline import Chunk, chunk_numbers, lowest_ids
from collector.spool import Spool
from collector.stats import Stats
from pricecap import model
from pricecap.influx import connect, describe
from pricecap.settings import InfluxSettings

log = logging.getLogger(__name__)
WINDOW_MS = 1_000
"""The WriteApi's batching window; with ``batch_size=1`` each item closes its window at once, so this only
paces the empty windows the WriteApi's timer makes. It also bounds how long the process takes to exit after
:meth:`ChunkWriter.close`: the window's timer waits in a pool thread that the interpreter joins at exit, and
``WriteApi.close`` does not cancel it. 10 s saved an idle collector one wake-up a second but made every stop
(SIGTERM, ``pricecap down``) take up to 10 s, which is docker stop's whole grace period."""


@dataclass(frozen=True)
class WriterOptions:
    """Tuning of the write path (docs/guides/collector.md)."""

    write_workers: int = 2
    """Concurrent requests; while fewer chunks than this are in flight, the writer has room."""
    max_pending: int = 500_000
    gzip: bool = False
    retry_interval_ms: int = 1_000
    max_retries: int = 6
    max_retry_delay_ms: int = 30_000
    max_retry_time_ms: int = 120_000
    close_wait_ms: int = 300_000


class ChunkWriter:
    """Writes chunks, settles them from the WriteApi's callbacks, and applies backpressure."""

    def __init__(
        self,
        settings: InfluxSettings,
        options: WriterOptions,
        stats: Stats,
        lag: Histogram | None = None,
        spool: Spool | None = None,
        on_room: Callable[[], None] | None = None,
    ) -> None:
        """``on_room`` is called (from a write thread) whenever a settled chunk leaves a write worker free."""
        self.settings = settings
        self.options = options
        self.stats = stats
        self.spool = spool
        self._lag = lag
        self._on_room = on_room
        self._chunks: dict[int, Chunk] = {}
        self._pinned: dict[int, Chunk] = {}
        self._requests_written = 0
        self._written_when_pinned = 0
        self._submitted = 0
        self._settled = 0
        self._counts_lock = threading.Lock()
        """Guards ``_submitted`` and ``_settled``: the loop and the write threads both change them."""
        self._client = connect(settings, gzip=options.gzip)
        self._api: WriteApi = self._client.write_api(
            write_options=WriteOptions(
                batch_size=1,
                flush_interval=WINDOW_MS,
                retry_interval=options.retry_interval_ms,
                max_retries=options.max_retries,
                max_retry_delay=options.max_retry_delay_ms,
                max_retry_time=options.max_retry_time_ms,
                exponential_base=2,
                max_close_wait=options.close_wait_ms,
                write_scheduler=ThreadPoolScheduler(max_workers=options.write_workers),
            ),
            success_callback=self._written,
            error_callback=self._given_up,
            retry_callback=self._retried,
        )
        self._replay_api = self._client.write_api(write_options=SYNCHRONOUS)

    def has_room(self) -> bool:
        """True while a write worker is free: a chunk handed over now goes out at once."""
        return len(self._chunks) < self.options.write_workers

    @property
    def pending(self) -> int:
        """Trades handed to the WriteApi and not settled yet, and trades held after a full spool."""
        return self._submitted - self._settled

    def submit(self, chunk: Chunk) -> None:
        """Hand one chunk to the WriteApi (returns at once; the chunk is settled by a callback)."""
        self._chunks[chunk.number] = chunk
        with self._counts_lock:
            self._submitted += chunk.size
        self.stats.pending = self.pending
        self._api.write(bucket=self.settings.bucket, record=chunk.body())

    def write_raw(self, lines: str) -> None:
        """Write lines that need no accounting (the periodic health point)."""
        self._api.write(bucket=self.settings.bucket, record=lines)

    def unsettled_first_ids(self) -> dict[str, int]:
        """Per symbol, the lowest trade id not yet durable (in flight, or lost with the spool full)."""
        return lowest_ids([*list(self._chunks.values()), *list(self._pinned.values())])

    def replay_one(self) -> int | None:
        """Write the oldest spooled request again; None when the spool is empty, else the trades it held.

        Raises the write's error when InfluxDB still refuses (the record stays for the next try).
        """
        if self.spool is None or (body := self.spool.peek()) is None:
            return None
        self._replay_api.write(bucket=self.settings.bucket, record=body)
        self.spool.commit(body)
        counts = symbols_in(body)
        with self.stats.lock:
            self.stats.written.update(counts)
            self.stats.replayed_batches += 1
        return sum(counts.values())

    async def wait_for_room(self) -> None:
        """Return once fewer than ``max_pending`` trades are unconfirmed (backpressure on the reader)."""
        while self.pending >= self.options.max_pending:
            await asyncio.sleep(0.005)

    def close(self) -> None:
        """Flush every chunk and stop the WriteApi (blocks until settled or ``close_wait_ms`` passed)."""
        self._api.close()
        self._client.close()
        if self._chunks:
            unsettled = sum(c.size for c in self._chunks.values())
            log.error("writer closed with unsettled trades", extra={"trades": unsettled})

    def _settle(self, body: bytes | str) -> list[Chunk]:
        chunks = [c for n in chunk_numbers(body) if (c := self._chunks.get(n)) is not None]
        with self._counts_lock:
            self._settled += sum(c.size for c in chunks)
        self.stats.pending = self.pending
        return chunks

    def _forget(self, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            self._chunks.pop(chunk.number, None)
        self._tell_room()

    def _tell_room(self) -> None:
        if self._on_room is not None and self.has_room():
            self._on_room()

    def _written(self, _conf: tuple[str, str, str], body: Any) -> None:
        self._requests_written += 1
        chunks = self._settle(body)
        self._forget(chunks)
        now = time.time()
        with self.stats.lock:
            self.stats.write_batches["success"] += 1
            for chunk in chunks:
                self.stats.written.update(chunk.counts)
        if chunks:
            oldest = min(c.first_time_ms for c in chunks) / 1000
            self.stats.last_write_lag_s = max(0.0, now - max(c.last_time_ms for c in chunks) / 1000)
            if self._lag is not None:
                self._lag.observe(max(0.0, now - oldest))

    def _given_up(self, _conf: tuple[str, str, str], body: Any, error: Exception) -> None:
        chunks = self._settle(body)
        trades = sum(c.size for c in chunks)
        reason = describe(error, self.settings)
        with self.stats.lock:
            self.stats.write_batches["failure"] += 1
        data = body if isinstance(body, bytes) else str(body).encode()
        if self.spool is not None and self.spool.append(data):
            self._forget(chunks)
            self.stats.spooled += trades
            log.warning("write given up, spooled for replay", extra={"trades": trades, "error": reason})
            return
        for chunk in chunks:
            self._pinned[chunk.number] = self._chunks.pop(chunk.number)
        with self._counts_lock:
            self._settled -= trades  # held, not settled: they count toward max_pending, so memory stays bounded
        self.stats.pending = self.pending
        self._written_when_pinned = self._requests_written
        self._tell_room()
        with self.stats.lock:
            self.stats.lost += trades
        log.error(
            "write given up and the spool is full or off: trades held until InfluxDB takes writes again",
            extra={"trades": trades, "error": reason},
        )

    def requeue_pinned(self) -> int:
        """Hand the chunks left unwritten with the spool full to the WriteApi again, once a write has succeeded
        since the last of them was refused (InfluxDB takes writes again); the trades handed over."""
        if not self._pinned or self._requests_written == self._written_when_pinned:
            return 0
        chunks = [self._pinned[number] for number in list(self._pinned)]  # a chunk pinned meanwhile waits
        trades = sum(c.size for c in chunks)
        with self.stats.lock:
            self.stats.lost -= trades
            self.stats.requeued += trades
        for chunk in chunks:
            with self._counts_lock:
                self._settled += chunk.size  # submit counts it as unconfirmed again
            self.submit(chunk)  # in flight before it stops being pinned, so the checkpoint holds throughout
            self._pinned.pop(chunk.number, None)
        log.warning("trades left unwritten with the spool full are written again", extra={"trades": trades})
        return trades

    def _retried(self, _conf: tuple[str, str, str], _body: Any, error: Exception) -> None:
        self.stats.write_retries += 1
        log.warning("write retry", extra={"error": describe(error, self.settings)})


def symbols_in(body: bytes) -> Counter[str]:
    """Trades per symbol in a line-protocol body of trades (comment lines and other measurements skipped)."""
    counts: Counter[str] = Counter()
    marker = f"{model.MEASUREMENT},".encode()
    for line in body.split(b"\n"):
        if line.startswith(marker) and b",symbol=" in line:
            counts[line.split(b",symbol=", 1)[1].split(b" ", 1)[0].decode()] += 1
    return counts
