"""Structured logs: one line per event, ``key=value`` for people or JSON for machines.

Extra fields go in ``extra={...}``. influxdb-client's and urllib3's loggers are held at WARNING: their debug
output would include request headers, and the token with them.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": record.getMessage(),
    }
    fields.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
    if record.exc_info and record.exc_info[1] is not None:
        fields["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
    return fields


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=info logger=collector event="connected" shard=0``."""

    def format(self, record: logging.LogRecord) -> str:
        """One line of ``key=value`` pairs; values with spaces are quoted."""
        parts = []
        for key, value in _fields(record).items():
            text = str(value)
            if not text or any(c in text for c in ' "='):
                text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
            parts.append(f"{key}={text}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object."""
        return orjson.dumps(_fields(record), default=str).decode()


def setup_logging(level: str = "INFO", json: bool = False) -> None:
    """Log to stderr, one line per event."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("influxdb_client", "urllib3", "websockets"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
