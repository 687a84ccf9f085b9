"""The command-line option of the local stack's commands: its data folder."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click

from pricecap.options import F
from stack.local import StackPaths, default_data_dir


def data_dir_option(command: F) -> F:
    """Add ``--data-dir``, the folder of the local stack; the command receives ``paths: StackPaths``."""

    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder of the local stack's data and state [default: pricecap in the user data folder].",
    )
    @functools.wraps(command)
    def wrapper(data_dir: Path | None, **kwargs: Any) -> Any:
        return command(paths=StackPaths(data_dir or default_data_dir()), **kwargs)

    return wrapper  # type: ignore[return-value]
