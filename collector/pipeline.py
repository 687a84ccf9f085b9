"""From decoded trades to chunks of line protocol, without I/O: validation, per-symbol order, gaps, chunking.

Per symbol the pipeline knows the highest trade id taken (``last_id``), the ids known to be missing below it
(``missing``, closed ranges, filled by :meth:`TradePipeline.add_backfilled`), and whether ids after it may be
missing too (``catching_up``: after a reconnect or a restart, until the live stream or a REST page shows the
present). The repairer (``collector/repair.py``) fetches exactly those ids; nothing here does I/O.

A *chunk* is a block of line-protocol lines handed to the writer as one item. It starts with a comment line,
``# pricecap-chunk <n>`` (line protocol ignores lines that start with ``#``), so that the writer's callbacks,
which see only the joined request body, can tell which chunks a request carried and account for their
trades per symbol.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from collector.decode import TradeEvent
from pricecap import model

CHUNK_MARKER = "# pricecap-chunk "
_MARKER_LINE = b"\n" + CHUNK_MARKER.encode()

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
    first_taken: int | None = None
    """The first id taken when the symbol started with nothing known (live, InfluxDB not answering)."""
    first_taken_ms: int = 0
    """The trade time of ``first_taken``."""
    last_price: str = ""
    missing: list[list[int]] = field(default_factory=list)
    """Closed ranges ``[first, last]`` of ids below ``last_id`` not taken yet, in order."""
    catching_up: bool = False
    """Ids after ``last_id`` may be missing: the repairer reads on from ``last_id + 1``."""
    catch_ups: int = 0
    """How many times catching up began: an answer asked for before the latest began proves nothing."""
    repaired: int = 0
    last_time_ms: int = 0
    """The trade time of ``last_id`` (0: unknown, after a restart)."""
    times: dict[int, int] = field(default_factory=dict)
    """Trade times of the ids just before missing ranges: where the repairer's ``aggTrades`` pages start."""

    def needs_repair(self) -> bool:
        """True when the repairer has work for this symbol."""
        return bool(self.missing) or (self.catching_up and self.last_id is not None)

    def watermark(self) -> int | None:
        """The highest id such that this id and every one before it has been taken (None: nothing known)."""
        if self.last_id is None:
            return None
        return self.missing[0][0] - 1 if self.missing else self.last_id

    def give_up(self, first: int, last: int) -> None:
        """Remove ``first..last`` from the start of the first missing range (ids given up on)."""
        head = self.missing[0]
        if head[0] == first and last >= head[1]:
            del self.missing[0]
        elif head[0] == first:
            head[0] = last + 1

    def take_missing(self, trade_id: int) -> bool:
        """Remove ``trade_id`` from ``missing``; False when it is not missing."""
        for i, (first, last) in enumerate(self.missing):
            if first <= trade_id <= last:
                if first == last:
                    del self.missing[i]
                elif trade_id == first:
                    self.missing[i][0] += 1
                elif trade_id == last:
                    self.missing[i][1] -= 1
                else:
                    self.missing[i : i + 1] = [[first, trade_id - 1], [trade_id + 1, last]]
                return True
            if trade_id < first:
                return False
        return False


@dataclass(slots=True)
class Chunk:
    """Lines ready for the writer, with what the accounting needs to know about them."""

    number: int
    lines: list[str]
    counts: Counter[str]
    first_ids: dict[str, int]
    """The lowest trade id of each symbol in the chunk."""
    first_time_ms: int
    last_time_ms: int

    @property
    def size(self) -> int:
        """The number of trades in the chunk (an exchange gap's line is not one)."""
        return sum(self.counts.values())

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
    _first_ids: dict[str, int] = field(init=False)
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

    def add_symbol(self, symbol: str) -> None:
        """Take trades of ``symbol`` too (listed while running). The states dict is replaced, not changed, so
        a metrics scrape in another thread never iterates it while it grows."""
        if symbol not in self._states:
            self._states = {**self._states, symbol: SymbolState(symbol, model.series_prefix(self.exchange, symbol))}

    def resume_after(self, symbol: str, last_id: int) -> None:
        """Start from a restart: every id up to ``last_id`` is stored; the ones after it are to be caught up."""
        state = self._states[symbol]
        state.last_id, state.missing, state.catching_up = last_id, [], True
        state.last_time_ms, state.times = 0, {}
        state.catch_ups += 1

    def resume_late(self, symbol: str, last_id: int) -> None:
        """Every id up to ``last_id`` is stored, learnt after the symbol started live: the ids between it and
        the first one taken are missing (or, when none was taken yet, the symbol catches up from there)."""
        state = self._states[symbol]
        if state.first_taken is None:
            if state.last_id is None:
                self.resume_after(symbol, last_id)
            return
        if last_id + 1 < state.first_taken:
            self.gaps.append(Gap(symbol, last_id + 1, state.first_taken - 1))
            state.missing.insert(0, [last_id + 1, state.first_taken - 1])

    def behind(self, symbol: str, latest_id: int) -> bool:
        """REST's newest id of ``symbol`` is ``latest_id``: the ids after ``last_id`` up to it, which the stream has
        not delivered, are missing (a gap at the end of a quiet stream; True). Not while catching up, since
        the repairer reads on to the present then anyway."""
        state = self._states[symbol]
        if state.last_id is None or state.catching_up or latest_id <= state.last_id:
            return False
        self._gap(state, state.last_id + 1, latest_id)
        state.last_id = latest_id
        return True

    def catch_up(self, symbols: Iterable[str]) -> None:
        """After a reconnect: trades after each symbol's ``last_id`` may have gone by unseen."""
        for symbol in symbols:
            state = self._states[symbol]
            state.catching_up = True
            state.catch_ups += 1

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
                return self._late(state, trade)
            if trade.t != last + 1:
                self._gap(state, last + 1, trade.t - 1)
        else:
            state.first_taken, state.first_taken_ms = trade.t, trade.T
        state.catching_up = False
        state.last_id = trade.t
        state.last_time_ms = trade.T
        state.received += 1
        state.last_price = trade.p
        self._append(state, trade)
        return True

    def add_backfilled(self, symbol: str, trades: Iterable[TradeEvent], complete: bool) -> int:
        """Take trades fetched from REST, in id order: the missing ones, and new ones while catching up.

        ``complete`` says the page reached the present (fewer trades than asked for): catching up ends.
        Returns how many were taken; the rest were already there.
        """
        state = self._states[symbol]
        taken = 0
        for trade in trades:
            if not (model.decimal_ok(trade.p) and model.decimal_ok(trade.q) and trade.t >= 0):
                self.rejected["bad_number"] += 1
                continue
            last = state.last_id
            if last is not None and trade.t > last and state.catching_up:
                if trade.t != last + 1:
                    self._gap(state, last + 1, trade.t - 1)
                state.last_id = trade.t
                state.last_time_ms = trade.T
                state.last_price = trade.p
            elif not state.take_missing(trade.t):
                continue
            self._append_below(state, trade)
            taken += 1
        if complete:
            state.catching_up = False
        state.repaired += taken
        return taken

    def _late(self, state: SymbolState, trade: TradeEvent) -> bool:
        """A live trade at or below ``last_id``: taken when it is missing (the stream was slower than REST's
        newest id said), else a repeat."""
        if not (state.missing and state.take_missing(trade.t)):
            self.duplicates += 1
            return False
        state.received += 1
        self._append_below(state, trade)
        return True

    def _append_below(self, state: SymbolState, trade: TradeEvent) -> None:
        """Append a trade that may be older than others of its symbol in the chunk (its lowest id is kept)."""
        first = self._first_ids.get(state.symbol)
        if first is None or trade.t < first:
            self._first_ids[state.symbol] = trade.t
        self._append(state, trade)

    def add_exchange_gap(self, symbol: str, first: int, last: int, next_time_ms: int) -> None:
        """Record ids ``first..last`` of ``symbol`` as an exchange gap (given up on): its point goes out in the
        chunk being assembled, which holds the checkpoint below ``first`` until it is durable, as a trade would."""
        self._lines.append(model.encode_exchange_gap(self.exchange, symbol, first, last, next_time_ms))
        if first < self._first_ids.get(symbol, first + 1):
            self._first_ids[symbol] = first
        self._first_ms = min(self._first_ms, next_time_ms)
        self._last_ms = max(self._last_ms, next_time_ms)

    def _gap(self, state: SymbolState, first: int, last: int) -> None:
        self.gaps.append(Gap(state.symbol, first, last))
        state.missing.append([first, last])
        if state.last_time_ms:
            state.times[first - 1] = state.last_time_ms

    def _append(self, state: SymbolState, trade: TradeEvent) -> None:
        time_ms = trade.T
        self._lines.append(model.encode_line(state.prefix, trade.t, trade.p, trade.q, time_ms, trade.m))
        symbol, counts = state.symbol, self._counts
        if symbol in counts:
            counts[symbol] += 1
        else:
            counts[symbol] = 1
            self._first_ids.setdefault(symbol, trade.t)
        # comparisons, not min()/max(): two calls fewer per trade
        if time_ms < self._first_ms:  # noqa: PLR1730
            self._first_ms = time_ms
        if time_ms > self._last_ms:  # noqa: PLR1730
            self._last_ms = time_ms

    def full(self) -> bool:
        """True when the chunk being assembled has reached ``chunk_lines`` trades."""
        return len(self._lines) > self.chunk_lines

    def take_chunk(self) -> Chunk | None:
        """The chunk assembled so far (None when empty); a new one starts."""
        if len(self._lines) == 1:
            return None
        chunk = Chunk(self._next_chunk, self._lines, self._counts, self._first_ids, self._first_ms, self._last_ms)
        self._next_chunk += 1
        self._start_chunk()
        return chunk

    def buffered(self) -> int:
        """Trades in the chunk being assembled."""
        return len(self._lines) - 1

    def buffered_first_ids(self) -> dict[str, int]:
        """Per symbol, the lowest trade id in the chunk being assembled (not handed to the writer yet)."""
        return dict(self._first_ids)

    def take_gaps(self) -> list[Gap]:
        """The gaps found since the last call."""
        gaps, self.gaps = self.gaps, []
        return gaps

    def _start_chunk(self) -> None:
        self._lines = [f"{CHUNK_MARKER}{self._next_chunk}"]
        self._counts = Counter()
        self._first_ids = {}
        self._first_ms = MAX_TRADE_TIME_MS
        self._last_ms = 0


def lowest_ids(chunks: Iterable[Chunk]) -> dict[str, int]:
    """Per symbol, the lowest trade id in any of ``chunks``."""
    lowest: dict[str, int] = {}
    for chunk in chunks:
        for symbol, first in chunk.first_ids.items():
            if first < lowest.get(symbol, first + 1):
                lowest[symbol] = first
    return lowest


def chunk_numbers(body: bytes | str) -> list[int]:
    """The chunk numbers in a request body that the writer sent (see :data:`CHUNK_MARKER`)."""
    data = b"\n" + (body.encode() if isinstance(body, str) else body)
    numbers = []
    # bytes.find: a regular expression tried at every position of a megabyte of body cost ~1 us a trade
    start = data.find(_MARKER_LINE)
    while start >= 0:
        start += len(_MARKER_LINE)
        end = data.find(b"\n", start)
        digits = data[start:end] if end >= 0 else data[start:]
        if digits.isdigit():
            numbers.append(int(digits))
        start = data.find(_MARKER_LINE, start)
    return numbers
