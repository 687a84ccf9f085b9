"""The data watchdog: a connection whose data stops while it still answers pings is found and replaced.

Pings prove the socket, not the data: Binance connections have been seen to stay open, answering pings,
while their trades stopped. Per connection the watchdog learns the usual message rate (a running average
over about 5 minutes) and allows a silence of ``SILENCE_FACTOR`` usual intervals between messages, at
least ``MIN_SILENCE_S`` and at most ``MAX_SILENCE_S``: a busy connection is suspicious after 10 s of silence,
a connection of quiet symbols only after minutes. A suspicious silence is checked against REST before anything
is done: the newest trade id (``aggTrades limit=1``, weight 4) of the connection's busiest symbols. Only when
REST has trades the stream did not deliver is the connection replaced (cause ``silent``), and the trades it
missed are caught up by the repairer; a quiet or halted market is left alone and checked again after twice
the wait. Reading paused by backpressure is not silence.

Besides, quiet streams can hide a gap at their end: trades the stream dropped just before its market went
quiet show no jump in ids until the next trade, which may be hours away. So once a minute, while any symbol
has been silent for ``SWEEP_GRACE_S``, one ``ticker/24hr`` request (weight 80: 1.3 % of Binance's 6,000 a
minute) tells every symbol's newest trade id; ``SWEEP_GRACE_S`` after the answer, when the stream still has
not delivered that id, the ids between are missing (a gap, counted in ``ids_missing`` at once) and the repairer
fetches them. A hole at the end of any of 1,600 silent symbols is so found within about a minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from collector.pipeline import SymbolState, TradePipeline
from collector.rest import BinanceRest, RestError
from collector.stats import Stats
from collector.stream import Connection

log = logging.getLogger(__name__)
TICK_S = 1.0
SILENCE_FACTOR = 20.0
MIN_SILENCE_S = 10.0
MAX_SILENCE_S = 300.0
RATE_WINDOW_S = 300.0
PROOF_SYMBOLS = 3
"""How many of a silent connection's busiest symbols REST is asked about."""
SWEEP_EVERY_S = 60.0
"""At most one ``ticker/24hr`` request (every symbol's newest id, weight 80) this often."""
SWEEP_GRACE_S = 5.0
"""A symbol is swept once silent this long, and REST's newest id is compared with the stream's this long after
the answer: the stream delivers a trade well within it, so an id still not delivered then was dropped."""


@dataclass
class Silence:
    """One connection's usual message rate and its current silence (no I/O; times are monotonic)."""

    rate: float | None = None
    """Messages per second, averaged over about ``RATE_WINDOW_S``."""
    frames: int = 0
    last_message_at: float = 0.0
    connected_at: float | None = None
    checked_at: float = 0.0
    quiet_waits: int = 0
    """Silences in a row that REST showed to be a quiet market: each doubles the next wait."""
    stalled: bool = False
    _window_s: float = 0.0
    _tick_at: float | None = None

    def observe(self, frames: int, connected_at: float | None, paused: bool, now: float) -> None:
        """Take the connection's frame count and connection time at ``now``."""
        if connected_at != self.connected_at:  # a new connection: its silence starts now
            self.connected_at, self.last_message_at, self.stalled, self.quiet_waits = connected_at, now, False, 0
        if frames != self.frames or paused:
            self.last_message_at, self.stalled, self.quiet_waits = now, False, 0
        if self._tick_at is not None and connected_at is not None and not paused:
            dt = now - self._tick_at
            seen = (frames - self.frames) / dt if dt > 0 else 0.0
            if self.rate is None:
                self.rate, self._window_s = seen, dt
            else:
                self._window_s = min(RATE_WINDOW_S, self._window_s + dt)
                self.rate += (seen - self.rate) * dt / self._window_s
        self.frames, self._tick_at = frames, now

    def limit_s(self) -> float:
        """The longest silence that is still normal for this connection."""
        if not self.rate:
            return MAX_SILENCE_S
        return min(MAX_SILENCE_S, max(MIN_SILENCE_S, SILENCE_FACTOR / self.rate))

    def silent_s(self, now: float) -> float:
        """Seconds since the last message (0 while no connection is open)."""
        return 0.0 if self.connected_at is None else now - self.last_message_at

    def suspicious(self, now: float) -> bool:
        """True when the silence is past the limit and REST should be asked whether data was missed."""
        wait = self.limit_s() * 2.0**self.quiet_waits
        return self.connected_at is not None and now - max(self.last_message_at, self.checked_at) >= wait


@dataclass
class Sweep:
    """When to ask every symbol's newest trade id, and the answer until it can be judged (no I/O; times are
    monotonic)."""

    next_at: float = 0.0
    answer: dict[str, int] | None = None
    """REST's newest id per symbol, from the last ``ticker/24hr`` answer not judged yet."""
    answered_at: float = 0.0
    seen: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Per symbol, the count of trades received and since when it has not changed."""

    def observe(self, states: Mapping[str, SymbolState], now: float) -> None:
        """Take the count of trades received at ``now`` of each symbol with a known last id."""
        for symbol, state in states.items():
            if state.last_id is None:
                continue
            received, since = self.seen.get(symbol, (state.received, now))
            self.seen[symbol] = (state.received, now if received != state.received else since)

    def due(self, now: float) -> bool:
        """True when a sweep is to be asked now: none for ``SWEEP_EVERY_S``, none waiting to be judged, and some
        symbol silent for ``SWEEP_GRACE_S`` (a symbol that goes on trading shows its gaps itself)."""
        if now < self.next_at or self.answer is not None:
            return False
        return any(now - since >= SWEEP_GRACE_S for _, since in self.seen.values())

    def asked(self, now: float) -> None:
        """A sweep was asked at ``now`` (answered or not): the next one is due ``SWEEP_EVERY_S`` later."""
        self.next_at = now + SWEEP_EVERY_S

    def took(self, answer: dict[str, int], now: float) -> None:
        """The newest ids REST answered at ``now``."""
        self.answer, self.answered_at = answer, now

    def ready(self, now: float) -> dict[str, int] | None:
        """The answer, once ``SWEEP_GRACE_S`` have passed since it came (then it is judged, and forgotten)."""
        if self.answer is None or now - self.answered_at < SWEEP_GRACE_S:
            return None
        answer, self.answer = self.answer, None
        return answer


class Watchdog:
    """Watches every connection's data and every symbol's silence until stopped."""

    def __init__(
        self,
        connections: Sequence[Connection],
        pipeline: Callable[[], TradePipeline],
        rest: BinanceRest,
        stats: Stats,
        paused: Callable[[], bool],
    ) -> None:
        self._connections = connections
        self._pipeline = pipeline
        self._rest = rest
        self._stats = stats
        self._paused = paused
        self.silences = [Silence() for _ in connections]
        self.sweep = Sweep()
        self._baseline: dict[str, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Check once a second until ``stop`` is set."""
        while not stop.is_set():
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            paused = self._paused()
            for connection, silence in zip(self._connections, self.silences, strict=True):
                silence.observe(connection.frames, connection.connected_at, paused, now)
                self._stats.silence_s[str(connection.index)] = round(silence.silent_s(now), 1)
                if silence.suspicious(now):
                    await self._prove(connection, silence, now)
            self._stats.connections_stalled = sum(s.stalled for s in self.silences)
            await self._sweep(now, paused)

    async def _prove(self, connection: Connection, silence: Silence, now: float) -> None:
        """Ask REST whether the silent connection's busiest symbols traded; replace the connection if they did."""
        silence.checked_at = now
        states = self._pipeline().states
        busiest = sorted(connection.symbols, key=lambda s: -states[s].received)[:PROOF_SYMBOLS]
        error = ""
        try:
            answers = {symbol: await self._rest.latest_id(symbol) for symbol in busiest}
        except RestError as e:  # no proof of a quiet market: a new connection costs little
            answers, error = {}, str(e)
        newer = {symbol: latest for symbol, latest in answers.items() if self._newer(symbol, latest)}
        details = {
            "connection": connection.index,
            "silent_s": round(silence.silent_s(now), 1),
            "limit_s": silence.limit_s(),
        }
        if not newer and not error:
            silence.quiet_waits += 1
            log.info("stream silent, and REST shows a quiet market", extra=details)
            return
        silence.stalled = True  # until the new connection opens
        if newer:
            log.warning("stream silent while REST has newer trades: reconnecting", extra={**details, "rest": newer})
        else:
            log.warning("silent stream cannot be checked on REST: reconnecting", extra={**details, "error": error})
        await connection.recycle("silent")

    def _newer(self, symbol: str, latest: int | None) -> bool:
        """True when REST's newest id of ``symbol`` is past the last id the collector has (for a symbol
        not seen since the start: past REST's newest id when it was first asked)."""
        if latest is None:
            return False
        last = self._pipeline().states[symbol].last_id
        if last is None:
            last = self._baseline.setdefault(symbol, latest)
        return latest > last

    async def _sweep(self, now: float, paused: bool) -> None:
        """Ask every symbol's newest trade id when a sweep is due; judge the answer ``SWEEP_GRACE_S`` later."""
        pipeline = self._pipeline()
        self.sweep.observe(pipeline.states, now)
        if paused:  # the stream is behind while reading is paused: its ids prove nothing
            self.sweep.answer = None
            return
        answer = self.sweep.ready(now)
        if answer is not None:
            self._judge(pipeline, answer)
        if not self.sweep.due(now):
            return
        self.sweep.asked(now)
        started = time.monotonic()
        try:
            latest = await self._rest.latest_ids()
        except RestError as e:
            log.warning("newest trade ids not asked", extra={"error": str(e)})
            return
        self.sweep.took(latest, now + time.monotonic() - started)

    def _judge(self, pipeline: TradePipeline, latest: dict[str, int]) -> None:
        """Symbols whose stream has not delivered REST's newest id: the ids up to it are missing (but for
        symbols whose connection is down: they catch up when it is back)."""
        down = {symbol for c in self._connections if c.connected_at is None for symbol in c.symbols}
        for symbol, state in pipeline.states.items():
            last_id = state.last_id
            if symbol in latest and symbol not in down and pipeline.behind(symbol, latest[symbol]):
                self._stats.freshness_catch_ups += 1
                log.warning(
                    "symbol silent while REST has newer trades: ids missing",
                    extra={"symbol": symbol, "last_id": last_id, "rest_id": latest[symbol]},
                )
