"""The checkpoint: per symbol, the highest trade id up to which every trade is durable (written or spooled).

Saved atomically next to the spool each second in which the watermarks moved. After a crash, the collector
resumes from it, so trades that were still in flight (received, not yet confirmed by InfluxDB) are fetched
again from REST; the stored last trade id alone would skip a batch that was still being retried while a later
one succeeded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from collector.spool import write_atomically


@dataclass(frozen=True)
class Checkpoint:
    """Watermarks by symbol, and when they were saved (epoch ms)."""

    saved_at_ms: int
    watermarks: dict[str, int]


def save(path: Path, target: str, watermarks: dict[str, int]) -> None:
    """Replace the checkpoint file with ``watermarks`` for ``target`` (where the trades go; atomic, durable)."""
    data = {"saved_at_ms": int(time.time() * 1000), "target": target, "watermarks": watermarks}
    write_atomically(path, orjson.dumps(data))


def load(path: Path, target: str) -> Checkpoint | None:
    """The checkpoint saved for ``target``, or None when there is none (or it cannot be read)."""
    try:
        data = orjson.loads(path.read_bytes())
        if data["target"] != target:
            return None
        return Checkpoint(int(data["saved_at_ms"]), {str(k): int(v) for k, v in data["watermarks"].items()})
    except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
