"""The alerting rules of ``deploy/prometheus/pricecap-alerts.yaml``, and where each alert's runbook entry is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import yaml

ROOT: Final = Path(__file__).resolve().parents[1]
RULES_FILE: Final = ROOT / "deploy" / "prometheus" / "pricecap-alerts.yaml"
RUNBOOK_FILE: Final = ROOT / "docs" / "operations" / "runbook.md"
DOCS_URL: Final = "https://pricecap.github.io/pricecap/"
"""Where the documentation site (docs/, built with MkDocs) is published; every runbook_url starts with it."""
RUNBOOK_PATH: Final = "operations/runbook/"
"""The runbook's page on the site (docs/operations/runbook.md)."""

Rule = dict[str, Any]


def groups() -> list[Rule]:
    """The rule groups of the rules file, as Prometheus reads them."""
    loaded: dict[str, list[Rule]] = yaml.safe_load(RULES_FILE.read_text("utf-8"))
    return loaded["groups"]


def alerts() -> list[Rule]:
    """Every alerting rule, in file order."""
    return [rule for group in groups() for rule in group["rules"] if "alert" in rule]


def anchor(heading: str) -> str:
    """The anchor MkDocs (and GitHub) give a Markdown heading: lower case, punctuation dropped, spaces as -."""
    text = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def runbook_url(alert: str) -> str:
    """The runbook entry of ``alert``: its heading is the alert's name."""
    return f"{DOCS_URL}{RUNBOOK_PATH}#{anchor(alert)}"


class BlockDumper(yaml.SafeDumper):
    """YAML as the other manifests are written: lists indented under their key, multi-line text as a block
    (the PromQL reads as in the rules file), no anchors."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


BlockDumper.add_representer(str, _text)
