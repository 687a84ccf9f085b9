"""Render the dashboards into ``grafana/provisioning/dashboards/*.json`` and the alert rules into
``grafana/provisioning/alerting/pricecap.yaml``, or check that they are up to date.

python -m grafana.build            write the files
python -m grafana.build --check    exit 1 when a committed file differs from what would be written
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

from grafana import alerts
from grafana.dashboards import DASHBOARDS

PROVISIONING: Final = Path(__file__).resolve().parent / "provisioning"
DASHBOARDS_DIR: Final = PROVISIONING / "dashboards"
ALERTING_FILE: Final = PROVISIONING / "alerting" / "pricecap.yaml"


def rendered() -> dict[Path, str]:
    """The text of every dashboard file and of the alert rules, by its path."""
    return {
        **{
            DASHBOARDS_DIR / f"{name}.json": json.dumps(make(), indent=2, ensure_ascii=False) + "\n"
            for name, make in DASHBOARDS.items()
        },
        ALERTING_FILE: alerts.rendered(),
    }


def stale(files: dict[Path, str] | None = None) -> list[Path]:
    """The files (``files``, or Grafana's) whose committed text differs from the rendered one (or that are
    missing)."""
    rendering = rendered() if files is None else files
    return [path for path, text in rendering.items() if not path.is_file() or path.read_text("utf-8") != text]


def main(
    argv: list[str] | None = None,
    render: Callable[[], dict[Path, str]] = rendered,
    prog: str = "python -m grafana.build",
    doc: str = __doc__,
) -> int:
    """Write the files ``render`` makes, or with ``--check`` report the stale ones (alerting.build too)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.partition("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args(argv)
    files = render()
    if args.check:
        for path in stale(files):
            print(f"stale: {path} (run {prog})", file=sys.stderr)
        return 1 if stale(files) else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
