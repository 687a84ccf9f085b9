"""The Flux of a panel: a file of ``queries/`` with a Grafana expression in place of each ``params.<name>``.

The ``.flux`` files stay the one source of truth: pricecap runs them with ``params`` as typed literals, and a
dashboard runs the same text with Grafana's own variables. Template variables are written ``${name:json}``,
so Grafana inserts their values as JSON strings, which are Flux string literals too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from itertools import dropwhile
from typing import Final

from queries.runner import flux_text

GRAFANA_PARAMS: Final[Mapping[str, str]] = {
    "bucket": "${bucket:json}",
    "exchange": "${exchange:json}",
    "symbol": "${symbol:json}",
    "start": "v.timeRangeStart",
    "stop": "v.timeRangeStop",
    "every": "v.windowPeriod",
}
"""What every panel passes: the dashboard's variables, its time range, and Grafana's interval for windows."""

_PARAM = re.compile(r"\bparams\.([A-Za-z_][A-Za-z0-9_]*)")
SOURCE_PREFIX: Final = "// queries/"


def string(value: str) -> str:
    """A Flux string literal."""
    return json.dumps(value)


def panel_flux(name: str, values: Mapping[str, str] | None = None) -> str:
    """``queries/<name>.flux`` without its header comment, with Grafana's expression for each parameter.

    ``values`` gives the Flux expressions of the parameters particular to the panel (added to, or replacing,
    :data:`GRAFANA_PARAMS`). A parameter the query uses and nobody gives raises KeyError.
    """
    given = {**GRAFANA_PARAMS, **(values or {})}

    def expression(match: re.Match[str]) -> str:
        param = match.group(1)
        if param not in given:
            raise KeyError(f"queries/{name}.flux uses params.{param}, which the panel does not give")
        return given[param]

    body = "\n".join(dropwhile(lambda line: line.startswith("//"), flux_text(name).splitlines()))
    return f"{SOURCE_PREFIX}{name}.flux\n{_PARAM.sub(expression, body).strip()}\n"


def source_of(query: str) -> str:
    """The name of the ``queries/`` file a panel's Flux was made from (its first line says)."""
    first = query.split("\n", 1)[0]
    if not first.startswith(SOURCE_PREFIX) or not first.endswith(".flux"):
        raise ValueError(f"not a panel query made by grafana.flux: {first!r}")
    return first.removeprefix(SOURCE_PREFIX).removesuffix(".flux")
