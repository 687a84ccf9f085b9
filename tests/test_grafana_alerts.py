"""The Grafana alert rules (grafana/alerts.py, provisioned for ``docker compose up``): generated, well formed,
named and linked as the Prometheus alerts they stand for, and each rule's Flux, sent as Grafana sends it, run
on the real influxd over health points and completeness points written here, then reduced and compared as
Grafana's expressions do: exactly the series that should fire do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from influxdb_client.client.write_api import SYNCHRONOUS

from alerting import rules
from grafana import alerts, build
from grafana.flux import as_sent, source_of, string
from pricecap import model
from pricecap.influx import connect
from pricecap.settings import InfluxSettings
from tests.helpers import bucket_with

STOP = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STOP_NS = int(STOP.timestamp()) * 10**9
MINUTE_NS = 60 * 10**9
HOUR_NS = 60 * MINUTE_NS
STEP_NS = 10 * 10**9
MIB = 2**20
QUIET = {"healthy": 1, "connections_stalled": 0, "pending": 0, "lost": 0, "spool_bytes": 0, "spool_max_bytes": 2**30,
         "last_write_lag_s": 0.2, "oldest_gap_age_s": 0.0, "gap_alarm_s": 120.0, "ids_unrepairable": 0,
         "task_restarts": 0, "rest_banned": 0, "rest_rate_limited": 0}  # fmt: skip
"""The health point of a collector with nothing to report."""
EXPECTED = {
    "PricecapShardDown": {"1/3", "2/3"},
    "PricecapGapUnrepaired": {"bad"},
    "PricecapIdsUnrepairable": {"bad"},
    "PricecapStreamStalled": {"bad"},
    "PricecapWriteLagHigh": {"bad"},
    "PricecapPendingTradesHigh": {"bad"},
    "PricecapSpoolNearlyFull": {"bad"},
    "PricecapTradesLost": {"bad"},
    "PricecapTaskRestarting": {"bad"},
    "PricecapRestBanned": {"bad"},
    "PricecapRestRateLimited": {"bad"},
    "PricecapAuditMissingTrades": {"BTCUSDT"},
}
"""Per rule, the series (instance, shard or symbol) that fire on the points of :func:`health_lines`."""


def bad(k: int, steps: int) -> dict[str, int | float]:
    """Collector "bad" (shard 1/3, alone) at step ``k`` of ``steps``: everything wrong in the last minutes."""
    late = k >= steps - 12
    return {
        **QUIET,
        "healthy": 0,
        "connections_stalled": 1,
        "pending": 200_000,
        "lost": 5_000 if late else 0,
        "spool_bytes": 900 * MIB,
        "spool_max_bytes": 1024 * MIB,
        "last_write_lag_s": 20.0,
        "oldest_gap_age_s": 300.0,
        "ids_unrepairable": 5 if late else 0,
        "task_restarts": k // 3,
        "rest_banned": 1 if late else 0,
        "rest_rate_limited": 2 if late else 0,
    }


def restarted(k: int, steps: int) -> dict[str, int | float]:
    """Collector "restarted" (shard 0/3, with "ok"): restarted 5 minutes before the end, its counters from 0
    again (a task failed 5 times and 3 REST pauses before, one failure since: growth, not a spread of 5 or 3),
    a short repair, and no spool."""
    since = k - (steps - 30)
    return {
        **QUIET,
        "task_restarts": 5 if since < 0 else int(since > 10),
        "rest_rate_limited": 3 if since < 0 else 0,
        "oldest_gap_age_s": 30.0 if since == 1 else 0.0,
        "spool_max_bytes": 0,
    }


def health_lines() -> list[str]:
    """Health points every 10 s for the last 70 minutes (two healthy copies of shard 0/3 and "bad" alone in
    1/3), and "stale" (shard 2/3), healthy but silent for the last 10 minutes."""
    steps = 70 * 6
    lines = []
    for k in range(steps):
        ts = STOP_NS - (steps - k) * STEP_NS
        lines += [
            model.encode_health("ok", QUIET, ts, "0/3"),
            model.encode_health("restarted", restarted(k, steps), ts, "0/3"),
            model.encode_health("bad", bad(k, steps), ts, "1/3"),
        ]
        if ts < STOP_NS - 10 * MINUTE_NS:
            lines.append(model.encode_health("stale", QUIET, ts, "2/3"))
    return lines


def completeness_lines() -> list[str]:
    """The audit's points (measurement completeness, one per symbol and closed hour, at its start): BTCUSDT
    misses 3 ids in the last hour, ETHUSDT only has exchange gaps, XRPUSDT missed ids 5 hours ago."""
    hour = STOP_NS - HOUR_NS

    def point(symbol: str, start: int, missing: int, gaps: int) -> str:
        fields = f"stored=1000i,expected={1000 + missing + gaps}i,missing={missing}i,exchange_gap={gaps}i"
        return f"completeness,exchange=binance,symbol={symbol} {fields} {start}"

    return [
        point("BTCUSDT", hour, 3, 0),
        point("BTCUSDT", hour - HOUR_NS, 0, 0),
        point("ETHUSDT", hour, 0, 2),
        point("XRPUSDT", hour, 0, 0),
        point("XRPUSDT", hour - 5 * HOUR_NS, 4, 0),
    ]


@pytest.fixture(scope="module")
def points(server_settings: InfluxSettings) -> Iterator[InfluxSettings]:
    """A bucket with the health and completeness points."""
    with bucket_with(server_settings, "grafana-alerts", []) as settings, connect(settings) as client:
        lines = health_lines() + completeness_lines()
        client.write_api(write_options=SYNCHRONOUS).write(settings.bucket, settings.org, "\n".join(lines))
        yield settings


def last_values(settings: InfluxSettings, condition: alerts.Condition) -> dict[str, float]:
    """The rule's query as Grafana sends it over its time range, each series reduced to its last value (by the
    series' instance, shard or symbol)."""
    query = condition.flux().replace("v.defaultBucket", string(settings.bucket))
    start_ns = STOP_NS - condition.range_s * 10**9
    with connect(settings) as client:
        tables = client.query_api().query(as_sent(query, {}, start_ns, STOP_NS, timedelta(seconds=10)))
    values = {}
    for table in tables:
        (record, *_) = reversed(table.records)
        key = next(record.values[k] for k in ("instance", "shard", "symbol") if k in record.values)
        values[key] = float(record.get_value())
    return values


def provisioned() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(build.ALERTING_FILE.read_text("utf-8"))
    return loaded


def test_the_committed_rules_are_the_generated_ones() -> None:
    assert build.ALERTING_FILE not in build.stale(), "run: python -m grafana.build"


def test_every_rule_stands_for_a_prometheus_alert_with_its_severity_and_runbook() -> None:
    prometheus = {r["alert"]: r for r in rules.alerts()}
    config = provisioned()
    assert config["apiVersion"] == 1
    (group,) = config["groups"]
    assert group["folder"] == alerts.FOLDER and re.fullmatch(r"\d+[sm]", group["interval"])
    uids = [rule["uid"] for rule in group["rules"]]
    assert len(set(uids)) == len(uids) and all(re.fullmatch(r"[a-z0-9-]{1,40}", uid) for uid in uids)
    datasources = yaml.safe_load((build.PROVISIONING / "datasources" / "influxdb.yaml").read_text("utf-8"))
    for rule in group["rules"]:
        shipped = prometheus[rule["title"]]
        assert rule["labels"] == {"severity": shipped["labels"]["severity"]}
        assert rule["annotations"]["runbook_url"] == shipped["annotations"]["runbook_url"]
        query, reduce, threshold = rule["data"]
        assert query["datasourceUid"] == datasources["datasources"][0]["uid"]
        assert "v.defaultBucket" in query["model"]["query"] and "${" not in query["model"]["query"]
        assert "params." not in query["model"]["query"]
        source_of(query["model"]["query"])
        assert (reduce["model"]["expression"], threshold["model"]["expression"]) == ("A", "B")
        assert rule["condition"] == threshold["refId"] == "C"
        assert rule["noDataState"] == "OK"


@pytest.mark.parametrize("condition", alerts.CONDITIONS, ids=[c.alert for c in alerts.CONDITIONS])
def test_each_rule_fires_for_exactly_the_series_it_should_on_the_real_influxd(
    points: InfluxSettings, condition: alerts.Condition
) -> None:
    values = last_values(points, condition)
    assert values, "the query found the points"
    firing = {key for key, value in values.items() if condition.fires(value)}
    assert firing == EXPECTED[condition.alert], values


def test_the_shard_rule_counts_the_copies_up_on_the_real_influxd(points: InfluxSettings) -> None:
    """The values behind PricecapShardDown: shard 0/3 has two copies up, the others none."""
    (shards,) = [c for c in alerts.CONDITIONS if c.alert == "PricecapShardDown"]
    assert last_values(points, shards) == {"0/3": 2.0, "1/3": 0.0, "2/3": 0.0}
