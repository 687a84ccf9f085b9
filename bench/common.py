"""What the benchmarks share: CPU time of a process from /proc, and Markdown tables of result rows."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def table(rows: Sequence[Mapping[str, object]]) -> str:
    """Rows as a Markdown table (the columns of the first row; None shows as -)."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("-" if row[c] is None else str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
