"""Prometheus and promtool for the alert tests: the build of tools/prometheus (pinned, cached outside the clone)."""

from __future__ import annotations

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
