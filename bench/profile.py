"""Sampling profiles of a running collector with py-spy (a dev extra), for ``bench.ingest --profile``.

py-spy reads the process's stacks from outside at a fixed rate (``--nonblocking``: without pausing it), so the
profiled run costs the collector next to nothing; every thread is sampled, the write threads too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE_HZ = 200


def py_spy() -> str:
    """The py-spy executable (beside this Python, or on PATH); SystemExit when it is not installed."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy (scripts/setup --dev installs it)")
    return found


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` for ``seconds`` into ``out`` (py-spy's raw format: one folded stack a line)."""
    return subprocess.Popen(
        [py_spy(), "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", str(RATE_HZ),
         "--nonblocking", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def hottest(raw: Path, top: int = 20) -> list[dict[str, object]]:
    """The ``top`` functions by own samples (where the CPU was spent) and by total samples (with callees)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    return [
        {"own %": round(100 * n / samples, 1), "total %": round(100 * total[name] / samples, 1), "function": name}
        for name, n in own.most_common(top)
    ]
