"""The sink: chunks of line protocol into InfluxDB through influxdb-client's batching WriteApi.

Each chunk (thousands of trades, pre-joined) is one item for the WriteApi, so its ``batch_size`` counts chunks
and one request carries up to ``batch_size * chunk_lines`` trades; a per-Point path tops out near 60,000
trades/s on this kind of machine. Requests go out from ``write_workers`` threads, with urllib3 retries
(exponential backoff with random jitter, as influxdb-client's WritesRetry does it). The callbacks settle each
chunk: written (counted per symbol, lag observed) or given up on (counted and logged as lost).
Memory is bounded: :meth:`ChunkWriter.wait_for_room` holds the reader back while more than
``max_pending`` trades are unconfirmed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from influxdb_client.client.write_api import WriteApi, WriteOptions
from prometheus_client import Histogram
from reactivex.scheduler import ThreadPoolScheduler

from collector.pipeline import Chunk, chunk_numbers
from collector.stats import Stats
from pricecap.influx import connect, describe
from pricecap.settings import InfluxSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriterOptions:
    """Tuning of the write path (README: Collector, Tuning)."""

    batch_chunks: int = 5
    flush_interval_ms: int = 1_000
    write_workers: int = 2
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
    ) -> None:
        self.settings = settings
        self.options = options
        self.stats = stats
        self._lag = lag
        self._chunks: dict[int, Chunk] = {}
        self._submitted = 0
        self._settled = 0
        self._client = connect(settings, gzip=options.gzip)
        self._api: WriteApi = self._client.write_api(
            write_options=WriteOptions(
                batch_size=options.batch_chunks,
                flush_interval=options.flush_interval_ms,
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

    @property
    def pending(self) -> int:
        """Trades handed to the WriteApi and not settled yet."""
        return self._submitted - self._settled

    def submit(self, chunk: Chunk) -> None:
        """Hand one chunk to the WriteApi (returns at once; the chunk is settled by a callback)."""
        self._chunks[chunk.number] = chunk
        self._submitted += chunk.size
        self.stats.pending = self.pending
        self._api.write(bucket=self.settings.bucket, record=chunk.body())

    def write_raw(self, lines: str) -> None:
        """Write lines that need no accounting (the periodic health point)."""
        self._api.write(bucket=self.settings.bucket, record=lines)

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
        chunks = [c for n in chunk_numbers(body) if (c := self._chunks.pop(n, None)) is not None]
        self._settled += sum(c.size for c in chunks)
        self.stats.pending = self.pending
        return chunks

    def _written(self, _conf: tuple[str, str, str], body: Any) -> None:
        chunks = self._settle(body)
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
        with self.stats.lock:
            self.stats.write_batches["failure"] += 1
        self.stats.lost += trades
        log.error("write failed, trades lost", extra={"trades": trades, "error": describe(error, self.settings)})

    def _retried(self, _conf: tuple[str, str, str], _body: Any, error: Exception) -> None:
        self.stats.write_retries += 1
        log.warning("write retry", extra={"error": describe(error, self.settings)})
