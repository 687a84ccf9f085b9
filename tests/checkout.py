"""The checkout as files, for tests that install or build from it without touching it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def copy_checkout(folder: Path) -> Path:
    """The checkout's files (committed or not, as git lists them) copied into ``folder``, which is returned: for
    tests that install or build from it without touching the checkout (setuptools leaves build/ behind)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=CHECKOUT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    for name in filter(None, listed.decode().split("\0")):
        if (CHECKOUT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(CHECKOUT / name, folder / name)
    return folder
