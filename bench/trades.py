"""A large, deterministic trade history for benchmarks: generated, written fast, and kept as the ground truth.

Each market is a random walk of prices in ticks, with exponential gaps between taker orders and some orders
sweeping several trades in one millisecond; trade ids are consecutive per market. The same options and seed
give the same trades, so a benchmark can reuse a loaded server and still check every answer against the
generated trades. Lines are made with :mod:`pricecap.model` (never Point objects) and written in large,
gzip'd batches by a few concurrent HTTP writers straight to ``/api/v2/write``.
"""

from __future__ import annotations

import gzip
import random
import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import urllib3

from pricecap import model
from pricecap.settings import InfluxSettings

DAY_MS = 86_400_000
END_MS = int(datetime(2026, 11, 25, tzinfo=UTC).timestamp() * 1000)
"""Every history ends here (a fixed instant, so a dataset is the same whenever it is made)."""
BURST_CHANCE = 0.1
"""The share of taker orders that sweep several price levels: 2 to 12 trades in one millisecond."""
MEAN_TRADES_PER_ORDER = 1 + BURST_CHANCE * 6


@dataclass(frozen=True)
class Market:
    """One generated market: its share of all trades, starting price in ticks, and when it stops trading."""

    symbol: str
    share: float
    start_ticks: int
    decimals: int
    first_id: int
    quiet_days: int = 0
    """Days before the end of the history during which the market no longer trades."""


MARKETS = (
    Market("BTCUSDT", 0.50, 9_700_000, 2, 4_200_000_000),
    Market("ETHUSDT", 0.20, 360_000, 2, 2_100_000_000),
    Market("SOLUSDT", 0.10, 24_000, 2, 900_000_000),
    Market("BNBUSDT", 0.06, 65_000, 2, 1_100_000_000),
    Market("XRPUSDT", 0.05, 22_000, 4, 800_000_000),
    Market("DOGEUSDT", 0.03, 38_000, 5, 700_000_000),
    Market("ADAUSDT", 0.02, 9_000, 4, 500_000_000),
    Market("LTCUSDT", 0.015, 9_500, 2, 400_000_000),
    Market("LINKUSDT", 0.01, 2_300, 2, 600_000_000),
    Market("LUNAUSDT", 0.015, 8_000_000, 5, 30_000_000, quiet_days=10),
)
"""Ten markets, skewed like the live exchange: half of all trades in BTCUSDT, a long tail of quieter ones."""


class History:
    """One market's trades in time order: made on demand, kept as arrays (trade times in ms, prices in ticks).

    Trade ``i`` has id ``first_id + i``; its price and time are ``ticks[i]`` and ``times_ms[i]``.
    """

    def __init__(self, market: Market, count: int, start_ms: int, stop_ms: int, seed: int) -> None:
        self.market = market
        self.symbol = market.symbol
        self.first_id = market.first_id
        self.count = count
        self.times_ms = array("q")
        self.ticks = array("q")
        self._scale = 10**market.decimals
        self._rng = random.Random(f"{seed}/{market.symbol}")
        self._prefix = model.series_prefix(model.EXCHANGE_BINANCE, market.symbol)
        self._stop_ms = stop_ms
        self._step = max(1, market.start_ticks // 50_000)
        self._t = float(start_ms)
        self._price = market.start_ticks

    def until(self, end_ms: int, lines: list[str] | None) -> None:
        """Make the trades before ``end_ms`` (at most ``count`` in all); append their lines when given a list."""
        rng, times_ms, ticks, step = self._rng, self.times_ms, self.ticks, self._step
        while len(ticks) < self.count and self._t < end_ms:
            t = int(self._t)
            burst = 1 if rng.random() >= BURST_CHANCE else 2 + int(rng.random() * 11)
            for _ in range(min(burst, self.count - len(ticks))):
                self._price = max(1, self._price + int(rng.random() * (2 * step + 1)) - step)
                qty_draw = rng.random()  # drawn whether or not lines are made: the ground truth is the same
                if lines is not None:
                    qty = f"0.{1 + int(qty_draw * 99_999):05d}"
                    lines.append(
                        model.encode_line(
                            self._prefix, self.first_id + len(ticks), self.price_text(self._price), qty, t, t % 2 == 0
                        )
                    )
                times_ms.append(t)
                ticks.append(self._price)
            remaining = self.count - len(ticks)
            if remaining:  # the mean gap that spreads the remaining trades over the remaining time
                mean_gap_ms = (self._stop_ms - self._t) * MEAN_TRADES_PER_ORDER / remaining
                self._t = min(self._t + rng.expovariate(1 / mean_gap_ms), self._stop_ms - 1.0)

    def price_text(self, ticks: int) -> str:
        """A price in ticks as the exchange's decimal string."""
        whole, fraction = divmod(ticks, self._scale)
        return f"{whole}.{fraction:0{self.market.decimals}d}"

    def price(self, index: int) -> float:
        """The stored price of trade ``index`` (the float InfluxDB holds)."""
        return float(self.price_text(self.ticks[index]))

    def time_ns(self, index: int) -> int:
        """The point time of trade ``index`` (the data model's timestamp rule)."""
        return model.timestamp_ns(self.times_ms[index], self.first_id + index)

    def last_before(self, at_ns: int, lookback_ns: int) -> int | None:
        """The index of the price in force at ``at_ns``: the last trade of its millisecond or before, in range."""
        stop_ns = (model.time_ms_of(at_ns) + 1) * model.NS_PER_MS
        index = bisect_right(self.times_ms, model.time_ms_of(at_ns)) - 1
        return index if index >= 0 and self.time_ns(index) >= stop_ns - lookback_ns else None

    def nearest(self, at_ns: int, lookback_ns: int) -> int | None:
        """The index of the trade closest in time to ``at_ns`` either side (a tie goes to the one before)."""
        stop_ns = (model.time_ms_of(at_ns) + 1) * model.NS_PER_MS
        candidates = [self.last_before(at_ns, lookback_ns)]
        after = bisect_right(self.times_ms, model.time_ms_of(at_ns))
        if after < self.count and self.time_ns(after) < stop_ns + lookback_ns:
            candidates.append(after)
        found = [i for i in candidates if i is not None]
        return min(found, key=lambda i: abs(at_ns - self.times_ms[i] * model.NS_PER_MS)) if found else None

    def span(self, start_ms: int, stop_ms: int) -> range:
        """The indexes of the trades in ``[start_ms, stop_ms)``."""
        return range(bisect_left(self.times_ms, start_ms), bisect_left(self.times_ms, stop_ms))


@dataclass(frozen=True)
class Dataset:
    """The options that define a generated history; the same options give the same trades."""

    trades: int = 10_000_000
    days: int = 35
    seed: int = 1

    @property
    def start_ms(self) -> int:
        """The first possible trade time."""
        return END_MS - self.days * DAY_MS

    def histories(self) -> list[History]:
        """One empty history per market, to be filled by :meth:`generate`."""
        return [
            History(m, round(self.trades * m.share), self.start_ms, END_MS - m.quiet_days * DAY_MS, self.seed)
            for m in MARKETS
        ]

    def generate(self, histories: list[History], batch: int, lines: bool = True) -> Iterator[list[str]]:
        """Fill the histories day by day, all markets interleaved as a collector would write them.

        Yields batches of about ``batch`` lines (none when ``lines`` is false: the ground truth only).
        """
        buffer: list[str] = []
        for day_end in range(self.start_ms + DAY_MS, END_MS + DAY_MS, DAY_MS):
            for history in histories:
                history.until(day_end, buffer if lines else None)
                if len(buffer) >= batch:
                    yield buffer
                    buffer = []
        if buffer:
            yield buffer


class Loader:
    """Line protocol to ``/api/v2/write`` from ``writers`` threads, each batch gzip'd (level 1) unless told not."""

    def __init__(self, settings: InfluxSettings, writers: int = 3, compress: bool = True) -> None:
        token, org = settings.require_credentials()
        query = urlencode({"org": org, "bucket": settings.bucket, "precision": "ns"})
        self._url = f"{settings.url}/api/v2/write?{query}"
        self._headers = {"Authorization": f"Token {token}", "Content-Type": "text/plain; charset=utf-8"}
        if compress:
            self._headers["Content-Encoding"] = "gzip"
        self._compress = compress
        self._http = urllib3.PoolManager(maxsize=writers, timeout=urllib3.Timeout(total=300))
        self._pool = ThreadPoolExecutor(writers, thread_name_prefix="bench-writer")
        self._room = threading.BoundedSemaphore(2 * writers)
        self._pending: deque[Future[None]] = deque()

    def submit(self, lines: list[str]) -> None:
        """Queue one batch (blocks while ``2 * writers`` batches are in flight); raises a failed write's error."""
        while self._pending and self._pending[0].done():
            self._pending.popleft().result()
        self._room.acquire()
        future = self._pool.submit(self._post, lines)
        future.add_done_callback(lambda _: self._room.release())
        self._pending.append(future)

    def close(self) -> None:
        """Wait for every batch to be written; raises the first failure."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown()
            self._http.clear()

    def _post(self, lines: list[str]) -> None:
        body = "\n".join(lines).encode()
        if self._compress:
            body = gzip.compress(body, compresslevel=1)
        response = self._http.request("POST", self._url, body=body, headers=self._headers)
        if response.status != 204:
            raise RuntimeError(f"write failed: HTTP {response.status}: {response.data[:300]!r}")


@dataclass(frozen=True)
class LoadResult:
    """How long the load took and how fast it went."""

    trades: int
    seconds: float

    @property
    def rate(self) -> float:
        """Trades per second, from the first line made to the last batch confirmed."""
        return self.trades / self.seconds


def load(
    settings: InfluxSettings,
    dataset: Dataset,
    histories: list[History],
    batch: int = 50_000,
    writers: int = 3,
    compress: bool = True,
) -> LoadResult:
    """Generate the dataset into ``histories`` and write every trade to the settings' bucket."""
    started = time.monotonic()
    loader = Loader(settings, writers, compress)
    try:
        for lines in dataset.generate(histories, batch):
            loader.submit(lines)
    finally:
        loader.close()
    return LoadResult(sum(h.count for h in histories), time.monotonic() - started)
