"""The provisioned Grafana dashboards: generated from queries/, valid dashboard JSON, and every panel's Flux,
with Grafana's variables substituted as Grafana substitutes them, answering right on the real influxd.

No Grafana runs here (see the README, Grafana): the substitution below does what Grafana does. Template
variables are replaced in the browser (``${symbol:json}`` becomes ``"BTCUSDT"``, one value per repeated row),
then Grafana's server replaces ``v.timeRangeStart`` and ``v.timeRangeStop`` with RFC 3339 times and
``v.windowPeriod`` with the interval as Go prints a duration (``1m0s``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from influxdb_client.client.write_api import SYNCHRONOUS

from grafana import build
from grafana.dashboards import DASHBOARDS
from grafana.flux import GRAFANA_PARAMS, panel_flux, source_of
from pricecap import flux, model
from pricecap.influx import connect
from pricecap.settings import InfluxSettings
from queries.runner import Runner
from tests.helpers import bucket_with

Row = dict[str, Any]
MS = model.NS_PER_MS
START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
T0 = int(START.timestamp() * 1000)
"""The selected range is [T0, T0 + 3 minutes); the interval (v.windowPeriod) is one minute."""
STOP_NS = (T0 + 180_000) * MS
INTERVAL = timedelta(minutes=1)
INSTANCE = "collector-1"
VARIABLES = {"exchange": model.EXCHANGE_BINANCE, "symbol": "BTCUSDT"}
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


@pytest.fixture(scope="module")
def market(server_settings: InfluxSettings) -> Iterator[InfluxSettings]:
    """A bucket with the known trades and health points."""
    with bucket_with(server_settings, "grafana-panels", trades()) as settings, connect(settings) as client:
        client.write_api(write_options=SYNCHRONOUS).write(settings.bucket, settings.org, "\n".join(health_lines()))
        yield settings


def go_duration(duration: timedelta) -> str:
    """A whole number of seconds as Go's time.Duration prints it (Grafana's v.windowPeriod): 1m0s, 1h0m0s, 10s."""
    seconds = int(duration.total_seconds())
    assert duration == timedelta(seconds=seconds) and seconds > 0, "only whole seconds are needed here"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def as_grafana_sends(query: str, variables: dict[str, str]) -> str:
    """The panel's Flux after Grafana's substitutions, for the range [T0, STOP) and a one-minute interval."""
    text = re.sub(r"\$\{(\w+):json\}", lambda m: json.dumps(variables[m.group(1)]), query)
    assert "$" not in text, text
    macros = {
        "v.timeRangeStart": flux.Time(T0 * MS).rfc3339(),
        "v.timeRangeStop": flux.Time(STOP_NS).rfc3339(),
        "v.windowPeriod": go_duration(INTERVAL),
    }
    for macro, value in macros.items():
        text = text.replace(macro, value)
    return text


def run(settings: InfluxSettings, query: str) -> list[Row]:
    """Every row the query answers, without the result and table columns."""
    variables = {**VARIABLES, "bucket": settings.bucket}
    with connect(settings) as client:
        records = client.query_api().query_stream(as_grafana_sends(query, variables), org=settings.org)
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
def candle_windows() -> list[Row]:
    """The reference candles: BTCUSDT per minute of the range."""
    windows: dict[int, list[model.Trade]] = {}
    for t in sorted((t for t in trades() if t.symbol == "BTCUSDT"), key=lambda t: (t.time_ms, t.trade_id)):
        windows.setdefault((t.time_ms - T0) // 60_000, []).append(t)
    return [
        {
            "_time": START + timedelta(minutes=m),
            "open": float(ws[0].price),
            "high": max(float(t.price) for t in ws),
            "low": min(float(t.price) for t in ws),
            "close": float(ws[-1].price),
            "volume": pytest.approx(sum(float(t.qty) for t in ws)),
            "trades": len(ws),
            "trades_per_s": pytest.approx(len(ws) / 60),
        }
        for m, ws in sorted(windows.items())
    ]


def btc_trades() -> list[model.Trade]:
    return [t for t in trades() if t.symbol == "BTCUSDT"]


def expect_candles(rows: list[Row]) -> None:
    assert rows == candle_windows()


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
    assert row["instance"] == INSTANCE and row["_time"] == START + timedelta(seconds=170)
    assert (row["written"], row["healthy"], row["spool_bytes"]) == (1700.0, 1.0, 17_000.0)


EXPECTED: dict[str, Callable[[list[Row]], None]] = {
    "Last price": expect_last_price,
    "High and low": expect_high_low,
    "Candles": expect_candles,
    "Price": expect_candles,
    "Volume": expect_candles,
    "Trades per second": expect_candles,
    "Collectors": expect_collectors,
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
        "start": flux.Time(T0 * MS),
        "stop": flux.Time(STOP_NS),
        "every": INTERVAL,
    }
    runner = Runner(market)
    try:
        records = runner.run("candle_series", values)
    finally:
        runner.close()
    assert [{k: v for k, v in r.values.items() if k not in ("result", "table")} for r in records] == candle_windows()
