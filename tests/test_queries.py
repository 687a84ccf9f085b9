"""Every query answer against the real influxd equals the Python reference computed on the same trades.

The generated trades include bursts in one millisecond, trade ids crossing a multiple of 1,000,000 inside one
millisecond, trades exactly on window edges, a long gap, and a day on which Europe/Berlin leaves summer time.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pricecap import model
from pricecap.errors import NoDataError
from pricecap.model import Trade
from pricecap.settings import InfluxSettings
from queries import Prices, api, rollup
from queries.models import Candle
from tests import reference
from tests.helpers import bucket_with, influxql_shadowed, record_queries
from tests.reference import Point

pytestmark = [pytest.mark.integration, pytest.mark.compat]

MS = model.NS_PER_MS
START = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
"""Data runs from here for about 30 hours: across 2026-10-25, when Europe/Berlin has a 25-hour day."""
T0 = int(START.timestamp() * 1000)
HOUR_MS = 3_600_000
CROSSING_ID = 2_000_000


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp()) * 10**9


def generate() -> dict[str, list[Point]]:
    """Two markets: BUSY trades often, in bursts; QUIET trades rarely, with a 10-hour gap."""
    rng = random.Random(7)
    busy: list[Trade] = []
    trade_id, t, cents = 1_999_000, T0, 9_700_000
    while t < T0 + 30 * HOUR_MS:
        burst = 1 + (rng.random() < 0.2) * rng.randint(1, 40)
        if CROSSING_ID - 12 < trade_id + burst < CROSSING_ID + 6:
            burst = CROSSING_ID + 6 - trade_id  # one millisecond straddles 2,000,000
        for _ in range(burst):
            cents = max(100, cents + rng.randint(-300, 300))
            qty = f"{rng.randint(1, 10**6) / 1e6:.6f}"
            busy.append(Trade("BUSY", trade_id, f"{cents // 100}.{cents % 100:02d}", qty, t, rng.random() < 0.5))
            trade_id += 1
        t += rng.choice([1, 7, 500, 20_000, 60_000, 300_000])
        if trade_id % 97 == 0:
            t += HOUR_MS - t % HOUR_MS  # exactly on an hour edge
    quiet = [
        Trade("QUIET", 10 + i, f"{1 + i % 7}.5", "2", T0 + HOUR_MS * h + 17, False)
        for i, h in enumerate([0, 1, 2, 12, 13, 14, 29])
    ]
    return {"BUSY": [Point(x) for x in busy], "QUIET": [Point(x) for x in quiet]}


def crossing_ms(data: dict[str, list[Point]]) -> int:
    """The millisecond in which BUSY's trade ids cross 2,000,000."""
    return next(p.trade.time_ms for p in data["BUSY"] if p.trade.trade_id == CROSSING_ID)


@pytest.fixture(scope="module")
def data() -> dict[str, list[Point]]:
    points = generate()
    crossing = [p.trade.trade_id for p in points["BUSY"] if p.trade.time_ms == crossing_ms(points)]
    assert min(crossing) < CROSSING_ID < max(crossing), "the generator must straddle a multiple of 1,000,000"
    return points


@pytest.fixture(scope="module")
def bucket(server_settings: InfluxSettings, data: dict[str, list[Point]]) -> Iterator[InfluxSettings]:
    """One bucket with the generated trades, shared by the tests of this module (they only read)."""
    with bucket_with(server_settings, "queries-reference", [p.trade for ps in data.values() for p in ps]) as settings:
        yield settings


@pytest.fixture
def prices(bucket: InfluxSettings) -> Iterator[Prices]:
    with Prices(bucket) as p:
        yield p


@pytest.fixture(params=["influxql", "flux"])
def batch_prices(request: pytest.FixtureRequest, bucket: InfluxSettings) -> Iterator[Prices]:
    """Prices whose batch look-ups go through InfluxQL, or through prices_at.flux where a mapping made by hand
    takes the bucket's InfluxQL name (InfluxQL would read another bucket there)."""
    with contextlib.ExitStack() as stack:
        if request.param == "flux":
            stack.enter_context(influxql_shadowed(bucket))
        prices = stack.enter_context(Prices(bucket))
        assert (prices.runner.influxql_database is None) == (request.param == "flux")
        yield prices


def instants(points: list[Point], rng: random.Random, count: int) -> list[int]:
    """Instants that matter: on trades' exact milliseconds, 1 ns and 1 ms either side, and random ones."""
    chosen = rng.sample(points, min(count, len(points)))
    near = [p.trade.time_ms * MS + d for p in chosen for d in (0, -1, MS - 1, MS, -MS)]
    spread = [T0 * MS + rng.randint(-HOUR_MS, 31 * HOUR_MS) * MS for _ in range(count)]
    return [*near, *spread]


def mixed_instants(data: dict[str, list[Point]], rng: random.Random, count: int) -> list[tuple[str, int]]:
    """Both markets mixed: instants near trades and at random, around the crossing millisecond, before the
    first trade of each market, and far past the last."""
    asked = [(symbol, at) for symbol, points in data.items() for at in instants(points, rng, count)]
    asked += [("BUSY", crossing_ms(data) * MS + d) for d in (-MS, -1, 0, MS - 1, MS)]
    asked += [(symbol, points[0].ts - d) for symbol, points in data.items() for d in (1, MS, HOUR_MS * MS)]
    asked += [(symbol, points[-1].ts + d) for symbol, points in data.items() for d in (MS, 4 * HOUR_MS * MS)]
    rng.shuffle(asked)
    return asked


@pytest.mark.parametrize("near_ms", [None, 10])
@pytest.mark.parametrize("nearest", [False, True])
def test_price_at_many_instants_equals_the_reference(
    batch_prices: Prices,
    data: dict[str, list[Point]],
    nearest: bool,
    near_ms: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if near_ms is not None:  # most answers lie past the first step: the rest of the look-back finds them
        monkeypatch.setattr(api, "NEAR_NS", near_ms * MS)
    asked = mixed_instants(data, random.Random(1), 60)
    lookback = timedelta(hours=3)
    answers = batch_prices.prices_at(asked, lookback=lookback, nearest=nearest)
    for (symbol, at), answer in zip(asked, answers, strict=True):
        expected = reference.price_at(data[symbol], at, 3 * HOUR_MS * MS, nearest)
        got = (answer.trade.trade_id, answer.price, answer.trade.time_ns) if answer else None
        want = (expected.trade.trade_id, expected.price, expected.ts) if expected else None
        assert got == want, (symbol, at)


@pytest.mark.parametrize("nearest", [False, True])
def test_batch_answers_equal_single_answers_streamed_in_blocks(
    prices: Prices, batch_prices: Prices, data: dict[str, list[Point]], nearest: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "BLOCK", 7)  # several blocks, each its own requests
    asked = mixed_instants(data, random.Random(3), 6)
    batch = list(batch_prices.iter_prices_at(iter(asked), lookback="3h", nearest=nearest))
    assert len(batch) == len(asked)
    for (symbol, at), answer in zip(asked, batch, strict=True):
        try:
            single = prices.price_at(symbol, at, lookback="3h", nearest=nearest)
        except NoDataError:
            assert answer is None, (symbol, at)
            continue
        assert answer == single, (symbol, at)


@pytest.mark.parametrize("nearest", [False, True])
def test_price_at_one_instant_equals_the_reference(prices: Prices, data: dict[str, list[Point]], nearest: bool) -> None:
    rng = random.Random(2)
    asked = [(symbol, at) for symbol, points in data.items() for at in instants(points, rng, 4)]
    asked += [("BUSY", crossing_ms(data) * MS + d) for d in (-1, 0, MS)]
    for symbol, at in asked:
        expected = reference.price_at(data[symbol], at, 3 * HOUR_MS * MS, nearest)
        if expected is None:
            with pytest.raises(NoDataError):
                prices.price_at(symbol, at, lookback="3h", nearest=nearest)
            continue
        answer = prices.price_at(symbol, at, lookback="3h", nearest=nearest)
        assert (answer.trade.trade_id, answer.price, answer.trade.time_ns) == (
            expected.trade.trade_id,
            expected.price,
            expected.ts,
        ), (symbol, at)


def test_price_at_decides_by_trade_id_in_the_millisecond_where_ids_cross_a_million(
    prices: Prices, data: dict[str, list[Point]]
) -> None:
    t = crossing_ms(data)
    answer = prices.price_at("BUSY", t * MS)
    in_ms = [p for p in data["BUSY"] if p.trade.time_ms == t]
    last_id = max(p.trade.trade_id for p in in_ms)
    assert (answer.trade.trade_id, answer.stale_ns) == (last_id, 0)
    assert max(in_ms, key=lambda p: p.ts).trade.trade_id < CROSSING_ID, "_time order alone would be wrong here"


def test_price_at_a_trade_exactly_at_the_instant_counts_and_staleness_is_exact(prices: Prices) -> None:
    at = (T0 + 2 * HOUR_MS + 17) * MS
    assert prices.price_at("QUIET", at).trade.trade_id == 12
    answer = prices.price_at("QUIET", at - 1)
    assert (answer.trade.trade_id, answer.stale_ns) == (11, HOUR_MS * MS - 1)


def test_a_bucket_named_database_slash_policy_is_read_through_influxql(
    server_settings: InfluxSettings, data: dict[str, list[Point]]
) -> None:
    """InfluxDB maps bucket ``D/R`` to InfluxQL database ``D``, retention policy ``R``."""
    name = f"db-{uuid.uuid4().hex[:8]}/rp"
    with bucket_with(server_settings, name, [p.trade for p in data["QUIET"]]) as settings, Prices(settings) as prices:
        assert prices.runner.influxql_database == (name.partition("/")[0], "rp")
        asked = [("QUIET", p.ts + d) for p in data["QUIET"] for d in (-1, 0, MS)]
        got = [a.trade.trade_id if a else None for a in prices.prices_at(asked, lookback="3h")]
        want = [
            e.trade.trade_id if e else None
            for e in (reference.price_at(data["QUIET"], at, 3 * HOUR_MS * MS, False) for _, at in asked)
        ]
        assert got == want


def test_lookback_limits_the_answer_and_a_long_gap_is_bridged_when_allowed(prices: Prices) -> None:
    at = (T0 + 11 * HOUR_MS) * MS  # nine hours after QUIET's trade 12
    assert prices.prices_at([("QUIET", at)], lookback="1h") == [None]
    assert prices.price_at("QUIET", at, lookback="10h").trade.trade_id == 12
    assert prices.price_at("QUIET", at, lookback="2h", nearest=True).trade.trade_id == 13


RANGES = [
    ("2026-10-24T22:00:00+00:00", "2026-10-26T04:00:00+00:00"),
    ("2026-10-25T01:00:00+00:00", "2026-10-25T02:00:00+00:00"),
    ("2026-10-25T03:00:00+00:00", "2026-10-25T03:20:34+00:00"),
    ("2026-10-25T02:00:00+00:00", "2026-10-25T14:00:00+00:00"),
]


@pytest.mark.parametrize(("start", "stop"), RANGES)
def test_high_low_equals_the_reference(prices: Prices, data: dict[str, list[Point]], start: str, stop: str) -> None:
    start_ns, stop_ns = ns(start), ns(stop)
    expected = reference.ohlcv(data["BUSY"], start_ns, stop_ns)
    assert expected is not None
    got = prices.high_low("BUSY", start_ns, stop_ns)
    assert (got.open, got.close, got.trades) == (expected.open, expected.close, expected.trades)
    assert (got.high.price, got.high.time_ns, got.low.price, got.low.time_ns) == (
        expected.high,
        expected.high_ts,
        expected.low,
        expected.low_ts,
    )
    assert got.volume == pytest.approx(expected.volume, rel=1e-12)


def test_high_low_over_the_crossing_millisecond_opens_and_closes_by_trade_id(
    prices: Prices, data: dict[str, list[Point]]
) -> None:
    t = crossing_ms(data)
    crossing = sorted((p for p in data["BUSY"] if p.trade.time_ms == t), key=lambda p: p.order)
    got = prices.high_low("BUSY", t * MS, (t + 1) * MS)
    assert (got.open, got.close) == (crossing[0].price, crossing[-1].price)
    assert (got.first_trade_id, got.last_trade_id) == (crossing[0].trade.trade_id, crossing[-1].trade.trade_id)


CANDLE_CASES = [
    ("1h", "UTC", "2026-10-24T22:00:00+00:00", "2026-10-26T04:00:00+00:00"),
    ("1m", "UTC", "2026-10-25T02:30:00+00:00", "2026-10-25T05:00:00+00:00"),
    ("1d", "Europe/Berlin", "2026-10-24T20:00:00+00:00", "2026-10-26T12:00:00+00:00"),
    ("15m", "Asia/Kolkata", "2026-10-25T03:07:00+00:00", "2026-10-25T09:00:00+00:00"),
    ("1h", "UTC", "2026-10-24T21:59:59.999+00:00", "2026-10-26T03:00:00.001+00:00"),
    ("1d", "Asia/Kolkata", "2026-10-24T21:59:59.999+00:00", "2026-10-26T03:00:00.001+00:00"),
]


def assert_candles_equal_the_reference(
    got: list[Candle], points: list[Point], start_ns: int, stop_ns: int, every: str, zone: str
) -> None:
    """The candles' windows and every value equal the Python reference's (volume to rounding)."""
    assert [(c.start_ns, c.stop_ns) for c in got] == list(
        reference.windows(start_ns, stop_ns, reference.EVERY[every], zone)
    )
    for candle in got:
        want = reference.ohlcv(points, candle.start_ns, candle.stop_ns)
        if want is None:
            assert (candle.trades, candle.open, candle.close, candle.volume) == (0, None, None, 0.0)
            continue
        assert (candle.open, candle.high, candle.low, candle.close, candle.trades) == (
            want.open,
            want.high,
            want.low,
            want.close,
            want.trades,
        )
        assert candle.volume == pytest.approx(want.volume, rel=1e-12)


@pytest.mark.parametrize(("every", "zone", "start", "stop"), CANDLE_CASES)
def test_candles_equal_the_reference(
    prices: Prices, data: dict[str, list[Point]], every: str, zone: str, start: str, stop: str
) -> None:
    start_ns, stop_ns = ns(start), ns(stop)
    got = prices.candles("BUSY", start_ns, stop_ns, every=every, tz=zone, fill="null")
    assert_candles_equal_the_reference(got, data["BUSY"], start_ns, stop_ns, every, zone)


@pytest.fixture(scope="module")
def rolled_up(server_settings: InfluxSettings, data: dict[str, list[Point]]) -> Iterator[InfluxSettings]:
    """The same trades in a bucket of their own, with the 1-minute and 1-hour candles of ``pricecap setup``."""
    trades = [p.trade for ps in data.values() for p in ps]
    with bucket_with(server_settings, f"queries-rollup-{uuid.uuid4().hex[:8]}", trades) as settings:
        rollup.setup(settings, None)
        rollup.rebuild(settings, T0 * MS, (T0 + 31 * HOUR_MS) * MS)
        yield settings


@pytest.mark.parametrize(("every", "zone", "start", "stop"), CANDLE_CASES)
def test_candles_from_the_rollups_equal_the_reference(
    rolled_up: InfluxSettings, data: dict[str, list[Point]], every: str, zone: str, start: str, stop: str
) -> None:
    start_ns, stop_ns = ns(start), ns(stop)
    with Prices(rolled_up) as prices:
        used = record_queries(prices)
        got = prices.candles("BUSY", start_ns, stop_ns, every=every, tz=zone, fill="null")
    assert ("candles_rollup" in used) == (stop_ns - start_ns >= api.CANDLES_FROM_NS), used  # the candles bucket
    assert_candles_equal_the_reference(got, data["BUSY"], start_ns, stop_ns, every, zone)


def test_empty_windows_are_flat_at_the_last_close_or_left_out(prices: Prices, data: dict[str, list[Point]]) -> None:
    start, stop = (T0 + 2 * HOUR_MS) * MS, (T0 + 14 * HOUR_MS) * MS  # QUIET trades at hours 2, 12 and 13
    filled = prices.candles("QUIET", start, stop, every="1h")
    assert len(filled) == 12
    assert [c.trades for c in filled] == [1] + [0] * 9 + [1, 1]
    assert {c.close for c in filled[:10]} == {float(data["QUIET"][2].trade.price)}
    assert all(c.volume == 0.0 for c in filled[1:10])
    assert [c.trades for c in prices.candles("QUIET", start, stop, every="1h", fill="none")] == [1, 1, 1]
    first_empty = prices.candles("QUIET", (T0 + 3 * HOUR_MS) * MS, stop, every="1h")
    assert first_empty[0].open == float(data["QUIET"][2].trade.price), "the close before the range carries in"


def test_symbols_and_last(prices: Prices, data: dict[str, list[Point]]) -> None:
    infos = {i.symbol: i for i in prices.symbols()}
    assert set(infos) == {"BUSY", "QUIET"}
    for symbol, points in data.items():
        assert infos[symbol].trades == len(points)
        assert infos[symbol].first_ns == min(p.ts for p in points)
        assert infos[symbol].last_ns == max(p.ts for p in points)
    assert {a.symbol: a.trade.trade_id for a in prices.last()} == {
        s: max(p.trade.trade_id for p in points) for s, points in data.items()
    }


@pytest.mark.parametrize("every", ["1m", "1h"])
def test_a_window_that_opens_in_the_millisecond_where_ids_cross_opens_by_trade_id(
    prices: Prices, data: dict[str, list[Point]], every: str
) -> None:
    start_ns = crossing_ms(data) * MS  # the first window opens in that millisecond: its first _time is not its first id
    stop_ns = start_ns + 2 * HOUR_MS * MS + 17
    got = prices.candles("BUSY", start_ns, stop_ns, every=every, fill="null")
    assert_candles_equal_the_reference(got, data["BUSY"], start_ns, stop_ns, every, "UTC")
