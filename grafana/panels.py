"""Building blocks of the dashboards, made with Grafana's own SDK (grafana-foundation-sdk, pinned to the Grafana
that Docker Compose runs, 11.6.0): panels, queries, variables and the dashboard itself.

The SDK has no builder for InfluxDB queries, so :class:`FluxTarget` is a small typed target of pricecap's own
(the JSON Grafana's InfluxDB data source reads: ``refId``, ``datasource``, ``query``). It has no ``definition`` for a
query variable either (the text Grafana's variable editor shows): the variable's ``query`` is all Grafana runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple, Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import timeseries as timeseries_builders
from grafana_foundation_sdk.cog import builder as cog
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models

from grafana.flux import panel_flux

Json = dict[str, Any]

DATASOURCE_UID: Final = "pricecap-influxdb"
"""The uid of the InfluxDB data source that ``provisioning/datasources/influxdb.yaml`` defines."""
DATASOURCE: Final = models.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)
SHOWN: Final = models.VariableHide.DONT_HIDE
Item = cog.Builder[models.Panel | models.RowPanel]
"""A panel or a row of a dashboard."""


class Grid(NamedTuple):
    """Where a panel sits: column x (0-23) and row y, width w (of 24 columns) and height h."""

    x: int
    y: int
    w: int
    h: int

    def position(self) -> models.GridPos:
        """The SDK's grid position."""
        return models.GridPos(x=self.x, y=self.y, w=self.w, h=self.h)


class FluxQuery(variants.Dataquery):
    """A Flux query of Grafana's InfluxDB data source (the SDK has none)."""

    def __init__(self, query: str, ref_id: str = "A") -> None:
        self.query = query
        self.ref_id = ref_id

    def to_json(self) -> Json:
        """The target as Grafana's dashboard JSON has it."""
        return {"refId": self.ref_id, "datasource": DATASOURCE.to_json(), "query": self.query}


class FluxTarget(cog.Builder[FluxQuery]):
    """Builds a :class:`FluxQuery`, as the SDK's own query builders do."""

    def __init__(self, query: str, ref_id: str = "A") -> None:
        self._internal = FluxQuery(query, ref_id)

    def build(self) -> FluxQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        """The query's letter within its panel."""
        self._internal.ref_id = ref_id
        return self


def target(query: str, values: Mapping[str, str] | None = None, ref: str = "A") -> FluxTarget:
    """A panel's query: ``queries/<query>.flux`` with Grafana's variables for its parameters."""
    return FluxTarget(panel_flux(query, values), ref)


def legend() -> common_builders.VizLegendOptions:
    """The legend every chart has: a list below it."""
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


class _Panel(Protocol):
    """What every panel builder of the SDK has (they share no base class that says so)."""

    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def grid_pos(self, grid_pos: models.GridPos) -> Self: ...
    def datasource(self, datasource: models.DataSourceRef) -> Self: ...
    def targets(self, targets: list[cog.Builder[variants.Dataquery]]) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def build(self) -> models.Panel: ...


P = TypeVar("P", bound=_Panel)


def placed(
    builder: P, title: str, grid: Grid, targets: Sequence[FluxTarget], description: str, unit: str = "none"
) -> P:
    """``builder`` with what every panel has: title, description, place, data source, queries and unit."""
    return (
        builder.title(title)
        .description(description)
        .grid_pos(grid.position())
        .datasource(DATASOURCE)
        .targets(list(targets))
        .unit(unit)
    )


def timeseries(
    title: str,
    grid: Grid,
    targets: Sequence[FluxTarget],
    description: str,
    unit: str = "none",
    bars: bool = False,
    transformations: Sequence[models.DataTransformerConfig] = (),
) -> timeseries_builders.Panel:
    """A time series panel: lines, or bars (``bars``)."""
    panel = placed(timeseries_builders.Panel(), title, grid, targets, description, unit).legend(legend())
    if bars:
        panel = panel.draw_style(common.GraphDrawStyle.BARS).fill_opacity(80)
    else:
        panel = panel.draw_style(common.GraphDrawStyle.LINE).line_width(1)
    return panel.span_nulls(False).transformations(list(transformations))


def only_fields(*names: str) -> models.DataTransformerConfig:
    """A transformation that keeps only the named fields of a query's result."""
    return models.DataTransformerConfig(id_val="filterFieldsByName", options={"include": {"names": list(names)}})


def by_name(field: str, *properties: tuple[str, Any]) -> tuple[str, list[models.DynamicConfigValue]]:
    """A field override: ``properties`` for the field called ``field`` (for a panel's ``override_by_name``)."""
    return field, [models.DynamicConfigValue(id_val=key, value=value) for key, value in properties]


def row(title: str, y: int, repeat: str | None = None) -> builders.Row:
    """A row across the dashboard; with ``repeat``, one copy of the row and its panels per value of that variable."""
    result = builders.Row(title).collapsed(False).grid_pos(Grid(0, y, 24, 1).position())
    return result.repeat(repeat) if repeat else result


def textbox(name: str, label: str, default: str) -> builders.TextBoxVariable:
    """A free-text variable with a default value."""
    current = models.VariableOption(text=default, value=default)
    return builders.TextBoxVariable(name).label(label).default_value(default).current(current).hide(SHOWN)


def constant(name: str, value: str) -> builders.ConstantVariable:
    """A hidden variable with a fixed value."""
    return builders.ConstantVariable(name).value(value)  # which Grafana never shows (hide: 2)


def query_variable(
    name: str, label: str, query: str, values: Mapping[str, str] | None = None
) -> builders.QueryVariable:
    """A multi-value variable filled by ``queries/<query>.flux`` (its ``_value`` column), "All" by default."""
    return (
        builders.QueryVariable(name)
        .label(label)
        .hide(SHOWN)
        .datasource(DATASOURCE)
        .query(panel_flux(query, values))
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(models.VariableOption(text=["All"], value=["$__all"]))
        .options([])
    )


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: Sequence[Item],
    variables: Sequence[cog.Builder[models.VariableModel]],
    time_from: str = "now-15m",
    refresh: str = "10s",
) -> Json:
    """The dashboard JSON, with ``panels`` where their grids place them, numbered 1, 2, ... in order."""
    built = (
        builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["pricecap"])
        .version(1)
        .editable()
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .timezone("utc")
        .time(time_from, "now")
        .refresh(refresh)
        .variables(list(variables))
        .build()
    )
    built.panels = [panel.build() for panel in panels]
    for number, panel in enumerate(built.panels, start=1):
        panel.id_val = number
    result: Json = json.loads(json.dumps(built, cls=JSONEncoder))
    return result
