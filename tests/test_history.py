"""History: archive import, REST backfill, setup of buckets and roll-up tasks, and high/low through candles."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from influxdb_client.client.write_api import SYNCHRONOUS

from collector.archive import ArchiveError, symbol_of
from collector.history import UNANSWERED_ATTEMPTS
from collector.rest import BinanceRest
from fake_binance import FakeBinance
from pricecap import model
from pricecap.errors import ExitCode
from pricecap.influx import connect
from pricecap.model import Trade
from pricecap.settings import InfluxSettings
from queries import Prices, rollup
from tests import reference
from tests.helpers import bucket_with, environment_of, one_line_error, pricecap, record_queries, stored_ids
from tests.reference import Point

pytestmark = pytest.mark.integration
MS = model.NS_PER_MS
MINUTE_MS = 60_000


def trades(symbol: str, first_id: int, start_ms: int, count: int, seed: int = 3) -> list[Trade]:
    """``count`` trades from ``start_ms``, several per millisecond at times, a random walk of prices."""
    rng = random.Random(seed)
    result, t, cents = [], start_ms, 5_000_000
    for i in range(count):
        cents = max(100, cents + rng.randint(-40, 40))
        result.append(
            Trade(symbol, first_id + i, f"{cents // 100}.{cents % 100:02d}", f"{rng.randint(1, 999)}.5", t, i % 3 == 0)
        )
        t += rng.choice([0, 0, 3, 250, 4_000])
    return result


def archive(path: Path, rows: list[Trade], microseconds: bool, header: bool) -> Path:
    """A Binance-style daily archive of ``rows`` (with a .CHECKSUM beside it)."""
    lines = ["id,price,qty,quote_qty,time,is_buyer_maker,is_best_match"] if header else []
    for t in rows:
        when = t.time_ms * 1000 + 123 if microseconds else t.time_ms
        quote = float(t.price) * float(t.qty)
        lines.append(f"{t.trade_id},{t.price},{t.qty},{quote:.8f},{when},{t.buyer_maker},True")
    lines.insert(len(lines) // 2, "7,not-a-price,1,1,1700000000000,True,True")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(path.with_suffix(".csv").name, "\n".join(lines) + "\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    return path


@pytest.mark.parametrize(("microseconds", "header"), [(False, False), (True, True)])
def test_import_of_an_archive_in_either_time_unit_is_exact_and_idempotent(
    settings: InfluxSettings, tmp_path: Path, microseconds: bool, header: bool
) -> None:
    rows = trades("BTCUSDT", 4_000_000, 1_735_689_600_000, 5_000)
    path = archive(tmp_path / "BTCUSDT-trades-2025-01-01.zip", rows, microseconds, header)
    env = environment_of(settings)
    first = pricecap("import", str(path), "--batch-rows", "1000", env=env)
    assert first.returncode == 0, first.stderr
    assert "5,000 trades of BTCUSDT" in first.stderr and "checksum verified" in first.stderr
    assert "1 bad_row" in first.stderr or "1 bad_number" in first.stderr
    with Prices(settings) as prices:
        assert [(s.symbol, s.trades) for s in prices.symbols()] == [("BTCUSDT", 5_000)]
        assert prices.price_at("BTCUSDT", f"{rows[-1].time_ms}").trade.trade_id == rows[-1].trade_id
    assert stored_ids(settings, "BTCUSDT") == [t.trade_id for t in rows]
    again = pricecap("import", str(path), env=env)
    assert again.returncode == 0, again.stderr
    assert stored_ids(settings, "BTCUSDT") == [t.trade_id for t in rows]


def test_a_damaged_archive_is_refused_and_nothing_is_written(settings: InfluxSettings, tmp_path: Path) -> None:
    path = archive(
        tmp_path / "ETHUSDT-trades-2025-01-02.zip", trades("ETHUSDT", 1, 1_735_776_000_000, 100), False, False
    )
    data = bytearray(path.read_bytes())
    data[60] ^= 0xFF  # one damaged byte in the compressed rows
    path.write_bytes(bytes(data))
    result = pricecap("import", str(path), env=environment_of(settings))
    one_line_error(result, ExitCode.USAGE, "SHA-256 does not match ETHUSDT-trades-2025-01-02.zip.CHECKSUM")
    odd = tmp_path / "trades.csv"
    odd.write_text("1,2.5,1,2.5,1735776000000,True,True\n")
    one_line_error(pricecap("import", str(odd), env=environment_of(settings)), ExitCode.USAGE, "give --symbol")
    assert stored_ids(settings, "ETHUSDT") == []


async def test_backfill_fetches_exactly_the_range_from_rest(settings: InfluxSettings) -> None:
    async with FakeBinance(["SOLUSDT"], first_id=900) as fake:
        market = fake.ledger.markets["SOLUSDT"]
        start_ms = 1_763_000_000_000
        for i in range(4_500):
            market.make(start_ms + i * 10 - (i % 4 == 1) * 10)  # some pairs share a millisecond
        inside = [
            market.trade(i) for i in market.ids() if start_ms + 5_000 <= market.trade(i).time_ms < start_ms + 40_000
        ]
        args = ["backfill", "--symbol", "solusdt", "--rest-url", fake.rest_url]
        window = ["--from", str(start_ms + 5_000), "--to", str(start_ms + 40_000)]
        result = await asyncio.to_thread(pricecap, *args, *window, env=environment_of(settings))
        assert result.returncode == 0, result.stderr
        assert f"{len(inside):,} trades" in result.stderr
        assert stored_ids(settings, "SOLUSDT") == [t.id for t in inside]
        wider = ["--from", str(start_ms), "--to", str(start_ms + 45_000)]
        again = await asyncio.to_thread(pricecap, *args, *wider, env=environment_of(settings))
        assert again.returncode == 0, again.stderr
        assert stored_ids(settings, "SOLUSDT") == market.ids(), "a wider run adds the rest, once"
        assert fake.rest.status_counts.get(418, 0) == 0


async def test_backfill_from_a_source_without_historical_trades_says_what_it_cannot_have(
    settings: InfluxSettings,
) -> None:
    async with FakeBinance(["SOLUSDT"], first_id=900, data_api=True) as fake:
        market = fake.ledger.markets["SOLUSDT"]
        market.step_cents = 0  # one price: trades of one millisecond and side aggregate
        start_ms = 1_763_000_000_000
        for i in range(4_500):
            market.make(start_ms + i * 10 - (i % 4 == 1) * 10)
        rest = BinanceRest(fake.rest_url)
        aggregates = await rest.agg_trades("SOLUSDT", start_ms=start_ms)
        while len(aggregates) % 1_000 == 0:
            aggregates += await rest.agg_trades("SOLUSDT", from_agg=aggregates[-1].a + 1)
        rest.close()
        newest = market.next_id - 1_000
        lost = {i for a in aggregates if a.f < a.l for i in range(a.f, a.l + 1) if i < newest}
        args = ["backfill", "--symbol", "SOLUSDT", "--rest-url", fake.rest_url]
        window = ["--from", str(start_ms), "--to", str(start_ms + 45_000)]
        result = await asyncio.to_thread(pricecap, *args, *window, env=environment_of(settings))
    assert result.returncode == 0, result.stderr
    assert lost and f"{len(lost):,} trade ids are not available" in result.stderr
    assert stored_ids(settings, "SOLUSDT") == sorted(set(market.ids()) - lost)


@contextlib.contextmanager
def hanging_up_server() -> Iterator[tuple[str, list[int]]]:
    """A REST URL whose server accepts each connection and closes it at once, never answering; and the list
    of connections it took (one per try)."""
    tries: list[int] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def serve() -> None:
            with contextlib.suppress(OSError):  # the socket closed: the test is over
                while True:
                    connection, _ = server.accept()
                    tries.append(1)
                    connection.close()

        threading.Thread(target=serve, daemon=True).start()
        yield f"http://127.0.0.1:{server.getsockname()[1]}", tries


def test_backfill_from_a_rest_api_that_never_answers_is_one_line_after_two_tries(settings: InfluxSettings) -> None:
    """Issue 28: the first request is tried twice, not six times, and its retries stay out of the output."""
    args = ["backfill", "--symbol", "BTCUSDT", "--from", "-1h"]
    with hanging_up_server() as (url, tries):
        result = pricecap(*args, "--rest-url", url, env=environment_of(settings))
        one_line_error(result, ExitCode.UNREACHABLE, f"Binance's REST API at {url} does not answer: ")
        assert "HTTPConnection" not in result.stderr and "Error(" not in result.stderr, (
            "urllib3's wrapping, not the cause"
        )
        assert len(tries) == UNANSWERED_ATTEMPTS == 2
        logged = pricecap(*args, "--rest-url", url, "--log-level", "WARNING", env=environment_of(settings))
    lines = logged.stderr.strip().splitlines()
    assert logged.returncode == ExitCode.UNREACHABLE
    assert [("binance rest unreachable" in line) for line in lines] == [True, True, False], logged.stderr
    assert lines[-1].startswith("pricecap: error: Binance's REST API at ")
    assert stored_ids(settings, "BTCUSDT") == []


def candles_stored(settings: InfluxSettings, interval: str) -> dict[tuple[str, int], dict[str, float]]:
    query = f"""
from(bucket: "{rollup.candle_bucket(settings)}") |> range(start: 0)
  |> filter(fn: (r) => r._measurement == "candles" and r.interval == "{interval}")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> map(fn: (r) => ({{r with time_ns: int(v: r._time)}}))
"""
    with connect(settings) as client:
        records = client.query_api().query_stream(query)
        return {(str(r.values["symbol"]), int(r.values["time_ns"])): dict(r.values) for r in records}


def expected_candles(points: list[Point], start_ns: int, stop_ns: int, length_ns: int) -> dict[int, reference.Ohlcv]:
    result = {}
    for window in range(start_ns, stop_ns, length_ns):
        found = reference.ohlcv(points, window, window + length_ns)
        if found is not None:
            result[window] = found
    return result


@pytest.fixture
def recent(server_settings: InfluxSettings) -> Iterator[tuple[InfluxSettings, list[Point]]]:
    """A bucket with trades in the last complete minutes, ids crossing 2,000,000 inside one millisecond."""
    now_minute = time.time_ns() // (MINUTE_MS * MS) * MINUTE_MS
    rows = trades("BTCUSDT", 1_999_990, now_minute - 8 * MINUTE_MS, 600)
    rows = [
        Trade(
            t.symbol,
            t.trade_id,
            t.price,
            t.qty,
            rows[0].time_ms if t.trade_id < 2_000_004 else t.time_ms,
            t.buyer_maker,
        )
        for t in rows
    ]
    rows = [t for t in rows if t.time_ms < now_minute]
    name = f"recent-{time.time_ns()}"
    with bucket_with(server_settings, name, rows) as settings:
        yield settings, [Point(t) for t in rows]


@pytest.mark.compat
def test_setup_is_idempotent_and_its_task_run_now_makes_candles_equal_to_the_reference(
    recent: tuple[InfluxSettings, list[Point]],
) -> None:
    settings, points = recent
    env = environment_of(settings)
    for _ in range(2):
        result = pricecap("setup", "--retention", "30d", "--no-rebuild", env=env)
        assert result.returncode == 0, result.stderr
    with connect(settings) as client:
        tasks = [t for t in client.tasks_api().find_tasks() if t.name.endswith(f"of {settings.bucket}")]
        assert sorted(t.name for t in tasks) == [
            f"pricecap candles 1h of {settings.bucket}",
            f"pricecap candles 1m of {settings.bucket}",
        ]
        bucket = client.buckets_api().find_bucket_by_name(settings.bucket)
        assert [r.every_seconds for r in bucket.retention_rules] == [30 * 86_400]
        minute = next(t for t in tasks if " 1m " in t.name)
        client.tasks_api().run_manually(minute.id)
        deadline = time.monotonic() + 60
        while not (
            finished := [r.status for r in client.tasks_api().get_runs(minute.id) if r.status in ("success", "failed")]
        ):
            assert time.monotonic() < deadline, "the task run did not finish"
            time.sleep(0.2)
        assert finished[0] == "success"
    stored = candles_stored(settings, "1m")
    first = points[0].trade.time_ms * MS
    start = first - first % (MINUTE_MS * MS)
    expected = expected_candles(points, start, start + 10 * MINUTE_MS * MS, MINUTE_MS * MS)
    assert sorted(t for _, t in stored) == sorted(expected)
    flagged = 0
    for window, want in expected.items():
        got = stored[("BTCUSDT", window)]
        ids = sorted(p.trade.trade_id for p in points if window <= p.ts < window + MINUTE_MS * MS)
        assert (got["high"], got["low"], got["trades"], got["first_id"], got["last_id"]) == (
            want.high, want.low, want.trades, ids[0], ids[-1],
        )  # fmt: skip
        if got["open_id"] == got["first_id"]:
            assert got["open"] == want.open
        else:  # ids cross 2,000,000 in the first millisecond: the flag sends queries to raw trades
            flagged += 1
        assert (got["close"], got["close_id"]) == (want.close, ids[-1])
        assert got["volume"] == pytest.approx(want.volume)
    assert flagged == 1


HOLE = range(80_000, 80_050)
"""Ids missing when setup computes the candles, repaired afterwards (one of them trades at the top)."""


@pytest.fixture
def history(server_settings: InfluxSettings) -> Iterator[tuple[InfluxSettings, list[Point]]]:
    """A day of trades that ended three days ago, with a hole of 50 ids, and candles from setup."""
    start = (time.time_ns() // MS) - 4 * 86_400_000
    rows = trades("ETHUSDT", 1, start, 120_000, seed=9)
    rows[HOLE[7] - 1] = Trade("ETHUSDT", HOLE[7], "99999.5", "1", rows[HOLE[7] - 1].time_ms, False)
    with bucket_with(
        server_settings, f"history-{time.time_ns()}", [t for t in rows if t.trade_id not in HOLE]
    ) as settings:
        result = pricecap("setup", env=environment_of(settings))
        assert result.returncode == 0, result.stderr
        yield settings, [Point(t) for t in rows]


@pytest.mark.compat
def test_long_range_high_low_through_candles_equals_raw(history: tuple[InfluxSettings, list[Point]]) -> None:
    settings, points = history
    before_hole = [p for p in points if p.trade.trade_id < HOLE[0]]
    start_ns, stop_ns = before_hole[100].ts - 17 * MS, before_hole[-200].ts + 5 * MS
    with Prices(settings) as prices:
        used = record_queries(prices)
        fast = prices.high_low("ETHUSDT", start_ns, stop_ns)
        assert "high_low_candles" in used
        raw = prices._high_low_raw("ETHUSDT", start_ns, stop_ns)
    assert raw is not None
    want = reference.ohlcv(before_hole, start_ns, stop_ns)
    assert want is not None
    ids = sorted(p.trade.trade_id for p in before_hole if start_ns <= p.ts < stop_ns)
    for got in (fast, raw):
        assert (got.open, got.close, got.trades, got.first_trade_id, got.last_trade_id) == (
            want.open, want.close, want.trades, ids[0], ids[-1],
        )  # fmt: skip
        assert (got.high.price, got.high.time_ns, got.low.price, got.low.time_ns) == (
            want.high, want.high_ts, want.low, want.low_ts,
        )  # fmt: skip
        assert got.volume == pytest.approx(want.volume)


def test_candles_that_miss_repaired_trades_are_not_used(history: tuple[InfluxSettings, list[Point]]) -> None:
    settings, points = history
    start_ns, stop_ns = points[100].ts, points[-200].ts
    with Prices(settings) as prices:
        assert prices.high_low("ETHUSDT", start_ns, stop_ns).trades == len(points) - 300 - len(HOLE)
    repaired = "\n".join(model.encode_trade(p.trade) for p in points if p.trade.trade_id in HOLE)
    with connect(settings) as client:
        client.write_api(write_options=SYNCHRONOUS).write(settings.bucket, settings.org, repaired)
    with Prices(settings) as prices:
        answer = prices.high_low("ETHUSDT", start_ns, stop_ns)
    assert (answer.high.price, answer.trades) == (99999.5, len(points) - 300)


@pytest.mark.compat
def test_candles_from_the_rollups_equal_raw_with_a_hole_and_after_its_repair(
    history: tuple[InfluxSettings, list[Point]],
) -> None:
    settings, points = history
    start_ns, stop_ns = points[100].ts - 17 * MS, points[-200].ts + 5 * MS
    stored = [p for p in points if p.trade.trade_id not in HOLE]
    hole_hour = points[HOLE[0]].ts - points[HOLE[0]].ts % (3_600_000 * MS)
    for every, zone in (("1h", "UTC"), ("15m", "Asia/Kolkata"), ("1d", "Europe/Berlin")):
        with Prices(settings) as prices:
            used = record_queries(prices)
            got = prices.candles("ETHUSDT", start_ns, stop_ns, every=every, tz=zone, fill="null")
        assert used.count("candles_rollup") == 1 and used.count("candles_rollup raw") <= 2, used  # edges only
        want = reference.candles(stored, start_ns, stop_ns, every, zone)
        assert [(c.start_ns, c.open, c.high, c.low, c.close, c.trades) for c in got] == want
    repaired = "\n".join(model.encode_trade(p.trade) for p in points if p.trade.trade_id in HOLE)
    with connect(settings) as client:
        client.write_api(write_options=SYNCHRONOUS).write(settings.bucket, settings.org, repaired)
    with Prices(settings) as prices:
        got = prices.candles("ETHUSDT", start_ns, stop_ns, every="1h", fill="null")
    assert [(c.start_ns, c.open, c.high, c.low, c.close, c.trades) for c in got] == reference.candles(
        points, start_ns, stop_ns, "1h", "UTC"
    )
    assert next(c for c in got if c.start_ns == hole_hour).high == 99999.5, "the repaired top comes from raw trades"


def test_archive_names_may_carry_unicode_symbols() -> None:
    assert symbol_of(Path("币安人生USDT-trades-2026-01-01.zip")) == "币安人生USDT"
    assert symbol_of(Path("BTCUSDT-trades-2026-01.csv")) == "BTCUSDT"
    with pytest.raises(ArchiveError, match="not a Binance trade archive name"):
        symbol_of(Path("BTC USDT-trades-2026-01-01.zip"))
