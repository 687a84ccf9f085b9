"""The alerting rules, checked and unit-tested with the real promtool (tools/prometheus builds it).

Every alert has promtool tests (tests/alerts/*.yaml) in which it fires and in which it must not (the
harmless cases: a 24 h reconnection, a serverShutdown hand-over, a short repair), a severity, and a
runbook_url whose anchor is a heading of docs/operations/runbook.md. The PrometheusRule in
deploy/kubernetes/ carries the same groups.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from alerting import build, rules
from tests.prometheus import operator_crds, promtool
from tests.test_deploy import SECRETS, compose_config

ROOT = rules.ROOT
UNIT_TESTS = sorted((ROOT / "tests" / "alerts").glob("*.yaml"))
SEVERITIES = {"page", "ticket"}
ALERTS = [rule["alert"] for rule in rules.alerts()]


def alert_tests() -> list[dict[str, Any]]:
    """Every alert_rule_test of every promtool test file."""
    found = []
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text("utf-8"))["tests"]:
            found += test.get("alert_rule_test", [])
    return found


def runbook_anchors() -> set[str]:
    """The anchors of the runbook's headings."""
    text = rules.RUNBOOK_FILE.read_text("utf-8")
    return {rules.anchor(m.group(1)) for m in re.finditer(r"^#{2,6} +(.+?) *$", text, re.MULTILINE)}


def test_the_rules_file_loads() -> None:
    checked = promtool("check", "rules", str(rules.RULES_FILE))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout


def test_a_rules_file_that_does_not_load_fails_the_check(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(rules.RULES_FILE.read_text("utf-8").replace("> 0.8", "> > 0.8"), "utf-8")
    checked = promtool("check", "rules", str(broken))
    assert checked.returncode != 0
    assert "PricecapSpoolNearlyFull" in checked.stderr or "parse error" in checked.stderr


def test_the_promtool_unit_tests_pass() -> None:
    tested = promtool("test", "rules", *(str(p) for p in UNIT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") == len(UNIT_TESTS), tested.stdout


def test_a_wrong_expectation_fails_the_unit_tests(tmp_path: Path) -> None:
    """promtool compares the firing alerts exactly: the tests above cannot pass by accident."""
    source = ROOT / "tests" / "alerts" / "writes.yaml"
    wrong = tmp_path / "writes.yaml"
    text = source.read_text("utf-8").replace("../../deploy/prometheus/", f"{rules.RULES_FILE.parent}/")
    wrong.write_text(text.replace("the spool is 83.82% full", "the spool is 50% full"), "utf-8")
    tested = promtool("test", "rules", str(wrong))
    assert tested.returncode != 0
    assert "PricecapSpoolNearlyFull" in tested.stdout + tested.stderr


@pytest.mark.parametrize("alert", ALERTS)
def test_each_alert_has_a_test_where_it_fires_and_one_where_it_does_not(alert: str) -> None:
    tests = [t for t in alert_tests() if t["alertname"] == alert]
    assert [t for t in tests if t.get("exp_alerts")], f"{alert}: no promtool test where it fires"
    assert [t for t in tests if not t.get("exp_alerts")], f"{alert}: no promtool test where it must not fire"


def test_the_unit_tests_name_only_existing_alerts() -> None:
    assert {t["alertname"] for t in alert_tests()} <= set(ALERTS)


@pytest.mark.parametrize("rule", rules.alerts(), ids=ALERTS)
def test_each_alert_has_a_severity_and_its_runbook_entry(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["annotations"]["runbook_url"] == rules.runbook_url(rule["alert"])
    assert rules.anchor(rule["alert"]) in runbook_anchors(), f"docs/operations/runbook.md has no ## {rule['alert']}"


def test_an_anchor_is_what_mkdocs_makes_of_a_heading() -> None:
    assert rules.anchor("PricecapShardDown") == "pricecapsharddown"
    assert rules.anchor("What to do, first") == "what-to-do-first"


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's OpenAPI schema that refuses unknown fields (the API server would drop them silently)."""
    found = {k: strict(v) if isinstance(v, dict) else v for k, v in schema.items()}
    if "properties" in found:
        found["properties"] = {k: strict(v) for k, v in found["properties"].items()}
        if not found.get("x-kubernetes-preserve-unknown-fields"):
            found.setdefault("additionalProperties", False)
    return found


def crd_schema(kind: str) -> dict[str, Any]:
    """The v1 schema of a kind of the Prometheus Operator (its CRD manifest), strict."""
    crd = yaml.safe_load((operator_crds() / f"monitoring.coreos.com_{kind.lower()}s.yaml").read_text("utf-8"))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return strict(version["schema"]["openAPIV3Schema"])


@pytest.mark.parametrize("kind", ["ServiceMonitor", "PrometheusRule"])
def test_the_manifest_is_valid_for_the_operators_crds(kind: str) -> None:
    (document,) = [d for d in yaml.safe_load_all(build.MANIFEST.read_text("utf-8")) if d["kind"] == kind]
    validator = jsonschema.Draft7Validator(crd_schema(kind))  # its patterns are Go's: not checked as Python's
    validator.validate(document)
    misspelt = {**document, "spec": {**document["spec"], "extra": 1}}
    with pytest.raises(jsonschema.ValidationError, match="extra"):
        validator.validate(misspelt)


def test_the_prometheus_rule_is_rendered_from_the_rules_file() -> None:
    assert build.stale() == [], "run python -m alerting.build"
    _, rule = yaml.safe_load_all(build.MANIFEST.read_text("utf-8"))
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"]["groups"] == rules.groups()
    assert set(rule["spec"]) == {"groups"}
    assert set(rule["metadata"]) == {"name", "labels"}


def test_the_service_monitor_scrapes_the_collectors_service_as_the_rules_expect() -> None:
    monitor, _ = yaml.safe_load_all(build.MANIFEST.read_text("utf-8"))
    service = next(
        d
        for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "collector.yaml").read_text("utf-8"))
        if d and d["kind"] == "Service"
    )
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert {"action": "replace", "targetLabel": "job", "replacement": "pricecap"} in endpoint["relabelings"]
    assert all('job="pricecap"' in r["expr"] for r in rules.alerts() if "pricecap_audit" not in r["expr"])


def test_the_example_prometheus_configuration_loads_with_the_rules() -> None:
    checked = promtool("check", "config", str(ROOT / "deploy" / "prometheus" / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text("utf-8"))
    assert [job["job_name"] for job in config["scrape_configs"]] == ["pricecap"]


def test_the_compose_profile_runs_the_built_prometheus_version_with_the_rules() -> None:
    result = compose_config(SECRETS, "prometheus")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"influxdb", "collector", "setup", "grafana", "prometheus"}
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["prometheus"], "the default docker compose up runs no Prometheus"
    module = (ROOT / "tools" / "prometheus" / "go.mod").read_text("utf-8")
    minor, patch = re.search(r"github.com/prometheus/prometheus v0\.3(\d\d)\.(\d+)", module).groups()  # type: ignore[union-attr]
    assert prometheus["image"] == f"prom/prometheus:v3.{int(minor)}.{patch}", "the version the tests run"
    (config,) = [v for v in prometheus["volumes"] if v["target"] == "/etc/prometheus"]
    assert config["source"] == str(ROOT / "deploy" / "prometheus") and config["read_only"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
