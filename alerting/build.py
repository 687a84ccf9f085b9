"""Render the alerting rules for the Prometheus Operator, or check that the rendered file is up to date.

python -m alerting.build            write deploy/kubernetes/pricecap-alerts.yaml
python -m alerting.build --check    exit 1 when the committed file differs from what would be written

The file holds a ServiceMonitor (Prometheus scrapes the collectors' Service under the job name the rules
select, "pricecap") and a PrometheusRule whose groups are the rules file's, unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import yaml

from alerting.rules import ROOT, BlockDumper, groups
from grafana import build

MANIFEST: Final = ROOT / "deploy" / "kubernetes" / "pricecap-alerts.yaml"
HEADER: Final = """\
# pricecap's alerts for the Prometheus Operator (its monitoring.coreos.com/v1 CRDs), beside collector.yaml:
# a ServiceMonitor that scrapes every collector pod under the job name "pricecap", and the alerting rules of
# deploy/prometheus/pricecap-alerts.yaml as a PrometheusRule. Written by `python -m alerting.build` from that
# file: edit it there. Your Prometheus must select both (its serviceMonitorSelector and ruleSelector: add the
# labels it selects on, e.g. release: prometheus); docs/operations/alerts.md says more.
#   kubectl apply -f deploy/kubernetes/pricecap-alerts.yaml
"""
NAME: Final = "pricecap-collector"


def documents() -> list[dict[str, Any]]:
    """The ServiceMonitor and the PrometheusRule."""
    labels = {"app": NAME}
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": NAME, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "endpoints": [
                {
                    "port": "metrics",
                    "interval": "15s",
                    "relabelings": [{"action": "replace", "targetLabel": "job", "replacement": "pricecap"}],
                }
            ],
        },
    }
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": NAME, "labels": labels},
        "spec": {"groups": groups()},
    }
    return [monitor, rule]


def rendered() -> dict[Path, str]:
    """The manifest's text, by its path."""
    body = yaml.dump_all(documents(), Dumper=BlockDumper, sort_keys=False, width=120, allow_unicode=True)
    return {MANIFEST: HEADER + body}


def stale() -> list[Path]:
    """The manifest, when its committed text differs from the rendered one (or it is missing)."""
    return build.stale(rendered())


def main(argv: list[str] | None = None) -> int:
    """Write the manifest, or with ``--check`` report it when stale."""
    return build.main(argv, rendered, "python -m alerting.build", __doc__)


if __name__ == "__main__":
    sys.exit(main())
