"""From decoded trades to chunks of line protocol, without I/O: validation, per-symbol order, gaps, chunking.

A *chunk* is a block of line-protocol lines handed to the writer as one item. It starts with a comment line,
``# pricecap-chunk <n>`` (line protocol ignores lines that start with ``#``), so that the writer's callbacks,
which see only the joined request body, can tell which chunks a request carried and account for their
trades per symbol.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from collector.decode import TradeEvent
from pricecap import model

CHUNK_MARKER = "# pricecap-chunk "
CHUNK_MARKER_RE = re.compile(rb"^# pricecap-chunk (\d+)$", re.MULTILINE)

MIN_TRADE_TIME_MS = 1_500_000_000_000  # 2017-07-14: before Binance opened
MAX_TRADE_TIME_MS = 4_102_444_800_000  # 2100-01-01: a microsecond time would be 1000x larger


@dataclass(frozen=True, slots=True)
class Gap:
    """Trade ids ``first..last`` (inclusive) of ``symbol`` that the stream skipped."""

    symbol: str
    first: int
    last: int

    @property
    def size(self) -> int:
        """How many trade ids are missing."""
        return self.last - self.first + 1


@dataclass(slots=True)
class SymbolState:
    """What the pipeline knows of one market."""

    symbol: str
    prefix: str
    last_id: int | None = None
    received: int = 0
    last_price: str = ""


@dataclass(slots=True)
class Chunk:
    """Lines ready for the writer, with what the accounting needs to know about them."""

    number: int
    lines: list[str]
    counts: Counter[str]
    first_time_ms: int
    last_time_ms: int

    @property
    def size(self) -> int:
        """The number of trades in the chunk."""
        return len(self.lines) - 1

    def body(self) -> str:
        """The line-protocol text of the chunk, marker line first."""
        return "\n".join(self.lines)


@dataclass
class TradePipeline:
    """Validates trades of the subscribed symbols, drops repeats, reports gaps and assembles chunks.

    ``add`` is the hot path: one dict lookup, two decimal checks and one f-string per trade.
    """

    symbols: Iterable[str]
    exchange: str = model.EXCHANGE_BINANCE
    chunk_lines: int = 2_000
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    gaps: list[Gap] = field(default_factory=list)
    _states: dict[str, SymbolState] = field(init=False)
    _lines: list[str] = field(init=False)
    _counts: Counter[str] = field(init=False)
    _next_chunk: int = field(init=False, default=1)
    _first_ms: int = field(init=False, default=0)
    _last_ms: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._states = {s: SymbolState(s, model.series_prefix(self.exchange, s)) for s in self.symbols}
        self._start_chunk()

    @property
    def states(self) -> dict[str, SymbolState]:
        """Per-symbol state, by symbol."""
        return self._states

    def resume_after(self, symbol: str, last_id: int) -> None:
        """Declare ``last_id`` the last trade already stored for ``symbol`` (repeats up to it are dropped)."""
        self._states[symbol].last_id = last_id

    def add(self, trade: TradeEvent) -> bool:
        """Take one live trade; False when it is rejected (counted) or a repeat. Gaps go to ``gaps``."""
        state = self._states.get(trade.s)
        if state is None:
            self.rejected["unexpected_symbol"] += 1
            return False
        if not (model.decimal_ok(trade.p) and model.decimal_ok(trade.q)):
            self.rejected["bad_number"] += 1
            return False
        if not MIN_TRADE_TIME_MS <= trade.T <= MAX_TRADE_TIME_MS or trade.t < 0:
            self.rejected["bad_time_or_id"] += 1
            return False
        last = state.last_id
        if last is not None:
            if trade.t <= last:
                self.duplicates += 1
                return False
            if trade.t != last + 1:
                self.gaps.append(Gap(trade.s, last + 1, trade.t - 1))
        state.last_id = trade.t
        state.received += 1
        state.last_price = trade.p
        self._append(state, trade)
        return True

    def add_backfilled(self, symbol: str, trades: Iterable[TradeEvent]) -> int:
        """Take trades fetched to repair a gap: validated like live ones, no order or gap bookkeeping."""
        state = self._states[symbol]
        taken = 0
        for trade in trades:
            if model.decimal_ok(trade.p) and model.decimal_ok(trade.q) and trade.t >= 0:
                self._append(state, trade)
                taken += 1
            else:
                self.rejected["bad_number"] += 1
        return taken

    def _append(self, state: SymbolState, trade: TradeEvent) -> None:
        time_ms = trade.T
        self._lines.append(model.encode_line(state.prefix, trade.t, trade.p, trade.q, time_ms, trade.m))
        self._counts[state.symbol] += 1
        self._first_ms = min(self._first_ms, time_ms)
        self._last_ms = max(self._last_ms, time_ms)

    def full(self) -> bool:
        """True when the chunk being assembled has reached ``chunk_lines`` trades."""
        return len(self._lines) > self.chunk_lines

    def take_chunk(self) -> Chunk | None:
        """The chunk assembled so far (None when empty); a new one starts."""
        if len(self._lines) == 1:
            return None
        chunk = Chunk(self._next_chunk, self._lines, self._counts, self._first_ms, self._last_ms)
        self._next_chunk += 1
        self._start_chunk()
        return chunk

    def take_gaps(self) -> list[Gap]:
        """The gaps found since the last call."""
        gaps, self.gaps = self.gaps, []
        return gaps

    def _start_chunk(self) -> None:
        self._lines = [f"{CHUNK_MARKER}{self._next_chunk}"]
        self._counts = Counter()
        self._first_ms = MAX_TRADE_TIME_MS
        self._last_ms = 0


def chunk_numbers(body: bytes | str) -> list[int]:
    """The chunk numbers in a request body that the writer sent (see :data:`CHUNK_MARKER`)."""
    data = body.encode() if isinstance(body, str) else body
    return [int(n) for n in CHUNK_MARKER_RE.findall(data)]
