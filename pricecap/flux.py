"""Flux query parameters: user input reaches Flux only as typed literals in the query's ``extern`` AST.

Queries refer to ``params.<name>`` (the convention of InfluxDB's parameterized queries), so the same
``.flux`` text runs here, and in the InfluxDB UI once ``params`` is defined by hand. influxdb-client sends
each parameter as a separate top-level option; this module sends one ``option params = {...}`` record instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from influxdb_client.domain.array_expression import ArrayExpression
from influxdb_client.domain.boolean_literal import BooleanLiteral
from influxdb_client.domain.date_time_literal import DateTimeLiteral
from influxdb_client.domain.duration import Duration
from influxdb_client.domain.duration_literal import DurationLiteral
from influxdb_client.domain.expression import Expression
from influxdb_client.domain.float_literal import FloatLiteral
from influxdb_client.domain.identifier import Identifier
from influxdb_client.domain.integer_literal import IntegerLiteral
from influxdb_client.domain.model_property import ModelProperty
from influxdb_client.domain.object_expression import ObjectExpression
from influxdb_client.domain.string_literal import StringLiteral
from influxdb_client.domain.unary_expression import UnaryExpression


@dataclass(frozen=True, slots=True)
class Time:
    """An instant as integer nanoseconds since the epoch (a Python datetime would lose the nanoseconds)."""

    ns: int

    def rfc3339(self) -> str:
        """The instant as RFC 3339 with nine fractional digits, UTC."""
        seconds, nanos = divmod(self.ns, 1_000_000_000)
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


@dataclass(frozen=True, slots=True)
class CalendarDuration:
    """A Flux duration in one unit, calendar units included: ``CalendarDuration(1, "mo")`` is ``1mo``."""

    magnitude: int
    unit: str


FluxValue = Time | CalendarDuration | str | int | float | bool | datetime | timedelta | list[Any] | dict[str, Any]


def literal(value: FluxValue) -> Expression:
    """The Flux AST literal of a Python value (datetimes must be timezone-aware; ns are kept from ints)."""
    if isinstance(value, Time):
        return DateTimeLiteral("DateTimeLiteral", value.rfc3339())
    if isinstance(value, CalendarDuration):
        return DurationLiteral("DurationLiteral", [Duration(magnitude=value.magnitude, unit=value.unit)])
    if isinstance(value, bool):
        return BooleanLiteral("BooleanLiteral", value)
    if isinstance(value, int):
        return IntegerLiteral("IntegerLiteral", str(value))
    if isinstance(value, float):
        return FloatLiteral("FloatLiteral", value)
    if isinstance(value, str):
        return StringLiteral("StringLiteral", value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("Flux times must be timezone-aware")
        text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return DateTimeLiteral("DateTimeLiteral", text)
    if isinstance(value, timedelta):
        micros = value // timedelta(microseconds=1)
        duration = DurationLiteral("DurationLiteral", [Duration(magnitude=abs(micros), unit="us")])
        return duration if micros >= 0 else UnaryExpression("UnaryExpression", operator="-", argument=duration)
    if isinstance(value, list):
        return ArrayExpression("ArrayExpression", elements=[literal(v) for v in value])
    if isinstance(value, dict):
        return record(value)
    raise TypeError(f"no Flux literal for {type(value).__name__}")


def record(values: Mapping[str, FluxValue]) -> ObjectExpression:
    """The Flux record literal ``{key: value, ...}``."""
    return ObjectExpression(
        "ObjectExpression",
        properties=[
            ModelProperty("Property", key=Identifier("Identifier", k), value=literal(v)) for k, v in values.items()
        ],
    )


def params(values: Mapping[str, FluxValue]) -> dict[str, Any]:
    """The ``params=`` argument for influxdb-client's query calls that defines ``params.<name>`` in Flux."""
    return {"params": record(values)}


def string(value: str) -> str:
    """``value`` as a Flux string literal, quotes and escapes included (for the rare Flux built as text)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'
