"""The collector service: connections of streams -> decoder -> pipeline -> chunk writer, plus metrics and health.

Around that hot path: at start-up each symbol resumes after its last durable trade (checkpoint or InfluxDB)
and catches up from REST (with InfluxDB not answering, from the checkpoint alone, the rest once it answers);
the repairer fills gaps; the data watchdog replaces connections whose data stopped; the spool keeps what
InfluxDB refused and replays it; the checkpoint is saved each second in which it moved. Each of these tasks, and each
connection's reader, runs under the supervisor, which restarts it after a failure. Runs until ``stop`` is set
(SIGINT/SIGTERM in the CLI), then stops reading, writes every buffered trade and returns. Blocking work
runs in worker threads so the event loop stays responsive.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from collector import binance, checkpoint
from collector.backoff import AttemptLimiter, Backoff
from collector.completeness import HourlyAudit
from collector.decode import ControlMessage, FrameDecoder, ShutdownEvent, TradeEvent
from collector.endpoints import Endpoints
from collector.pipeline import TradePipeline
from collector.repair import Repairer
from collector.rest import DEFAULT_WEIGHT_SHARE, BinanceRest, RestError, WeightBudget
from collector.resume import bounded_by_window, checkpoint_points, resume_points
from collector.spool import Spool
from collector.stats import Stats, registry_for
from collector.stream import Connection, StreamOptions
from collector.supervisor import Supervisor
from collector.watchdog import Watchdog
from collector.writer import ChunkWriter, WriterOptions
from pricecap import model
from pricecap.errors import BadInputError, PricecapError
from pricecap.influx import InfluxDownError, describe
from pricecap.settings import InfluxSettings
from pricecap.shards import Shard
from queries.api import Prices

log = logging.getLogger(__name__)
CHECKPOINT_FILE = "checkpoint.json"
CHECKPOINT_INTERVAL_S = 1.0
HOUSEKEEPING_TICK_S = 0.1
LINGER_STEP_RATE = 250
"""Trades/s of flow per extra ``linger_s`` between idle hand-overs: 200 trades/s keep the linger's latency;
from about 10,000 trades/s on only full chunks go out (docs/guides/collector.md#writing). 400 cost four
shards of 12,500 trades/s 0.8 us a trade more (smaller requests) for no latency gain at 200/s."""
LISTING_MARGIN_MS = 60_000
"""A symbol newly TRADING is read from this long before the previous look at exchangeInfo (clock skew)."""


class CollectorConfig(BaseModel):
    """What to collect and how (every field has a ``pricecap collect`` option)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    symbols: tuple[str, ...] = ()
    all_symbols: bool = False
    shard: Shard = Shard()
    """The share of the symbols (of ``symbols`` or of every trading one) this collector takes."""
    ws_url: str = binance.WS_BASE_URLS["production"]
    rest_url: str = binance.REST_BASE_URLS["production"]
    streams_per_connection: int = Field(default=200, ge=1, le=binance.MAX_STREAMS_PER_CONNECTION)
    chunk_lines: int = Field(default=10_000, ge=1)
    """The most trades in one write request."""
    linger_s: float = Field(default=0.02, ge=0)
    """Idle writes (a worker free) follow each other at least this far apart, one more linger per
    :data:`LINGER_STEP_RATE` trades/s of flow; the first after a quiet spell goes at once, a full chunk goes at
    once and restarts the clock. Caps the requests a flow makes (each costs 2-4 ms of CPU in the WriteApi)."""
    flush_interval_s: float = Field(default=1.0, gt=0)
    """The longest trades wait to be handed over while every write worker is busy (slow or retrying)."""
    health_interval_s: float = Field(default=10.0, gt=0)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9108
    instance: str = Field(default_factory=socket.gethostname)
    """The collector's name in its health points, logs and metrics (two copies on one host need two)."""
    spool_dir: Path | None = None
    """Spool and checkpoint folder; None keeps neither (only for tests and benchmarks)."""
    spool_max_bytes: int = Field(default=2**30, ge=2**20)
    gap_alarm_s: float = Field(default=120.0, gt=0)
    """``/healthz`` is 503 while a symbol has waited longer than this for a repair."""
    repair_window_s: float = Field(default=86_400.0, ge=0)
    """At start-up, trades older than this are not fetched from REST; 0 turns start-up repair off."""
    rest_weight_share: float = Field(default=DEFAULT_WEIGHT_SHARE, gt=0, le=1)
    """The share of the IP's REST weight (6,000 a minute) the collector spends; a repair backlog may take up to
    90 % while no other client on the IP spends any."""
    hourly_audit: bool = True
    """Audit each closed hour of the collector's symbols: completeness points and the pricecap_audit_* gauges."""
    symbols_refresh_s: float = Field(default=600.0, ge=0)
    """With ``all_symbols``: how often exchangeInfo is read again for listed and delisted symbols (0: never)."""
    writer: WriterOptions = WriterOptions()
    stream: StreamOptions = StreamOptions()


class Collector:
    """One collector process: owns the pipeline, the writer, the connections and the endpoints."""

    def __init__(self, config: CollectorConfig, settings: InfluxSettings) -> None:
        self.config = config
        self.settings = settings
        self.rest = BinanceRest(config.rest_url, budget=WeightBudget.share(config.rest_weight_share))
        self.decoder = FrameDecoder()
        self.symbols: list[str] = []
        self.pipeline = TradePipeline([], rejected=self.decoder.malformed)
        self.stats = Stats(
            self.pipeline.states,
            malformed=self.decoder.malformed,
            shard=str(config.shard),
            instance=config.instance,
            gap_alarm_s=config.gap_alarm_s,
            spool_max_bytes=config.spool_max_bytes if config.spool_dir else 0,
            rest_pauses=self.rest.rate_limited,
        )
        self.writer: ChunkWriter | None = None
        self.endpoints: Endpoints | None = None
        self.connections: list[Connection] = []
        self._connection_tasks: list[asyncio.Task[None]] = []
        self._leaving: set[str] = set()
        """Symbols no longer TRADING, unsubscribed once their last trade is stored."""
        self._listed_ms = 0
        """When the symbol list was last read (exchangeInfo): a symbol TRADING since is collected from then on."""
        self.spool: Spool | None = None
        self.repairer = Repairer(lambda: self.pipeline, self.rest, self._flush_chunk)
        self.stats.repair_waits = self.repairer.waiting
        self.supervisor = Supervisor(self.stats)
        self.watchdog: Watchdog | None = None
        self._unresolved: set[str] = set()
        """Symbols that started live because InfluxDB did not answer and the checkpoint knew nothing of them."""
        self.fatal: PricecapError | None = None
        """A configuration error found while running (InfluxDB refused the token, no bucket): run raises it."""
        self._checkpoint_path = config.spool_dir / CHECKPOINT_FILE if config.spool_dir else None
        self._saved_marks: dict[str, int] | None = None
        self._target = f"{settings.url} {settings.org} {settings.bucket} {model.EXCHANGE_BINANCE} {config.rest_url}"
        self._samples_left = 5
        self._armed = False
        """A write worker is free and no hand-over is scheduled: the next trade schedules one."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self._last_hand_over = 0.0
        self._spacing = config.linger_s
        """The least time between idle hand-overs now (see :func:`idle_spacing`)."""
        self._handed = self._handed_before = 0
        """Trades handed to the writer so far, and up to the last idle hand-over."""

    async def resolve_symbols(self) -> list[str]:
        """The symbols to collect: this shard's share of the configured ones, or of every trading spot symbol."""
        self._listed_ms = int(time.time() * 1000)
        if self.config.all_symbols:
            return self.config.shard.select(await self.rest.trading_symbols())
        return self.config.shard.select(sorted({s.upper() for s in self.config.symbols}))

    async def run(self, stop: asyncio.Event) -> None:
        """Collect until ``stop`` is set, then flush everything and return."""
        self.symbols = await self.resolve_symbols()
        if not self.symbols:
            given = "trading symbols" if self.config.all_symbols else "symbols given"
            raise BadInputError(f"shard {self.config.shard} takes none of the {given}: give it more, or fewer shards")
        self.pipeline = TradePipeline(
            self.symbols, chunk_lines=self.config.chunk_lines, rejected=self.decoder.malformed
        )
        self.stats.symbols = self.pipeline.states
        if self.config.spool_dir is not None:
            self.spool = Spool(self.config.spool_dir, self.config.spool_max_bytes)
        await self._resume()
        registry, lag = registry_for(self.stats)
        self._loop = asyncio.get_running_loop()
        self.writer = ChunkWriter(self.settings, self.config.writer, self.stats, lag, self.spool, self._room_freed)
        self._armed = True
        if self.config.metrics_port is not None:
            self.endpoints = Endpoints(self.config.metrics_host, self.config.metrics_port, registry, self.health)
            self.endpoints.start()
        self.connections = self._make_connections()
        self.stats.connections_total = len(self.connections)
        log.info(
            "collector started",
            extra={
                "symbols": len(self.symbols),
                "shard": str(self.config.shard),
                "instance": self.config.instance,
                "connections": len(self.connections),
                "bucket": self.settings.bucket,
            },
        )
        gc.freeze()  # the start-up's objects (modules, settings, clients) are never garbage: stop rescanning them
        self._connection_tasks = [
            self.supervisor.start(f"connection_{connection.index}", connection.run) for connection in self.connections
        ]
        self.watchdog = Watchdog(self.connections, lambda: self.pipeline, self.rest, self.stats, self._reading_paused)
        for name, task in (
            ("housekeeping", self._housekeeping),
            ("checkpointer", self._checkpointer),
            ("health_writer", self._health_writer),
            ("repairer", self.repairer.run),
            ("replayer", self._replay),
            ("watchdog", self.watchdog.run),
            ("influxdb_wait", self._resume_late),
            *([("hourly_audit", self._hourly_audit(self.writer).run)] if self.config.hourly_audit else []),
            *(
                [("symbol_refresh", self._refresh_symbols)]
                if self.config.all_symbols and self.config.symbols_refresh_s
                else []
            ),
        ):
            self.supervisor.start(name, lambda task=task: task(stop))  # type: ignore[misc]
        await stop.wait()
        log.info("collector stopping")
        await asyncio.gather(*(connection.stop() for connection in self.connections))
        await asyncio.gather(*self._connection_tasks, return_exceptions=True)
        await self.supervisor.stop()
        await self._shutdown()
        if self.fatal is not None:
            raise self.fatal

    def _hourly_audit(self, writer: ChunkWriter) -> HourlyAudit:
        return HourlyAudit(self.settings, lambda: list(self.symbols), self.stats, writer.write_raw)

    async def _resume(self) -> None:
        """Resume each symbol after its last durable trade, so the repairer catches up what went by.

        With InfluxDB not answering, the checkpoint alone decides; a symbol it knows nothing of starts live,
        and :meth:`_resume_late` resumes it properly once InfluxDB answers.
        """
        if self.config.repair_window_s <= 0:
            return
        saved = checkpoint.load(self._checkpoint_path, self._target) if self._checkpoint_path else None
        try:
            stored = await asyncio.to_thread(self._last_ids)
        except InfluxDownError as e:
            points = checkpoint_points(self.symbols, saved)
            self._unresolved = {s for s in self.symbols if s not in points}
            log.warning(
                "InfluxDB does not answer: resuming from the checkpoint, the other symbols start live and resume "
                "once it answers; trades wait in the spool meanwhile",
                extra={"error": str(e), "from_checkpoint": len(points), "live": len(self._unresolved)},
            )
        else:
            points = resume_points(self.symbols, saved, stored)
        await self._resume_points(points, self.pipeline.resume_after)

    def _last_ids(self, before_ns: int | None = None) -> dict[str, tuple[int, int]]:
        with Prices(self.settings) as prices:
            return prices.last_ids(before_ns)

    async def _resume_points(self, points: dict[str, tuple[int, int]], resume: Callable[[str, int], None]) -> None:
        bounded = await bounded_by_window(points, self.rest, self.config.repair_window_s)
        for symbol, last_id in bounded.items():
            resume(symbol, last_id)
        if bounded:
            log.info("resuming after the last durable trades", extra={"symbols": len(bounded)})

    async def _resume_late(self, stop: asyncio.Event) -> None:
        """Once InfluxDB answers, resume the symbols that started live without it (a task until then)."""
        backoff = Backoff(initial_s=2.0, cap_s=30.0, stable_s=0.0)
        while self._unresolved and not stop.is_set():
            # what this process wrote itself (its first live trades on) must not count as stored before
            firsts = [ms for s in self._unresolved if (ms := self.pipeline.states[s].first_taken_ms)]
            before_ns = model.timestamp_ns(min(firsts), 0) if firsts else time.time_ns()
            try:
                stored = await asyncio.to_thread(self._last_ids, before_ns)
            except InfluxDownError as e:
                log.warning("waiting for InfluxDB to answer", extra={"error": str(e)})
                await asyncio.sleep(backoff.next_delay())
                continue
            except PricecapError as e:  # a refused token or an unknown bucket: the configuration is wrong
                self.fatal = e
                stop.set()
                return
            unresolved, self._unresolved = self._unresolved, set()
            points = resume_points(sorted(unresolved), None, stored)
            await self._resume_points(points, self.pipeline.resume_late)
            log.info("InfluxDB answers: symbols that started live resumed", extra={"symbols": len(points)})

    def _make_connections(self) -> list[Connection]:
        size = self.config.streams_per_connection
        self._limiter = AttemptLimiter()
        return [
            self._connection(index, self.symbols[i : i + size])
            for index, i in enumerate(range(0, len(self.symbols), size))
        ]

    def _connection(self, index: int, symbols: list[str]) -> Connection:
        assert self.writer is not None
        return Connection(
            index,
            symbols,
            self.handle_frame,
            self.stats,
            self._limiter,
            self.config.stream,
            self.writer.wait_for_room,
            self.pipeline.catch_up,
            self.config.ws_url,
        )

    async def _refresh_symbols(self, stop: asyncio.Event) -> None:
        """Every ``symbols_refresh_s``, follow exchangeInfo: subscribe newly TRADING symbols from their first
        trade on, and catch up then unsubscribe the ones that left TRADING (END_OF_DAY, HALT, BREAK,
        CANCEL_ONLY, or delisted); one that comes back is caught up from its last stored trade."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.symbols_refresh_s)
                return
            try:
                since_ms, listed_ms = self._listed_ms - LISTING_MARGIN_MS, int(time.time() * 1000)
                statuses = await self.rest.symbol_statuses()
                self._listed_ms = listed_ms
                trading = {
                    s
                    for s, status in statuses.items()
                    if status == binance.STATUS_TRADING and self.config.shard.holds(s)
                }
                for symbol in sorted(trading - set(self.symbols)):
                    await self._subscribe_new(symbol, since_ms)
            except RestError as e:
                log.warning("symbol refresh failed", extra={"error": str(e)})
                continue
            for symbol in sorted(set(self.symbols) - trading - self._leaving):
                log.info("symbol left TRADING", extra={"symbol": symbol, "status": statuses.get(symbol, "delisted")})
                self._leaving.add(symbol)
                self.pipeline.catch_up([symbol])
            self._leaving -= trading

    async def _subscribe_new(self, symbol: str, since_ms: int) -> None:
        """Collect ``symbol`` (newly TRADING) from its first trade since ``since_ms`` (the previous look at the
        list, before which it was not trading: a new listing's first trade), or from its last one taken."""
        if symbol in self.pipeline.states:
            self.pipeline.catch_up([symbol])
        else:
            first = await self.rest.first_id_at(symbol, since_ms)
            self.pipeline.add_symbol(symbol)
            self.stats.symbols = self.pipeline.states
            if first is not None:
                self.pipeline.resume_after(symbol, first - 1)
        self.symbols.append(symbol)
        connection = next((s for s in self.connections if len(s.symbols) < self.config.streams_per_connection), None)
        if connection is None:
            connection = self._connection(len(self.connections), [symbol])
            self.connections.append(connection)
            self.stats.connections_total = len(self.connections)
            self._connection_tasks.append(self.supervisor.start(f"connection_{connection.index}", connection.run))
        else:
            connection.add([symbol])
        log.info("symbol subscribed", extra={"symbol": symbol, "connection": connection.index})

    def _unsubscribe_done(self) -> None:
        """Unsubscribe the symbols that left TRADING once every one of their trades is stored."""
        marks = self.watermarks()
        for symbol in sorted(self._leaving):
            state = self.pipeline.states[symbol]
            if state.needs_repair() or (state.last_id is not None and marks.get(symbol) != state.last_id):
                continue
            self._leaving.discard(symbol)
            self.symbols.remove(symbol)
            for connection in self.connections:
                if symbol in connection.symbols:
                    connection.remove([symbol])
            log.info("symbol unsubscribed", extra={"symbol": symbol, "last_id": state.last_id})

    def handle_frame(self, frame: bytes) -> bool:
        """The hot path: decode one frame, add its trade; False for a server shutdown notice."""
        event = self.decoder.decode(frame)
        if type(event) is TradeEvent:
            pipeline = self.pipeline
            if pipeline.add(event):
                if pipeline.full():
                    self._send_chunk()
                elif self._armed:
                    self._armed = False
                    self._schedule_hand_over()
            return True
        if isinstance(event, ShutdownEvent):
            return False
        if isinstance(event, ControlMessage):
            if event.error:
                log.warning("control error from server", extra={"id": event.id, "error": event.error})
        elif self._samples_left > 0:
            self._samples_left -= 1
            log.warning("malformed message skipped", extra={"frame": frame[:200].decode(errors="replace")})
        return True

    def _flush_chunk(self) -> None:
        chunk = self.pipeline.take_chunk()
        if chunk is not None and self.writer is not None:
            self._handed += chunk.size
            self.writer.submit(chunk)

    def _schedule_hand_over(self) -> None:
        """Hand over once the frames already read are added, and no sooner than the spacing after the last
        hand-over, so that a burst shares a request."""
        assert self._loop is not None
        self._scheduled = True
        wait = self._last_hand_over + self._spacing - time.monotonic()
        if wait > 0:
            self._loop.call_later(wait, self._hand_over)
        else:
            self._loop.call_soon(self._hand_over)

    def _hand_over(self) -> None:
        """Group commit: while a write worker is free, what is buffered goes out now; when none is, trades
        gather until one frees up (``_room_freed``) or the chunk is full. A trickle of trades thus gets a
        request each, and a flood gets requests as large as the workers' pace makes them."""
        self._scheduled = False
        if self.writer is None:
            return
        if self._last_hand_over + self._spacing > time.monotonic() + 0.001:  # a full chunk went out meanwhile
            self._schedule_hand_over()
            return
        if self.writer.has_room() and self.pipeline.buffered():
            self._send_chunk()
        self._armed = self.writer.has_room()

    def _send_chunk(self) -> None:
        """Hand the chunk over (idle, full or after a flush interval): the next idle hand-over waits the spacing
        from now, which the flow since the previous one sets. A full chunk restarts the clock too, so that a flow
        filling chunks faster than the spacing makes only full requests. The clock is read before the hand-over,
        which takes the WriteApi a while."""
        now = time.monotonic()
        self._flush_chunk()
        trades, self._handed_before = self._handed - self._handed_before, self._handed
        self._spacing = idle_spacing(
            trades, now - self._last_hand_over, self.config.linger_s, self.config.flush_interval_s
        )
        self._last_hand_over = now

    def _room_freed(self) -> None:
        """Called from a write thread when a settled chunk frees a worker."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing left to hand over
                self._loop.call_soon_threadsafe(self._room)

    def _room(self) -> None:
        """In the loop, after a worker freed up: hand over what waits, or re-arm for the next trade."""
        if self._scheduled or self.writer is None:
            return
        if self.pipeline.buffered():
            self._schedule_hand_over()
        else:
            self._armed = self.writer.has_room()

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        """Hand over what the workers left waiting for a flush interval (nothing went out meanwhile), and log
        gaps."""
        next_flush = time.monotonic() + self.config.flush_interval_s
        while not stop.is_set():
            await asyncio.sleep(HOUSEKEEPING_TICK_S)
            now = time.monotonic()
            if now - self._last_hand_over >= self.config.flush_interval_s and self.pipeline.buffered():
                self._send_chunk()
            if now >= next_flush:
                next_flush = now + self.config.flush_interval_s
                if self.writer is not None:
                    self.writer.requeue_pinned()
            for gap in self.pipeline.take_gaps():
                self.stats.gaps_found += 1
                log.warning("gap in trade ids", extra={"symbol": gap.symbol, "first": gap.first, "last": gap.last})

    async def _checkpointer(self, stop: asyncio.Event) -> None:
        """Save the checkpoint each second its watermarks moved."""
        while not stop.is_set():
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            await self._save_checkpoint()
            if self._leaving:
                self._unsubscribe_done()

    async def _health_writer(self, stop: asyncio.Event) -> None:
        """Write the health point every health interval (and let five malformed frames be logged again)."""
        while not stop.is_set():
            await asyncio.sleep(self.config.health_interval_s)
            self._samples_left = 5
            self._write_health()

    def _reading_paused(self) -> bool:
        """True while backpressure holds the readers: their silence is the collector's own."""
        return self.writer is not None and self.writer.pending >= self.writer.options.max_pending

    def watermarks(self) -> dict[str, int]:
        """Per symbol, the highest id up to which every trade is durable (written or spooled)."""
        assert self.writer is not None
        unsettled = self.writer.unsettled_first_ids()
        for symbol, first in self.pipeline.buffered_first_ids().items():
            unsettled[symbol] = min(first, unsettled.get(symbol, first))
        marks = {}
        for symbol, state in self.pipeline.states.items():
            if symbol in self._unresolved:
                continue  # what is stored before its first live trade is not known yet
            mark = state.watermark()
            if mark is not None:
                marks[symbol] = min(mark, unsettled[symbol] - 1) if symbol in unsettled else mark
        return marks

    async def _save_checkpoint(self) -> None:
        """Save the watermarks if they changed since the last save, and refresh the figures that come with them.
        An unchanged checkpoint keeps its file: its saved time stays at or after the time of every watermark's
        trade, which is all resume asks of it, and an idle collector writes and fsyncs nothing."""
        if self._checkpoint_path is not None and self.writer is not None:
            marks = self.watermarks()
            if marks != self._saved_marks:
                await asyncio.to_thread(checkpoint.save, self._checkpoint_path, self._target, marks)
                self._saved_marks = marks
        if self.spool is not None:
            self.stats.spool_bytes = self.spool.size_bytes()
            self.stats.spool_full = self.spool.full
        self.stats.ids_unrepairable = self.repairer.unrepairable
        self.stats.streams_unsubscribed = sum(connection.unconfirmed for connection in self.connections)

    async def _replay(self, stop: asyncio.Event) -> None:
        """Replay the spool into InfluxDB in order, with backoff while InfluxDB still refuses."""
        backoff = Backoff(cap_s=30.0, stable_s=0.0)
        while not stop.is_set() and self.writer is not None:
            if self.spool is None or not self.spool.maybe_unread:
                await asyncio.sleep(0.5)
                continue
            try:
                trades = await asyncio.to_thread(self.writer.replay_one)
            except Exception as e:  # any failure: keep the record, try again later
                log.warning("spool replay failed, will retry", extra={"error": describe(e, self.settings)})
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.attempt = 0
            if trades is None:
                await asyncio.sleep(0.5)
            else:
                log.info("spooled batch replayed", extra={"trades": trades})

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy when every connection is up and delivers, nothing was lost, no gap has waited past the
        gap alarm and no background task is failing; with the counters that say so."""
        s = self.stats
        failing = s.tasks_failing()
        oldest_gap_age_s = s.oldest_gap_age_s()
        details = {
            "shard": s.shard,
            "instance": s.instance,
            "connections_up": s.connections_up,
            "connections": s.connections_total,
            "connections_stalled": s.connections_stalled,
            "max_silence_s": max(s.silence_s.values(), default=0.0),
            "received": s.received_total(),
            "written": s.written_total(),
            "pending": s.pending,
            "lost": s.lost,
            "malformed": sum(s.malformed.values()),
            "gaps": s.gaps_found,
            "ids_repaired": s.repaired_total(),
            "ids_missing": s.ids_missing(),
            "ids_unrepairable": self.repairer.unrepairable,
            "oldest_gap_age_s": round(oldest_gap_age_s, 1),
            "task_restarts": sum(s.task_restarts.values()),
            "tasks_failing": failing,
            "spool_bytes": s.spool_bytes,
            "spool_max_bytes": s.spool_max_bytes,
            "rest_rate_limited": s.rest_pauses[binance.HTTP_TOO_MANY_REQUESTS]
            + s.rest_pauses[binance.HTTP_WAF_REFUSED],
            "rest_banned": s.rest_pauses[binance.HTTP_IP_BANNED],
            "gap_alarm_s": self.config.gap_alarm_s,
            "last_write_lag_s": round(s.last_write_lag_s, 3),
            "streams_unsubscribed": sum(connection.unconfirmed for connection in self.connections),
        }
        ok = (
            s.connections_up >= s.connections_total > 0
            and s.lost == 0
            and not s.spool_full
            and not s.connections_stalled
            and not failing
            and oldest_gap_age_s <= self.config.gap_alarm_s
            and not details["streams_unsubscribed"]
        )
        return ok, details

    def _write_health(self) -> None:
        ok, details = self.health()
        fields: dict[str, int | float] = {k: v for k, v in details.items() if isinstance(v, int | float)}
        fields["reconnects"] = sum(self.stats.reconnects.values())
        fields["tasks_failing"] = len(details["tasks_failing"])
        fields["healthy"] = int(ok)
        log.info("collector health", extra=details)
        if self.writer is not None:
            self.writer.write_raw(
                model.encode_health(self.config.instance, fields, time.time_ns(), str(self.config.shard))
            )

    async def _shutdown(self) -> None:
        self._flush_chunk()
        if self.writer is not None:
            self._write_health()
            await asyncio.to_thread(self.writer.close)
            await self._save_checkpoint()
        if self.spool is not None:
            if self.stats.spool_bytes:
                log.warning(
                    "spool not empty at exit: replayed at the next start", extra={"bytes": self.stats.spool_bytes}
                )
            self.spool.close()
        if self.endpoints is not None:
            self.endpoints.stop()
        self.rest.close()
        log.info(
            "collector stopped",
            extra={
                "received": self.stats.received_total(),
                "written": self.stats.written_total(),
                "lost": self.stats.lost,
            },
        )


def idle_spacing(trades: int, seconds: float, linger_s: float, most_s: float) -> float:
    """The least time until the next idle hand-over, after ``trades`` were handed over since the previous one
    ``seconds`` before: ``linger_s``, and one more ``linger_s`` per :data:`LINGER_STEP_RATE` trades/s of that
    flow, at most ``most_s``. A trickle keeps its latency; a flood of thousands of trades a second makes
    requests of thousands of trades, each costing the WriteApi the same 2-4 ms of CPU."""
    rate = trades / max(seconds, linger_s, 0.001)
    return min(most_s, linger_s * max(1.0, rate / LINGER_STEP_RATE))
