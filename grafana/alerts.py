"""Grafana alert rules for users without Prometheus (``docker compose up``): the conditions of
deploy/prometheus/pricecap-alerts.yaml that the health points in InfluxDB show, under the same names, with the
same severity and runbook link (read from that file).

Each rule runs one file of ``queries/`` (as a panel does, with Grafana's macros for its parameters and the
data source's default bucket) over the last ``range_s`` seconds, reduces each series to its last value, and
fires for the series whose value is above (or below) the threshold for ``pending``. No data is no alert:
a collector that writes nothing is what PricecapShardDown sees. Contact points are left to the user
(docs/operations/alerts.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from alerting import rules
from grafana.flux import panel_flux, string

DATASOURCE_UID: Final = "pricecap-influxdb"
"""The provisioned InfluxDB data source (provisioning/datasources/influxdb.yaml)."""
ALERT_PARAMS: Final = {"bucket": "v.defaultBucket"}
"""An alert rule has no dashboard variables: it reads the data source's default bucket (Grafana's macro)."""
FOLDER: Final = "pricecap"
INTERVAL: Final = "1m"
HEADER: Final = """\
# pricecap's Grafana alert rules (folder "pricecap"), evaluated every minute on the health points the collectors
# write to InfluxDB: the conditions of deploy/prometheus/pricecap-alerts.yaml for users without Prometheus.
# Written by `python -m grafana.build` from grafana/alerts.py. No contact point is provisioned: add yours
# (docs/operations/alerts.md).
"""


@dataclass(frozen=True)
class Condition:
    """One Grafana rule: the Prometheus alert it stands for, and how it reads the health points."""

    alert: str
    query: str
    """A file of queries/ (without .flux)."""
    summary: str
    threshold: float
    range_s: int
    pending: str = "0s"
    """How long the condition must hold before the alert fires (the rule's ``for``)."""
    values: dict[str, str] = field(default_factory=dict)
    below: bool = False
    """Fire when the value is below the threshold (else above)."""

    def fires(self, value: float) -> bool:
        """Whether a series whose last value is ``value`` meets the condition (Grafana's threshold)."""
        return value < self.threshold if self.below else value > self.threshold

    def flux(self) -> str:
        """The rule's query, as Grafana sends it but for its macros."""
        return panel_flux(self.query, {**ALERT_PARAMS, **self.values})


def gauge(name: str) -> dict[str, str]:
    """The parameters of queries/health.flux (a gauge's highest value per window)."""
    return {"field": string(name)}


def ratio(part: str, whole: str) -> dict[str, str]:
    """The parameters of queries/health_ratio.flux."""
    return {"field": string(part), "of": string(whole)}


CONDITIONS: Final = (
    Condition(
        "PricecapShardDown", "shard_copies_up", "No copy of shard {{ $labels.shard }} is up and healthy.",
        1, 86_400, "3m", {"fresh": "30s"}, below=True,
    ),
    Condition(
        "PricecapGapUnrepaired", "health_ratio",
        "{{ $labels.instance }}: a gap has waited longer than the gap alarm for its repair.",
        1, 600, "2m", ratio("oldest_gap_age_s", "gap_alarm_s"),
    ),
    Condition(
        "PricecapIdsUnrepairable", "health_increase",
        "{{ $labels.instance }} gave up on trade ids in the last hour: REST no longer has them.",
        0, 3_600, values=gauge("ids_unrepairable"),
    ),
    Condition(
        "PricecapStreamStalled", "health",
        "{{ $labels.instance }}: connections silent while REST has newer trades, not replaced.",
        0, 600, "5m", gauge("connections_stalled"),
    ),
    Condition(
        "PricecapWriteLagHigh", "health", "{{ $labels.instance }}: trades take over 10 s to be confirmed by InfluxDB.",
        10, 600, "10m", gauge("last_write_lag_s"),
    ),
    Condition(
        "PricecapPendingTradesHigh", "health",
        "{{ $labels.instance }} holds over 100,000 trades InfluxDB has not confirmed.",
        100_000, 600, "5m", gauge("pending"),
    ),
    Condition(
        "PricecapSpoolNearlyFull", "health_ratio", "{{ $labels.instance }}: the spool is over 80 % full.",
        0.8, 600, "1m", ratio("spool_bytes", "spool_max_bytes"),
    ),
    Condition(
        "PricecapTradesLost", "health", "{{ $labels.instance }} holds trades neither written nor spooled.",
        0, 600, values=gauge("lost"),
    ),
    Condition(
        "PricecapTaskRestarting", "health_increase",
        "{{ $labels.instance }}: background tasks failed more than 3 times in 15 minutes.",
        3, 900, "5m", gauge("task_restarts"),
    ),
    Condition(
        "PricecapRestBanned", "health_increase", "Binance banned {{ $labels.instance }}'s IP from REST (HTTP 418).",
        0, 900, values=gauge("rest_banned"),
    ),
    Condition(
        "PricecapRestRateLimited", "health_increase",
        "Binance REST answered {{ $labels.instance }} with HTTP 429 or 403: every request pauses.",
        0, 900, values=gauge("rest_rate_limited"),
    ),
    Condition(
        "PricecapAuditMissingTrades", "audit_missing",
        "The completeness audit found trades of {{ $labels.symbol }} missing in a recent hour.",
        0, 3 * 3_600,
    ),
)  # fmt: skip


def rule(condition: Condition, prometheus: dict[str, Any]) -> dict[str, Any]:
    """The provisioning of one rule: query A, B its series' last values, C the threshold (the condition)."""
    evaluator = {"type": "lt" if condition.below else "gt", "params": [condition.threshold]}
    return {
        "uid": rules.anchor(condition.alert),
        "title": condition.alert,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": condition.range_s, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": {"refId": "A", "query": condition.flux(), "intervalMs": 10_000, "maxDataPoints": 43_200},
            },
            expression("B", {"type": "reduce", "expression": "A", "reducer": "last", "settings": {"mode": "dropNN"}}),
            expression("C", {"type": "threshold", "expression": "B", "conditions": [{"evaluator": evaluator}]}),
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": condition.pending,
        "labels": {"severity": prometheus["labels"]["severity"]},
        "annotations": {"summary": condition.summary, "runbook_url": prometheus["annotations"]["runbook_url"]},
        "isPaused": False,
    }


def expression(ref: str, model: dict[str, Any]) -> dict[str, Any]:
    """A server-side expression (reduce, threshold) of a rule."""
    return {"refId": ref, "datasourceUid": "__expr__", "model": {"refId": ref, **model}}


def provisioning() -> dict[str, Any]:
    """Grafana's alert rule provisioning: one group of every condition."""
    prometheus = {r["alert"]: r for r in rules.alerts()}
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "pricecap",
                "folder": FOLDER,
                "interval": INTERVAL,
                "rules": [rule(c, prometheus[c.alert]) for c in CONDITIONS],
            }
        ],
    }


def rendered() -> str:
    """The provisioning file's text."""
    return HEADER + yaml.dump(provisioning(), Dumper=rules.BlockDumper, sort_keys=False, width=120)
