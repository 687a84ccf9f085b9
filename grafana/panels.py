"""Building blocks of Grafana's dashboard JSON model: panels, queries, variables and the dashboard itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from grafana.flux import panel_flux

Json = dict[str, Any]

DATASOURCE_UID: Final = "pricecap-influxdb"
"""The uid of the InfluxDB data source that ``provisioning/datasources/influxdb.yaml`` defines."""
DATASOURCE: Final[Json] = {"type": "influxdb", "uid": DATASOURCE_UID}
SCHEMA_VERSION: Final = 39
"""The dashboard schema of Grafana 10.4 to 11; later versions migrate it on load."""


class Grid(NamedTuple):
    """Where a panel sits: column x (0-23) and row y, width w (of 24 columns) and height h."""

    x: int
    y: int
    w: int
    h: int


def target(query: str, values: Mapping[str, str] | None = None, ref: str = "A") -> Json:
    """A panel's query: ``queries/<query>.flux`` with Grafana's variables for its parameters."""
    return {"refId": ref, "datasource": DATASOURCE, "query": panel_flux(query, values)}


def panel(
    kind: str,
    title: str,
    grid: Grid,
    targets: Sequence[Json],
    description: str,
    unit: str = "none",
    options: Json | None = None,
    custom: Json | None = None,
    overrides: Sequence[Json] = (),
    transformations: Sequence[Json] = (),
) -> Json:
    """A panel of ``kind`` (timeseries, candlestick, stat, table); ids are given by :func:`dashboard`."""
    result: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "gridPos": grid._asdict(),
        "datasource": DATASOURCE,
        "targets": list(targets),
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": custom or {}},
            "overrides": list(overrides),
        },
        "options": options or {},
    }
    if transformations:
        result["transformations"] = list(transformations)
    return result


def timeseries(
    title: str,
    grid: Grid,
    targets: Sequence[Json],
    description: str,
    unit: str = "none",
    bars: bool = False,
    **extra: Any,
) -> Json:
    """A time series panel: lines, or bars (``bars``)."""
    custom: Json = {"drawStyle": "bars", "fillOpacity": 80} if bars else {"drawStyle": "line", "lineWidth": 1}
    options: Json = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
    return panel(
        "timeseries", title, grid, targets, description, unit, options, {**custom, "spanNulls": False}, **extra
    )


def only_fields(*names: str) -> Json:
    """A transformation that keeps only the named fields of a query's result."""
    return {"id": "filterFieldsByName", "options": {"include": {"names": list(names)}}}


def by_name(field: str, *properties: tuple[str, Any]) -> Json:
    """A field override: ``properties`` for the field called ``field``."""
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [{"id": key, "value": value} for key, value in properties],
    }


def row(title: str, y: int, repeat: str | None = None) -> Json:
    """A row across the dashboard; with ``repeat``, one copy of the row and its panels per value of that variable."""
    result: Json = {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": Grid(0, y, 24, 1)._asdict(),
    }
    if repeat:
        result["repeat"] = repeat
    return result


def textbox(name: str, label: str, default: str) -> Json:
    """A free-text variable with a default value."""
    return {
        "type": "textbox",
        "name": name,
        "label": label,
        "query": default,
        "current": {"text": default, "value": default},
        "hide": 0,
    }


def constant(name: str, value: str) -> Json:
    """A hidden variable with a fixed value."""
    return {"type": "constant", "name": name, "query": value, "hide": 2}


def query_variable(name: str, label: str, query: str, values: Mapping[str, str] | None = None) -> Json:
    """A multi-value variable filled by ``queries/<query>.flux`` (its ``_value`` column), "All" by default."""
    flux = panel_flux(query, values)
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "query": flux,
        "definition": flux,
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "current": {"text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: Sequence[Json],
    variables: Sequence[Json],
    time_from: str = "now-15m",
    refresh: str = "10s",
) -> Json:
    """A dashboard with ``panels`` numbered 1, 2, ... in order."""
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["pricecap"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "utc",
        "time": {"from": time_from, "to": "now"},
        "refresh": refresh,
        "templating": {"list": list(variables)},
        "annotations": {"list": []},
        "links": [],
        "panels": [{"id": number, **p} for number, p in enumerate(panels, start=1)],
    }
