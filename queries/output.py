"""Printing answers as an aligned table, JSON (one array) or CSV with a header: rows of typed values."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, Literal, TypeVar

import click
import orjson

Format = Literal["table", "json", "csv"]
Row = dict[str, str | int | float | bool | None]
F = TypeVar("F", bound=Callable[..., Any])


def format_options(command: F) -> F:
    """Add ``--json`` and ``--csv`` (default: a table); the command receives ``output: Format``."""
    command = click.option("--csv", "output", flag_value="csv", help="Print CSV with a header row.")(command)
    command = click.option("--json", "output", flag_value="json", help="Print a JSON array of objects.")(command)
    return click.option("--table", "output", flag_value="table", default=True, hidden=True)(command)


def render(rows: Sequence[Row], output: Format) -> str:
    """The rows in the chosen format (a table leaves empty cells blank)."""
    if output == "json":
        return orjson.dumps(list(rows), option=orjson.OPT_INDENT_2).decode()
    if not rows:
        return ""
    columns = list(rows[0])
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_text(row[c]) for c in columns] for row in rows])
        return buffer.getvalue().rstrip("\n")
    cells = [columns, *([_text(row[c]) for c in columns] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    numeric = [all(isinstance(row[c], int | float) or row[c] is None for row in rows) for c in columns]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if right else cell.ljust(w) for cell, w, right in zip(line, widths, numeric, strict=True)
        ).rstrip()
        for line in cells
    )


def render_stream(rows: Iterable[Row], output: Format, block: int) -> Iterator[str]:
    """:func:`render` for rows that come one at a time: pieces to print one per line, ``block`` rows each. CSV
    and JSON read as :func:`render` would make them; a table is aligned within each block (one header)."""
    rows = iter(rows)
    parts = iter(lambda: list(islice(rows, block)), [])
    part = next(parts, None)
    if output == "json":
        if part is None:
            yield "[]"
            return
        yield "["
        while part is not None:
            following = next(parts, None)
            text = orjson.dumps(part, option=orjson.OPT_INDENT_2).decode()[2:-2]  # the rows inside "[\n" "\n]"
            yield text if following is None else text + ","
            part = following
        yield "]"
        return
    first = True
    while part is not None:
        text = render(part, output)
        yield text if first else text.split("\n", 1)[1]
        first, part = False, next(parts, None)


def _text(value: object) -> str:
    """One cell: floats in their shortest exact form, booleans in lower case, None as nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
