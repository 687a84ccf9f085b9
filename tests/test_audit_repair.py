"""``pricecap audit --repair`` and ``--against-archive``, the collector's exchange gaps and its hourly audit, against
the real influxd and the fake exchange's REST API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import time
import zipfile
from pathlib import Path

import pytest

from collector.completeness import HourlyAudit, last_closed_hour
from collector.pipeline import TradePipeline, lowest_ids
from collector.repair import Repairer
from collector.rest import BinanceRest
from collector.service import Collector, CollectorConfig
from collector.stats import Stats, StatsCollector
from fake_binance import FakeBinance
from fake_binance.ledger import Market
from pricecap import flux, model
from pricecap.errors import ExitCode
from pricecap.influxd import free_port
from pricecap.settings import InfluxSettings
from queries import Prices
from queries.audit import last_audited_hour
from stack.status import audit_summary
from tests.helpers import (
    delete_trades,
    environment_of,
    one_line_error,
    pricecap,
    stored_ids,
    stored_trades,
    write_lines,
    write_trades,
)
from tests.test_collector import http_get

pytestmark = pytest.mark.integration
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def iso(ms: int) -> str:
    return flux.Time(ms * model.NS_PER_MS).rfc3339()


def as_model(market: Market, trade_id: int) -> model.Trade:
    trade = market.trade(trade_id)
    return model.Trade(trade.symbol, trade.id, trade.price, trade.qty, trade.time_ms, trade.buyer_maker)


def env_of(settings: InfluxSettings) -> dict[str, str]:
    return environment_of(settings) | {"PRICECAP_CONFIG": "/dev/null"}


def made(fake: FakeBinance, count: int, start_ms: int, step_ms: int = 2_000) -> Market:
    """``count`` BTCUSDT trades on the fake exchange from ``start_ms`` (REST serves them; ids from 5,000)."""
    market = fake.ledger.markets["BTCUSDT"]
    for i in range(count):
        market.make(start_ms + i * step_ms)
    return market


async def test_repair_writes_the_missing_ranges_and_records_what_rest_answers_past(settings: InfluxSettings) -> None:
    # yesterday 01:00 UTC: the range and its trades lie in one UTC day, the audit's default period, whatever the
    # time of day the test runs (two hours before now, they crossed midnight when run between 00:00 and 02:30)
    start_ms = ((time.time_ns() // model.NS_PER_MS) // DAY_MS - 1) * DAY_MS + HOUR_MS
    async with FakeBinance(["BTCUSDT"], first_id=5_000) as fake:
        market = made(fake, 1_500, start_ms)
        holes = {5_000, *range(5_100, 5_150), *range(6_000, 6_003)}
        before_rest = [model.Trade("BTCUSDT", 4_990 + k, "1.5", "1", start_ms - 10_000, False) for k in range(5)]
        write_trades(settings, before_rest + [as_model(market, i) for i in market.ids() if i not in holes])
        args = ["audit", "--from", iso(start_ms - 60_000), "--to", iso(start_ms + HOUR_MS), "--rest-url", fake.rest_url]
        found = await asyncio.to_thread(pricecap, *args, "--json", env=env_of(settings))
        assert found.returncode == ExitCode.INCOMPLETE, found.stderr
        assert [row["missing_ids"] for row in json.loads(found.stdout)] == ["4995-5000 5100-5149 6000-6002"]
        repaired = await asyncio.to_thread(pricecap, *args, "--repair", "--json", env=env_of(settings))
        assert repaired.returncode == 0, repaired.stderr
        (row,) = json.loads(repaired.stdout)
        assert (row["missing"], row["exchange_gap_ids"], row["verdict"]) == (0, "4995-4999", "complete")
        assert "BTCUSDT: 54 missing trades fetched from REST and written" in repaired.stderr
        assert "ids 4995-4999 are an exchange gap" in repaired.stderr
        assert stored_ids(settings, "BTCUSDT") == [*range(4_990, 4_995), *market.ids()], "each once"
        stored = {t.trade_id: t for t in stored_trades(settings, "BTCUSDT")}
        assert stored[5_120].time_ns == model.timestamp_ns(market.trade(5_120).time_ms, 5_120), "the model's time"
        requests = len(fake.rest.requests)
        again = await asyncio.to_thread(pricecap, *args, "--repair", env=env_of(settings))
        assert again.returncode == 0, again.stderr
        assert len(fake.rest.requests) == requests, "an exchange gap is not asked for again"


async def test_a_repair_killed_midway_and_run_again_finishes_without_duplicates(settings: InfluxSettings) -> None:
    start_ms = (time.time_ns() // model.NS_PER_MS) - 3 * HOUR_MS
    async with FakeBinance(["BTCUSDT"], first_id=5_000) as fake:
        market = made(fake, 6_000, start_ms, step_ms=1_000)
        holes = {i for i in market.ids() if 250 <= i % 500 < 253}  # twelve ranges: one REST page each
        write_trades(settings, [as_model(market, i) for i in market.ids() if i not in holes])
        fake.rest.latency_s = 0.5
        args = ["audit", "--from", iso(start_ms), "--to", iso(start_ms + 2 * HOUR_MS), "--repair"]
        exe = os.path.join(os.path.dirname(sys.executable), "pricecap")
        process = await asyncio.create_subprocess_exec(
            exe, *args, "--rest-url", fake.rest_url, env={**os.environ, **env_of(settings)},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(600):
            if len(fake.rest.requests) >= 3:
                break
            await asyncio.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        assert len(stored_ids(settings, "BTCUSDT")) < len(market.ids()), "killed before it finished"
        fake.rest.latency_s = 0.0
        again = await asyncio.to_thread(pricecap, *args, "--rest-url", fake.rest_url, env=env_of(settings))
        assert again.returncode == 0, again.stderr
    assert stored_ids(settings, "BTCUSDT") == market.ids()


async def test_rest_failing_midway_is_one_line(settings: InfluxSettings) -> None:
    start_ms = (time.time_ns() // model.NS_PER_MS) - 2 * HOUR_MS
    async with FakeBinance(["BTCUSDT"], first_id=5_000) as fake:
        market = made(fake, 100, start_ms)
        write_trades(settings, [as_model(market, i) for i in market.ids() if i != 5_050])
        fake.rest.restricted = True
        args = ["audit", "--from", iso(start_ms), "--repair", "--rest-url", fake.rest_url]
        result = await asyncio.to_thread(pricecap, *args, env=env_of(settings))
    one_line_error(result, ExitCode.FAILURE, "HTTP 451")


async def test_the_collector_records_the_ids_it_gives_up_on_and_the_audit_reads_them(settings: InfluxSettings) -> None:
    async with FakeBinance(["BTCUSDT"], first_id=5_000) as fake:
        market = made(fake, 10, time.time_ns() // model.NS_PER_MS - 60_000)
        pipeline = TradePipeline(["BTCUSDT"])
        first = market.trade(5_000)
        before = model.Trade("BTCUSDT", 4_990, first.price, first.qty, first.time_ms - 1_000, False)
        pipeline.resume_after("BTCUSDT", 4_990)
        pipeline.states["BTCUSDT"].catching_up = False
        pipeline.states["BTCUSDT"].missing = [[4_991, 5_009]]  # REST never had 4,991..4,999
        rest = BinanceRest(fake.rest_url)
        stop = asyncio.Event()
        repairer = Repairer(lambda: pipeline, rest, lambda: None, settle_s=0.0, give_up_after_s=0.5)
        running = asyncio.create_task(repairer.run(stop))
        for _ in range(300):
            if not pipeline.states["BTCUSDT"].needs_repair():
                break
            await asyncio.sleep(0.1)
        stop.set()
        await running
        rest.close()
    chunk = pipeline.take_chunk()
    assert chunk is not None
    assert lowest_ids([chunk])["BTCUSDT"] == 4_991, "the checkpoint stays below the gap until its point is stored"
    assert chunk.size == 10, "the gap's point is not a trade"
    write_trades(settings, [before])
    write_lines(settings, chunk.body())
    with Prices(settings) as prices:
        periods = prices.audit([], first.time_ms * model.NS_PER_MS - 60 * 10**9, time.time_ns())
    # one period, or two when the last two minutes crossed midnight UTC: the day is the audit's period
    gaps, missing = [g for p in periods for g in p.exchange_gaps], [m for p in periods for m in p.missing]
    assert (gaps, missing, all(p.complete for p in periods)) == ([(4_991, 4_999)], [], True)


def test_the_hourly_audit_writes_completeness_points_and_sets_the_gauges(settings: InfluxSettings) -> None:
    hour_ms = (time.time_ns() // model.NS_PER_MS) // HOUR_MS * HOUR_MS - 3 * HOUR_MS
    trades = [
        model.Trade(s, 100 + i, "1.5", "1", hour_ms - 30_000 + i * 20_000, False)
        for s in ("AUSDT", "BUSDT")
        for i in range(400)
    ]
    hole = [t for t in trades if t.symbol == "AUSDT" and t.trade_id in (150, 151, 152)]
    write_trades(settings, trades)
    delete_trades(settings, hole)
    stats = Stats({})
    written: list[str] = []
    audit = HourlyAudit(settings, lambda: ["AUSDT", "BUSDT"], stats, written.append, pause=lambda _s: None)
    audit.audit_hour(hour_ms * model.NS_PER_MS)
    write_lines(settings, "\n".join(written))
    assert {line.split(" ")[0]: line.split(" ")[1] for line in "\n".join(written).splitlines()} == {
        "completeness,exchange=binance,symbol=AUSDT": "stored=177i,expected=180i,missing=3i,exchange_gap=0i",
        "completeness,exchange=binance,symbol=BUSDT": "stored=180i,expected=180i,missing=0i,exchange_gap=0i",
    }
    metrics = {family.name: family.samples[0].value for family in StatsCollector(stats).collect() if family.samples}
    assert metrics["pricecap_audit_last_hour_seconds"] == hour_ms // 1000
    assert metrics["pricecap_audit_missing_ids"] == 3
    assert metrics["pricecap_audit_exchange_gap_ids"] == 0
    with Prices(settings) as prices:
        assert last_audited_hour(prices.runner) == (hour_ms * model.NS_PER_MS, 2, 3, 0)
    assert audit_summary(settings).endswith("2 symbols: 3 trade ids missing, 0 exchange gap ids")


def test_the_hourly_audit_counts_a_hole_only_when_the_second_look_still_finds_it(settings: InfluxSettings) -> None:
    hour_ms = (time.time_ns() // model.NS_PER_MS) // HOUR_MS * HOUR_MS - 3 * HOUR_MS
    trades = [model.Trade("CUSDT", 100 + i, "1.5", "1", hour_ms - 30_000 + i * 20_000, False) for i in range(400)]
    hole = [t for t in trades if t.trade_id in (150, 151, 152)]
    write_trades(settings, trades)
    delete_trades(settings, hole)
    looked_again: list[float] = []

    def refill(seconds: float) -> None:  # between the two looks the ids come back, as a passing misread would
        looked_again.append(seconds)
        write_trades(settings, hole)

    written: list[str] = []
    stats = Stats({})
    HourlyAudit(settings, lambda: ["CUSDT"], stats, written.append, confirm_s=7.0, pause=refill).audit_hour(
        hour_ms * model.NS_PER_MS
    )
    assert looked_again == [7.0]
    assert [line.split(" ")[1] for line in written] == ["stored=180i,expected=180i,missing=0i,exchange_gap=0i"]
    assert stats.audit_missing_ids == 0


def archive_of(folder: Path, name: str, rows: list[str], checksum: bool = True) -> Path:
    """A trade archive ``name`` (zip of one CSV) with its .CHECKSUM file."""
    path = folder / name
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr(name.replace(".zip", ".csv"), "".join(f"{row}\n" for row in rows))
    if checksum:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        (folder / f"{name}.CHECKSUM").write_text(f"{digest}  {name}\n")
    return path


DAY_MS = 1_793_577_600_000  # 2026-11-02
ARCHIVE = "BTCUSDT-trades-2026-11-02.zip"


def day_trades() -> list[model.Trade]:
    return [
        model.Trade("BTCUSDT", 700 + i, f"{100 + i % 7}.5", "0.25", DAY_MS + i * 40_000, i % 3 == 0)
        for i in range(2_000)
    ]


def csv_row(trade: model.Trade) -> str:
    quote = float(trade.price) * float(trade.qty)
    return f"{trade.trade_id},{trade.price},{trade.qty},{quote},{trade.time_ms * 1000},{trade.buyer_maker},True"


def test_against_an_archive_names_missing_extra_and_differing_ids_and_repairs_the_missing(
    settings: InfluxSettings, tmp_path: Path
) -> None:
    trades = day_trades()
    differs = trades[1_000]
    archived = [
        model.Trade(t.symbol, t.trade_id, "999.5", t.qty, t.time_ms, t.buyer_maker) if t is differs else t
        for t in trades
        if t.trade_id != 2_000  # an id stored, not in the archive
    ]
    path = archive_of(
        tmp_path, ARCHIVE, ["id,price,qty,quote_qty,time,is_buyer_maker,is_best_match"] + [csv_row(t) for t in archived]
    )
    write_trades(settings, [t for t in trades if t.trade_id not in (701, 1_500, 1_501)])
    args = ["audit", "--against-archive", str(path)]
    found = pricecap(*args, "--json", env=env_of(settings))
    assert found.returncode == ExitCode.INCOMPLETE, found.stderr
    (row,) = json.loads(found.stdout)
    assert (row["missing_ids"], row["extra_ids"], row["differ_ids"]) == ("701 1500-1501", "2000", str(differs.trade_id))
    assert (row["archive_trades"], row["stored"], row["written"]) == (1_999, 1_997, 0)
    fixed = pricecap(*args, "--repair", "--json", env=env_of(settings))
    assert fixed.returncode == ExitCode.INCOMPLETE, "an extra id and a different price cannot be written away"
    assert json.loads(fixed.stdout)[0]["written"] == 3
    after = json.loads(pricecap(*args, "--json", env=env_of(settings)).stdout)[0]
    assert (after["missing"], after["extra_ids"], after["differ_ids"]) == (0, "2000", str(differs.trade_id))
    assert stored_ids(settings, "BTCUSDT") == [t.trade_id for t in trades]


def test_bad_archives_are_one_line(settings: InfluxSettings, tmp_path: Path) -> None:
    trades = day_trades()
    write_trades(settings, trades)
    good = archive_of(tmp_path, ARCHIVE, [csv_row(t) for t in trades])
    env = env_of(settings)
    one_line_error(
        pricecap("audit", "ETHUSDT", "--against-archive", str(good), env=env), ExitCode.USAGE, "not of ETHUSDT"
    )
    outside = ["--from", iso(DAY_MS + 86_400_000), "--to", iso(DAY_MS + 2 * 86_400_000)]
    one_line_error(pricecap("audit", "--against-archive", str(good), *outside, env=env), ExitCode.USAGE, "another day")
    (tmp_path / "x").mkdir()
    renamed = archive_of(tmp_path / "x", "BTCUSDT-trades-2026-11-03.zip", [csv_row(t) for t in trades], checksum=False)
    one_line_error(pricecap("audit", "--against-archive", str(renamed), env=env), ExitCode.USAGE, "outside the period")
    truncated = tmp_path / "t" / ARCHIVE
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[:500])
    one_line_error(pricecap("audit", "--against-archive", str(truncated), env=env), ExitCode.USAGE, "not a zip archive")
    (tmp_path / f"{ARCHIVE}.CHECKSUM").write_text("0" * 64 + f"  {ARCHIVE}\n")
    one_line_error(pricecap("audit", "--against-archive", str(good), env=env), ExitCode.USAGE, "SHA-256 does not match")


async def test_a_running_collector_audits_the_last_closed_hour_and_shows_it_in_metrics(
    settings: InfluxSettings,
) -> None:
    hour_ns = last_closed_hour(time.time_ns())
    hour_ms = hour_ns // model.NS_PER_MS
    trades = [model.Trade("AUSDT", 100 + i, "1.5", "1", hour_ms - 30_000 + i * 20_000, False) for i in range(190)]
    write_trades(settings, [t for t in trades if t.trade_id not in (150, 151)])
    port = free_port()
    async with FakeBinance(["AUSDT"], first_id=10_000) as fake:
        config = CollectorConfig(symbols=("AUSDT",), ws_url=fake.ws_url, rest_url=fake.rest_url, metrics_port=port)
        collector = Collector(config, settings)
        stop = asyncio.Event()
        running = asyncio.create_task(collector.run(stop))
        for _ in range(600):
            if collector.stats.audit_last_hour_s:
                break
            await asyncio.sleep(0.1)
        metrics = await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/metrics")
        stop.set()
        await asyncio.wait_for(running, 60)
    gauges = dict(line.split(" ") for line in metrics.splitlines() if line.startswith("pricecap_audit_"))
    assert {name: float(value) for name, value in gauges.items()} == {
        "pricecap_audit_last_hour_seconds": hour_ns // 10**9,
        "pricecap_audit_missing_ids": 2,
        "pricecap_audit_exchange_gap_ids": 0,
    }
    with Prices(settings) as prices:
        assert last_audited_hour(prices.runner) == (hour_ns, 1, 2, 0), "the point went through the writer"
