"""The Flux of a panel: a file of ``queries/`` with a Grafana expression in place of each ``params.<name>``.

The ``.flux`` files stay the one source of truth: pricecap runs them with ``params`` as typed literals, and a
dashboard runs the same text with Grafana's own variables. Template variables are written ``${name:json}``,
so Grafana inserts their values as JSON strings, which are Flux string literals too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from itertools import dropwhile
from typing import Final

from pricecap import flux
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


def go_duration(duration: timedelta) -> str:
    """A whole number of seconds as Go's time.Duration prints it (Grafana's v.windowPeriod): 1m0s, 1h0m0s, 10s."""
    seconds = int(duration.total_seconds())
    if duration != timedelta(seconds=seconds) or seconds <= 0:
        raise ValueError(f"not a whole, positive number of seconds: {duration}")
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def as_sent(query: str, variables: Mapping[str, str], start_ns: int, stop_ns: int, interval: timedelta) -> str:
    """A panel's Flux as Grafana sends it to InfluxDB (no Grafana runs in tests and benchmarks): template variables
    replaced in the browser (``${symbol:json}`` becomes ``"BTCUSDT"``), then by Grafana's server
    ``v.timeRangeStart`` and ``v.timeRangeStop`` with RFC 3339 times and ``v.windowPeriod`` with the interval as
    Go prints a duration."""
    text = re.sub(r"\$\{(\w+):json\}", lambda m: json.dumps(variables[m.group(1)]), query)
    if "$" in text:
        raise ValueError(f"a variable of the query is neither given nor written ${{name:json}}: {text}")
    macros = {
        "v.timeRangeStart": flux.Time(start_ns).rfc3339(),
        "v.timeRangeStop": flux.Time(stop_ns).rfc3339(),
        "v.windowPeriod": go_duration(interval),
    }
    for macro, value in macros.items():
        text = text.replace(macro, value)
    return text
