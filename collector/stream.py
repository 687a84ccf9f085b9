"""The source: one combined-stream WebSocket connection per shard of symbols, kept open for good.

Pings from Binance are answered by websockets itself. The client's own keepalive pings detect a stalled
socket (open but silent): no pong within ``ping_timeout_s`` closes it. A connection that answers pings while
its data stops is found by the data watchdog (``collector/watchdog.py``), which replaces it with
:meth:`Shard.recycle`. Every close is followed by a reconnection, paced by
:class:`~collector.backoff.Backoff` and the shared :class:`~collector.backoff.AttemptLimiter`; a
``serverShutdown`` notice, or a connection nearing Binance's 24-hour limit, is replaced at once by a new
connection opened *before* the old one is closed (the pipeline drops the trades both deliver). After any
other reconnection, ``on_reconnect`` tells the pipeline that trades of the shard's symbols may have gone by
unseen, and the repairer catches them up from REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from collector import binance
from collector.backoff import AttemptLimiter, Backoff
from collector.stats import Stats

log = logging.getLogger(__name__)

FrameHandler = Callable[[bytes], bool]
"""Takes one frame; returns False when the server announced a shutdown (the connection is replaced)."""
HANDOVER_CAUSES = frozenset({"server_shutdown", "lifetime"})


@dataclass(frozen=True)
class StreamOptions:
    """Connection tuning (README: Collector, Tuning)."""

    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    open_timeout_s: float = 10.0
    lifetime_s: float = binance.CONNECTION_LIFETIME_S - 600.0
    backoff_cap_s: float = 60.0
    stable_s: float = 60.0


class Shard:
    """Keeps one combined stream of ``symbols`` flowing into ``handle`` until :meth:`stop`."""

    def __init__(
        self,
        index: int,
        symbols: list[str],
        handle: FrameHandler,
        stats: Stats,
        limiter: AttemptLimiter,
        options: StreamOptions,
        room: Callable[[], Awaitable[None]],
        on_reconnect: Callable[[list[str]], None],
        base_url: str,
    ) -> None:
        self.index = index
        self.symbols = symbols
        self.url = binance.combined_stream_url(base_url, symbols)
        self._on_reconnect = on_reconnect
        self._handle = handle
        self._stats = stats
        self._limiter = limiter
        self._options = options
        self._room = room
        self._backoff = Backoff(cap_s=options.backoff_cap_s, stable_s=options.stable_s)
        self._stopping = asyncio.Event()
        self._handover = asyncio.Event()
        self._handover_cause = ""
        self._connections: set[ClientConnection] = set()
        self._close_cause = ""
        self._runs = 0
        self.frames = 0
        """Frames read on this shard's connections, for the data watchdog."""
        self.connected_at: float | None = None
        """When the newest open connection opened (monotonic); None while none is open."""
        self._tasks: set[asyncio.Task[str | None]] = set()

    async def run(self) -> None:
        """Connect, read, and reconnect after every close, until :meth:`stop`. Run again after a failure (the
        supervisor does), the shard's symbols are caught up as after a reconnection."""
        cause = "restarted" if self._runs else ""
        self._runs += 1
        retiring: ClientConnection | None = None
        while not self._stopping.is_set():
            try:
                ws = await self._open(cause)
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as e:
                cause = "connect_failed"
                log.warning("stream connect failed", extra={"shard": self.index, "error": f"{type(e).__name__}: {e}"})
                self._stats.reconnects[cause] += 1
                await self._sleep(self._backoff.next_delay())
                continue
            if cause and cause not in HANDOVER_CAUSES:
                self._on_reconnect(self.symbols)
            first_frame = asyncio.Event()
            reader = self._spawn(self._read(ws, first_frame))
            if retiring is not None:
                self._spawn(self._retire(retiring, first_frame))
            handover = asyncio.create_task(self._handover.wait())
            await asyncio.wait({reader, handover}, return_when=asyncio.FIRST_COMPLETED)
            handover.cancel()
            if self._handover.is_set():
                self._handover.clear()
                cause, retiring = self._handover_cause, ws
            else:
                cause, retiring = reader.result() or "closed", None
                if not self._stopping.is_set():
                    await self._sleep(self._backoff.next_delay())
            if not self._stopping.is_set():
                self._stats.reconnects[cause] += 1
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[None, None, str | None]) -> asyncio.Task[str | None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _open(self, cause: str) -> ClientConnection:
        while (wait := self._limiter.wait_s(time.monotonic())) > 0:
            await self._sleep(wait)
        self._limiter.record(time.monotonic())
        ws = await connect(
            self.url,
            compression=None,
            ping_interval=self._options.ping_interval_s,
            ping_timeout=self._options.ping_timeout_s,
            open_timeout=self._options.open_timeout_s,
            close_timeout=2,
            max_size=2**20,
            max_queue=256,
        )
        self._connections.add(ws)
        self._close_cause = ""
        self.connected_at = time.monotonic()
        self._stats.connections_up += 1
        self._backoff.connected(time.monotonic())
        log.info("stream connected", extra={"shard": self.index, "after": cause or "start"})
        return ws

    async def _read(self, ws: ClientConnection, first_frame: asyncio.Event) -> str:
        """Read until the connection ends; return why. Asks for a replacement when the server says so."""
        deadline = time.monotonic() + self._options.lifetime_s
        handle, room = self._handle, self._room
        cause = "closed"
        try:
            frame = await ws.recv(decode=False)
            first_frame.set()
            while True:
                self.frames += 1
                await room()
                if not handle(frame) and not self._handover.is_set():
                    self._ask_handover("server_shutdown")
                if time.monotonic() > deadline:
                    deadline = float("inf")
                    self._ask_handover("lifetime")
                frame = await ws.recv(decode=False)
        except ConnectionClosed as e:
            cause = self._close_cause or ("stalled" if _ping_timeout(e) else "closed")
            if not self._stopping.is_set() and ws in self._connections:
                log.warning("stream closed", extra={"shard": self.index, "cause": cause, "code": _close_code(e)})
        except Exception:
            await ws.close()  # the frame handler failed: leave no connection open and unread
            raise
        finally:
            if ws in self._connections:
                self._connections.discard(ws)
                if not self._connections:
                    self.connected_at = None
                self._stats.connections_up -= 1
                self._backoff.disconnected(time.monotonic())
        return cause

    def _ask_handover(self, cause: str) -> None:
        log.info("stream handover", extra={"shard": self.index, "cause": cause})
        self._handover_cause = cause
        self._handover.set()

    async def _retire(self, old: ClientConnection, replacement_ready: asyncio.Event) -> None:
        """Close ``old`` once its replacement delivers (or after the open timeout)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(replacement_ready.wait(), self._options.open_timeout_s)
        await old.close()

    async def recycle(self, cause: str) -> None:
        """Close the open connection so that a new one replaces it; the trades of the shard's symbols that
        went by meanwhile are caught up from REST (the data watchdog's cure for a silent connection)."""
        self._close_cause = cause
        await asyncio.gather(*(ws.close() for ws in list(self._connections)), return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def stop(self) -> None:
        """Stop reading: close every connection of this shard."""
        self._stopping.set()
        await asyncio.gather(*(ws.close() for ws in list(self._connections)), return_exceptions=True)


def _ping_timeout(error: ConnectionClosed) -> bool:
    return error.rcvd is None and error.sent is not None and error.sent.code == 1011


def _close_code(error: ConnectionClosed) -> int | None:
    frame = error.rcvd or error.sent
    return frame.code if frame else None
