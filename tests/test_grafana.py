"""The provisioned Grafana dashboards: generated from queries/, valid dashboard JSON, and every panel's Flux,
with Grafana's variables substituted as Grafana substitutes them, answering right on the real influxd.

No Grafana runs here (see docs/guides/grafana.md): grafana.flux.as_sent does what Grafana does. Template
variables are replaced in the browser (``${symbol:json}`` becomes ``"BTCUSDT"``, one value per repeated row),
then Grafana's server replaces ``v.timeRangeStart`` and ``v.timeRangeStop`` with RFC 3339 times and
``v.windowPeriod`` with the interval as Go prints a duration (``1m0s``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from influxdb_client.client.write_api import SYNCHRONOUS

from bench import grafana as bench_grafana
from grafana import build
from grafana.dashboards import DASHBOARDS
from grafana.flux import GRAFANA_PARAMS, as_sent, go_duration, panel_flux, source_of
from pricecap import flux, model
from pricecap.influx import connect
from pricecap.settings import InfluxSettings
from queries import rollup
from queries.runner import Runner
from tests.helpers import bucket_with

pytestmark = pytest.mark.compat  # the panels' Flux: on the oldest supported InfluxDB too (scripts/test)

Row = dict[str, Any]
MS = model.NS_PER_MS
START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
T0 = int(START.timestamp() * 1000)
"""The selected range is [T0, T0 + 3 minutes); the interval (v.windowPeriod) is one minute."""
STOP_NS = (T0 + 180_000) * MS
EPOCH = datetime.fromtimestamp(0, UTC)
INTERVAL = timedelta(minutes=1)
INSTANCE = "collector-1"
VARIABLES = {"exchange": model.EXCHANGE_BINANCE, "symbol": "BTCUSDT", "health_interval": "10s"}
PANEL_KINDS = {"row", "timeseries", "candlestick", "stat", "table"}
PROVISIONING = build.PROVISIONING
GRAFANA_SERVER_MACRO = re.compile(r"\b[a-zA-Z]+\.(?:bucket|defaultBucket|organization)\b").search
"""Besides v.timeRange*, Grafana's server replaces any word.bucket (and these) in a query: none may appear."""


def trades() -> list[model.Trade]:
    """BTCUSDT: a trade every 1.5 s with a repeating price pattern, and a burst of 4 in one millisecond in each
    minute; ETHUSDT: a few trades at other prices, which no BTCUSDT panel may see."""
    btc = [
        model.Trade("BTCUSDT", 1_000 + i, f"{97_000 + (i * 37) % 101}.5", f"0.{1 + i % 9}", T0 + i * 1_500, i % 2 == 0)
        for i in range(120)
    ]
    burst = [
        model.Trade("BTCUSDT", 5_000 + 10 * m + k, f"{96_000 + m}.25", "1", T0 + m * 60_000 + 30_001, False)
        for m in range(3)
        for k in range(4)
    ]
    eth = [model.Trade("ETHUSDT", 9 + i, f"{3_600 + i}", "2", T0 + i * 20_000, True) for i in range(9)]
    return btc + burst + eth


def health_lines() -> list[str]:
    """A health point every 10 s whose counters grow at known rates."""
    return [
        model.encode_health(
            INSTANCE,
            {
                "written": 100 * k,
                "reconnects": k,
                "gaps": 2 * k,
                "ids_repaired": 3 * k,
                "malformed": 4 * k,
                "pending": 5 * k,
                "spool_bytes": 1_000 * k,
                "healthy": 1,
                "last_write_lag_s": k / 10,
                "ids_missing": 6 * k,
                "ids_unrepairable": k,
                "oldest_gap_age_s": float(k),
                "max_silence_s": k / 2,
                "task_restarts": 2 * k,
            },
            (T0 + k * 10_000) * MS,
        )
        for k in range(18)
    ]


def completeness_lines() -> list[str]:
    """The hourly audit's points of the hour of T0: 3 BTCUSDT ids missing, ETHUSDT complete."""
    counts = {"BTCUSDT": (120, 3, 1), "ETHUSDT": (9, 0, 0)}
    return [
        model.encode_completeness(
            model.EXCHANGE_BINANCE,
            symbol,
            T0 * MS,
            {"stored": stored, "expected": stored + missing + gap, "missing": missing, "exchange_gap": gap},
        )
        for symbol, (stored, missing, gap) in counts.items()
    ]


@pytest.fixture(scope="module")
def market(server_settings: InfluxSettings) -> Iterator[InfluxSettings]:
    """A bucket with the known trades and health points."""
    with bucket_with(server_settings, "grafana-panels", trades()) as settings, connect(settings) as client:
        lines = [*health_lines(), *completeness_lines()]
        client.write_api(write_options=SYNCHRONOUS).write(settings.bucket, settings.org, "\n".join(lines))
        yield settings


class Selection(NamedTuple):
    """What Grafana puts in a panel's query: the selected range [start_ns, stop_ns) and its interval."""

    start_ns: int = T0 * MS
    stop_ns: int = STOP_NS
    interval: timedelta = INTERVAL


def run(settings: InfluxSettings, query: str, selection: Selection | None = None) -> list[Row]:
    """Every row the query answers, without the result and table columns."""
    variables = {**VARIABLES, "bucket": settings.bucket}
    with connect(settings) as client:
        records = client.query_api().query_stream(
            as_sent(query, variables, *(selection or Selection())), org=settings.org
        )
        return [{k: v for k, v in r.values.items() if k not in ("result", "table")} for r in records]


def dashboard_files() -> dict[str, dict[str, Any]]:
    """The committed dashboards, by file name."""
    return {p.name: json.loads(p.read_text("utf-8")) for p in sorted(build.DASHBOARDS_DIR.glob("*.json"))}


def panels_of(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel of a dashboard, rows and the panels inside collapsed rows included."""
    return [p for top in dashboard["panels"] for p in [top, *top.get("panels", [])]]


def query_panels() -> dict[str, dict[str, Any]]:
    """Every panel that queries, by title (titles are unique across the dashboards)."""
    found = [p for make in DASHBOARDS.values() for p in panels_of(make()) if p["type"] != "row"]
    titles = [p["title"] for p in found]
    assert len(set(titles)) == len(titles), titles
    return {p["title"]: p for p in found}


def provisioned_uids() -> set[str]:
    """The uids of the data sources the provisioning defines."""
    config = yaml.safe_load((PROVISIONING / "datasources" / "influxdb.yaml").read_text("utf-8"))
    return {source["uid"] for source in config["datasources"]}


def test_committed_dashboards_are_the_generated_ones() -> None:
    assert build.stale() == [], "run: python -m grafana.build"
    assert set(dashboard_files()) == {f"{name}.json" for name in DASHBOARDS}


def test_build_check_reports_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "DASHBOARDS_DIR", tmp_path)
    monkeypatch.setattr(build, "ALERTING_FILE", tmp_path / "alerting" / "pricecap.yaml")
    assert build.main(["--check"]) == 1
    assert build.main([]) == 0
    assert build.main(["--check"]) == 0
    (tmp_path / "market.json").write_text("{}", "utf-8")
    assert build.main(["--check"]) == 1


@pytest.mark.parametrize("name", [f"{name}.json" for name in DASHBOARDS])
def test_dashboard_is_valid_grafana_json(name: str) -> None:
    dashboard = dashboard_files()[name]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"]) and dashboard["title"]
    panels = panels_of(dashboard)
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(ids)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    uids = provisioned_uids()
    for panel in panels:
        assert panel["type"] in PANEL_KINDS
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] == "row":
            assert panel.get("repeat", "symbol") in variables
            continue
        assert panel["datasource"]["uid"] in uids
        assert panel["targets"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids
            assert "params." not in target["query"]
            assert not GRAFANA_SERVER_MACRO(target["query"]), "Grafana's server would replace it"
            source_of(target["query"])
            assert set(re.findall(r"\$\{(\w+)", target["query"])) <= set(variables)
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] in uids


def test_provisioning_yaml() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "influxdb.yaml").read_text("utf-8"))
    assert datasources["apiVersion"] == 1
    (source,) = datasources["datasources"]
    assert source["type"] == "influxdb" and source["jsonData"]["version"] == "Flux"
    assert source["url"] == "${INFLUXDB_V2_URL}"
    assert source["jsonData"]["organization"] == "${INFLUXDB_V2_ORG}"
    assert source["secureJsonData"] == {"token": "${INFLUXDB_V2_TOKEN}"}, "the token comes from the environment"
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "pricecap.yaml").read_text("utf-8"))
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards"


def test_panel_flux_is_the_query_file_with_grafana_variables() -> None:
    text = panel_flux("high_low")
    assert text.startswith("// queries/high_low.flux\n") and source_of(text) == "high_low"
    assert "params." not in text and "To run it in the InfluxDB UI" not in text
    for expression in GRAFANA_PARAMS.values():
        if expression != "v.windowPeriod":
            assert expression in text
    with pytest.raises(KeyError, match=r"params\.field"):
        panel_flux("health")


# What each panel's query answers on the known data, by panel title.
def at_ns(ns: int) -> datetime:
    """An instant in ns as the client reads a time (to the microsecond)."""
    return EPOCH + timedelta(microseconds=ns // 1_000)


def reference_candles(trades: list[model.Trade], selection: Selection) -> list[Row]:
    """Candles as candle_series.flux answers them, from the trades: per window of the interval aligned to the
    epoch and clipped to the range, in the _time order of the points (without the source column)."""
    every_ns = selection.interval // timedelta(microseconds=1) * 1_000
    windows: dict[int, list[model.Trade]] = {}
    for t in sorted(trades, key=point_ns):
        if selection.start_ns <= point_ns(t) < selection.stop_ns:
            windows.setdefault(point_ns(t) - point_ns(t) % every_ns, []).append(t)
    rows = []
    for key, ws in sorted(windows.items()):
        first, last = max(key, selection.start_ns), min(key + every_ns, selection.stop_ns)
        rows.append(
            {
                "_time": at_ns(first),
                "open": float(ws[0].price),
                "high": max(float(t.price) for t in ws),
                "low": min(float(t.price) for t in ws),
                "close": float(ws[-1].price),
                "volume": pytest.approx(sum(float(t.qty) for t in ws), rel=1e-12),
                "trades": len(ws),
                "trades_per_s": pytest.approx(len(ws) / ((last - first) / 1e9), rel=1e-12),
            }
        )
    return rows


def point_ns(trade: model.Trade) -> int:
    """The time of the trade's point."""
    return model.timestamp_ns(trade.time_ms, trade.trade_id)


def without_source(rows: list[Row]) -> list[Row]:
    return [{k: v for k, v in r.items() if k != "source"} for r in rows]


def btc_trades() -> list[model.Trade]:
    return [t for t in trades() if t.symbol == "BTCUSDT"]


def expect_candles(rows: list[Row]) -> None:
    assert without_source(rows) == reference_candles(btc_trades(), Selection())
    assert {r["source"] for r in rows} == {"trades"}, "no candles bucket here: raw trades"


def expect_last_price(rows: list[Row]) -> None:
    last = max(btc_trades(), key=lambda t: (t.time_ms, t.trade_id))
    (row,) = rows
    assert (row["price"], row["trade_id"], row["side"]) == (float(last.price), last.trade_id, "before")


def expect_high_low(rows: list[Row]) -> None:
    btc = sorted(btc_trades(), key=lambda t: model.timestamp_ns(t.time_ms, t.trade_id))
    high = max(btc, key=lambda t: float(t.price))
    low = min(btc, key=lambda t: float(t.price))
    assert [(r["name"], r["price"], to_ms(r["time"])) for r in rows] == [
        ("high", float(high.price), high.time_ms),
        ("low", float(low.price), low.time_ms),
    ]


def to_ms(time: datetime) -> int:
    """A point's time as the trade's time in milliseconds (the point keeps the trade id in its sub-ms digits)."""
    return (time - datetime.fromtimestamp(0, UTC)) // timedelta(milliseconds=1)


def per_window(values: list[float]) -> Callable[[list[Row]], None]:
    """Rows of one series of the collector instance: one value per minute, at each window's end."""

    def check(rows: list[Row]) -> None:
        assert [r["instance"] for r in rows] == [INSTANCE] * len(values)
        assert [r["_time"] for r in rows] == [START + timedelta(minutes=m + 1) for m in range(len(values))]
        assert [r["_value"] for r in rows] == pytest.approx(values)

    return check


def expect_collectors(rows: list[Row]) -> None:
    (row,) = rows
    assert row["instance"] == INSTANCE and row["last_seen"] == START + timedelta(seconds=170)
    assert (row["shard"], row["state"], row["age_s"]) == ("0/1", "up", 10.0), "no shard tag: the one shard"
    assert (row["written"], row["healthy"], row["spool_bytes"]) == (1700.0, 1.0, 17_000.0)


def expect_shards(rows: list[Row]) -> None:
    assert rows == [{"shard": "0/1", "copies": 1, "up": 1, "instances": INSTANCE, "state": "ok"}]


def expect_completeness(rows: list[Row]) -> None:
    assert rows == [{"symbol": "BTCUSDT", "2026-11-25": 3}, {"symbol": "ETHUSDT", "2026-11-25": 0}]


EXPECTED: dict[str, Callable[[list[Row]], None]] = {
    "Last price": expect_last_price,
    "High and low": expect_high_low,
    "Candles": expect_candles,
    "Price": expect_candles,
    "Volume": expect_candles,
    "Trades per second": expect_candles,
    "Collectors": expect_collectors,
    "Shards": expect_shards,
    "Trades written per second": per_window([10.0] * 3),
    "Write lag": per_window([0.5, 1.1, 1.7]),
    "Reconnects per minute": per_window([6.0] * 3),
    "Gaps per minute": per_window([12.0] * 3),
    "Trade ids repaired per minute": per_window([18.0] * 3),
    "Spool size": per_window([5_000, 11_000, 17_000]),
    "Pending trades": per_window([25, 55, 85]),
    "Malformed messages per minute": per_window([24.0] * 3),
    "Trade ids missing, not repaired yet": per_window([30, 66, 102]),
    "Oldest unrepaired gap": per_window([5.0, 11.0, 17.0]),
    "Longest connection silence": per_window([2.5, 5.5, 8.5]),
    "Ids given up on per minute": per_window([6.0] * 3),
    "Background task restarts per minute": per_window([12.0] * 3),
    "Completeness: trade ids missing per day": expect_completeness,
}


def test_every_panel_has_an_expectation() -> None:
    assert set(query_panels()) == set(EXPECTED)


@pytest.mark.integration
@pytest.mark.parametrize("title", sorted(EXPECTED))
def test_panel_query_on_the_real_influxd(market: InfluxSettings, title: str) -> None:
    panel = query_panels()[title]
    (target,) = panel["targets"]
    rows = run(market, target["query"])
    EXPECTED[title](rows)
    for transformation in panel.get("transformations", []):
        assert transformation["id"] == "filterFieldsByName"
        assert set(transformation["options"]["include"]["names"]) <= set(rows[0]), "the panel shows what exists"


@pytest.mark.integration
def test_symbol_variable_lists_the_stored_symbols(market: InfluxSettings) -> None:
    (symbol,) = [v for v in DASHBOARDS["market"]()["templating"]["list"] if v["name"] == "symbol"]
    assert [r["_value"] for r in run(market, symbol["query"])] == ["BTCUSDT", "ETHUSDT"]


@pytest.mark.integration
def test_pricecap_runs_the_same_file_with_params(market: InfluxSettings) -> None:
    """One source of truth: the candle_series.flux behind four panels answers the same through pricecap."""
    values: dict[str, flux.FluxValue] = {
        "symbol": "BTCUSDT",
        "candleBucket": rollup.candle_bucket(market),
        "start": flux.Time(T0 * MS),
        "stop": flux.Time(STOP_NS),
        "every": INTERVAL,
    }
    runner = Runner(market)
    try:
        records = runner.run("candle_series", values)
    finally:
        runner.close()
    expect_candles([{k: v for k, v in r.values.items() if k not in ("result", "table")} for r in records])


# The candle panels over the roll-ups of pricecap setup: complete, missing a repaired trade, with holes.
HOUR = timedelta(hours=1)
ROLLED_UP = (T0 * MS, (T0 + 4 * 3_600_000) * MS)
"""The roll-ups are made for these 4 hours; trades go on for half an hour more (not rolled up yet)."""
HOLE = ((T0 + 80 * 60_000) * MS, (T0 + 85 * 60_000) * MS)
"""The 1-minute candles of these 5 minutes are deleted (their 1-hour candle stays whole)."""
REPAIRED_MINUTES = (20, 110)
"""The first trade of each of these minutes is written after the roll-ups ran, as a repair would be."""


def long_trades() -> list[model.Trade]:
    """BTCUSDT for 4.5 hours from T0: a trade every 2.3 s, a burst of 5 in one millisecond every 97th, prices and
    quantities in repeating patterns; plus ETHUSDT, which no BTCUSDT candle may count."""
    result = []
    trade_id = 10_000
    for i in range(4 * 3_600 * 10 // 23 + 800):
        for _ in range(5 if i % 97 == 0 else 1):
            price = f"{97_000 + (trade_id * 37) % 211}.{trade_id % 100:02d}"
            result.append(
                model.Trade("BTCUSDT", trade_id, price, f"0.{1 + trade_id % 997:03d}", T0 + i * 2_300, i % 3 == 0)
            )
            trade_id += 1
    return result + [model.Trade("ETHUSDT", 7 + i, "3600.5", "2", T0 + i * 60_000 + 1, False) for i in range(200)]


def repaired(trades: list[model.Trade]) -> list[model.Trade]:
    """The trades held back until after the roll-ups ran."""
    firsts = [
        min((t for t in trades if t.symbol == "BTCUSDT" and (t.time_ms - T0) // 60_000 == m), key=point_ns)
        for m in REPAIRED_MINUTES
    ]
    return firsts


@pytest.fixture(scope="module")
def rolled_up(server_settings: InfluxSettings) -> Iterator[InfluxSettings]:
    """The long trades with the roll-ups of 4 hours of them, a hole in the 1-minute candles, and two trades
    written after the roll-ups ran."""
    everything = long_trades()
    late = repaired(everything)
    early = [t for t in everything if t not in late]
    name = f"grafana-rollups-{uuid.uuid4().hex[:8]}"
    with bucket_with(server_settings, name, early) as settings, connect(settings) as client:
        candles = client.buckets_api().create_bucket(bucket_name=rollup.candle_bucket(settings), org=settings.org)
        try:
            rollup.rebuild(settings, *ROLLED_UP)
            hole = '_measurement="candles" AND interval="1m"'
            client.delete_api().delete(at_ns(HOLE[0]), at_ns(HOLE[1] - 1), hole, candles.name, settings.org)
            lines = "\n".join(model.encode_trade(t) for t in late)
            client.write_api(write_options=SYNCHRONOUS).write(settings.bucket, settings.org, lines)
            yield settings
        finally:
            client.buckets_api().delete_bucket(candles)


def from_candles(selection: Selection, key: int, window: list[model.Trade]) -> bool:
    """Whether candle_series.flux may read the window that starts at ``key`` from the candles: whole minutes
    (whole hours: 1-hour candles), every trade of it in a candle inside the range, and no candle missing one."""
    every_ns = selection.interval // timedelta(microseconds=1) * 1_000
    if every_ns % (60 * 10**9):
        return False
    grain = 3_600 * 10**9 if every_ns % (3_600 * 10**9) == 0 else 60 * 10**9
    first, last = max(key, selection.start_ns), min(key + every_ns, selection.stop_ns)
    late = {t.trade_id for t in repaired(long_trades())}

    def in_a_whole_candle(ns: int) -> bool:
        candle = ns - ns % grain
        in_hole = grain < 3_600 * 10**9 and HOLE[0] <= candle < HOLE[1]
        return first <= candle and candle + grain <= last and ROLLED_UP[0] <= candle < ROLLED_UP[1] and not in_hole

    return all(in_a_whole_candle(point_ns(t)) and t.trade_id not in late for t in window)


SELECTIONS = [
    Selection((T0 + 17_500) * MS, (T0 + 200 * 60_000 + 5_000) * MS, timedelta(minutes=1)),
    Selection((T0 + 17_500) * MS, (T0 + 200 * 60_000 + 5_000) * MS, timedelta(minutes=5)),
    Selection(T0 * MS, (T0 + 3 * 3_600_000) * MS, timedelta(minutes=1)),
    Selection(HOLE[0], HOLE[1], timedelta(minutes=1)),
    Selection((T0 - 600_000) * MS, (T0 + 270 * 60_000) * MS, HOUR),
    Selection((T0 - 600_000) * MS, (T0 + 5 * 3_600_000) * MS, 2 * HOUR),
    Selection((T0 + 17_500) * MS, (T0 + 200 * 60_000 + 5_000) * MS, timedelta(seconds=30)),
    Selection((T0 + 17_500) * MS, (T0 + 200 * 60_000 + 5_000) * MS, timedelta(seconds=90)),
]


@pytest.mark.integration
@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: f"{go_duration(s.interval)}-{s.start_ns}")
def test_candle_panels_over_the_rollups_equal_raw_trades(rolled_up: InfluxSettings, selection: Selection) -> None:
    (target,) = query_panels()["Candles"]["targets"]
    rows = run(rolled_up, target["query"], selection)
    btc = [t for t in long_trades() if t.symbol == "BTCUSDT"]
    assert without_source(rows) == reference_candles(btc, selection)
    every_ns = selection.interval // timedelta(microseconds=1) * 1_000
    sources: dict[int, list[model.Trade]] = {}
    for t in btc:
        if selection.start_ns <= point_ns(t) < selection.stop_ns:
            sources.setdefault(point_ns(t) - point_ns(t) % every_ns, []).append(t)
    expected = ["candles" if from_candles(selection, key, ws) else "trades" for key, ws in sorted(sources.items())]
    assert [r["source"] for r in rows] == expected
    if selection.interval % timedelta(minutes=1) == timedelta(0) and selection.start_ns != HOLE[0]:
        assert {"candles", "trades"} <= set(expected), "both kinds of window are tested"


@pytest.mark.integration
def test_the_grafana_benchmark_times_both_ways_and_they_agree(rolled_up: InfluxSettings) -> None:
    """bench.grafana on the roll-ups above (one day ending after the last trade): its raw way reads no candle."""
    results = bench_grafana.measure(rolled_up, "BTCUSDT", T0 + 5 * 3_600_000, days=1, runs=1)
    assert [(r["interval"], r["read from"]) for r in results] == [
        (go_duration(i), way) for i in (*bench_grafana.INTERVALS, bench_grafana.BELOW_A_MINUTE) for way in WAYS
    ]
    for r in results:
        assert r["windows"] and r["same candles"] in (True, "-")
        assert r["sources"] == (
            "candles, trades" if r["read from"] == "roll-ups" and r["interval"] != "30s" else "trades"
        )


WAYS = ("roll-ups", "raw trades")


# The state of each shard: two shards of two copies each.
def copy_lines(shard: str, instance: str, age_s: int, healthy: int) -> list[str]:
    """Health points of one copy every 10 s for 5 minutes, the last one ``age_s`` before STOP."""
    return [
        f"collector_health,instance={instance},shard={shard} healthy={healthy}i,written={1_000 - k}i,pending=0i "
        f"{STOP_NS - (age_s + 10 * k) * 10**9}"
        for k in range(30)
    ]


@pytest.mark.integration
@pytest.mark.parametrize(("age_s", "healthy"), [(31, 1), (5, 0)], ids=["stale", "unhealthy"])
def test_shards_panel_marks_the_shard_whose_every_copy_is_down(
    server_settings: InfluxSettings, age_s: int, healthy: int
) -> None:
    """Shard 0/2 has one copy up and one silent for 2 minutes; shard 1/2 has a copy silent for 31 s (more than 3
    intervals of 10 s) or unhealthy, and one silent for an hour; an instance of before shards is up."""
    lines = [
        *copy_lines("0/2", "a", 3, 1),
        *copy_lines("0/2", "b", 120, 1),
        *copy_lines("1/2", "c", age_s, healthy),
        *copy_lines("1/2", "d", 3_600, 1),
        *[line.replace(",shard=0/2", "") for line in copy_lines("0/2", "old", 30, 1)],
    ]
    with bucket_with(server_settings, f"grafana-shards-{uuid.uuid4().hex[:8]}", []) as settings:
        with connect(settings) as client:
            client.write_api(write_options=SYNCHRONOUS).write(settings.bucket, settings.org, "\n".join(lines))
        (shards,) = query_panels()["Shards"]["targets"]
        (collectors,) = query_panels()["Collectors"]["targets"]
        assert run(settings, shards["query"]) == [
            {"shard": "0/1", "copies": 1, "up": 1, "instances": "old", "state": "ok"},
            {"shard": "0/2", "copies": 2, "up": 1, "instances": "a, b", "state": "degraded"},
            {"shard": "1/2", "copies": 2, "up": 0, "instances": "c, d", "state": "down"},
        ]
        rows = run(settings, collectors["query"])
    assert [(r["instance"], r["shard"], r["state"], r["age_s"]) for r in rows] == [
        ("old", "0/1", "up", 30.0),
        ("a", "0/2", "up", 3.0),
        ("b", "0/2", "stale", 120.0),
        ("c", "1/2", "stale" if healthy else "unhealthy", float(age_s)),
        ("d", "1/2", "stale", 3_600.0),
    ]
    assert {r["last_seen"] for r in rows if r["instance"] == "d"} == {at_ns(STOP_NS - 3_600 * 10**9)}
