"""Prometheus and promtool for the alert tests (the build of tools/prometheus, pinned, cached outside the clone),
and the Prometheus Operator's CRDs."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "tools" / "prometheus" / "build.sh"


@cache
def tools() -> Path:
    """The folder holding ``prometheus`` and ``promtool``, built on first use (a failed build fails the test)."""
    built = subprocess.run([str(BUILD)], capture_output=True, text=True, check=False, timeout=3600)
    assert built.returncode == 0, f"tools/prometheus/build.sh failed:\n{built.stderr}"
    return Path(built.stdout.strip())


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run promtool; its output is in the result."""
    return subprocess.run(
        [str(tools() / "promtool"), *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=600
    )


OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
"""The Prometheus Operator whose CRDs (monitoring.coreos.com/v1) check deploy/kubernetes/pricecap-alerts.yaml."""


@cache
def operator_crds() -> Path:
    """The folder of the Operator's CRD manifests, from its Go module (downloaded once into Go's module cache)."""
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    found = subprocess.run(
        ["go", "mod", "download", "-json", OPERATOR], capture_output=True, text=True, check=False, timeout=600, env=env
    )
    assert found.returncode == 0, f"go mod download {OPERATOR} failed:\n{found.stdout}{found.stderr}"
    return Path(json.loads(found.stdout)["Dir"]) / "example" / "prometheus-operator-crd"
