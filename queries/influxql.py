"""The trade at one end of many ranges in InfluxQL, the batch price-at's fast path (no I/O here).

One statement per range, ``SELECT last(trade_id), price, qty, buyer_maker ... WHERE time >= start AND
time < stop`` (``first`` for the trade after an instant): InfluxDB's InfluxQL engine reads the point's four
fields in about half the influxd CPU that Flux spends on the same pushed-down ``last()`` (0.45 against 1.0 ms
per range on the benchmark's busy market, 2026-12-02), and a request carries hundreds of statements where
Flux plans dozens of ranges at most. User input reaches the text only as bound parameters (``$symbol0``...),
which InfluxDB substitutes itself. The rows have the shape of ``prices_at.flux``'s, so
:func:`queries.answers.edges` reads either, with the same trade-id rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from pricecap import model
from pricecap.errors import PricecapError
from queries.answers import Range

_EDGE = (  # the model's names only: every value is a bound parameter
    f"SELECT {{pick}}({model.FIELD_TRADE_ID}), {model.FIELD_PRICE}, {model.FIELD_QTY}, {model.FIELD_BUYER_MAKER}"  # noqa: S608
    f' FROM "{model.MEASUREMENT}" WHERE "{model.TAG_EXCHANGE}" = $exchange AND "{model.TAG_SYMBOL}" = $symbol{{i}}'
    " AND time >= $start{i} AND time < $stop{i}"
)


def edges_request(ranges: Sequence[Range], first: bool, exchange: str) -> tuple[str, dict[str, str | int]]:
    """The statements (one per range, in order) and their bound parameters."""
    pick = "first" if first else "last"
    text = ";".join(_EDGE.format(pick=pick, i=i) for i in range(len(ranges)))
    params: dict[str, str | int] = {"exchange": exchange}
    for i, edge in enumerate(ranges):
        params |= {f"symbol{i}": edge.symbol, f"start{i}": edge.start, f"stop{i}": edge.stop}
    return text, params


def edges_rows(ranges: Sequence[Range], body: bytes) -> list[dict[str, Any]]:
    """The rows of an answer to :func:`edges_request`: per range with a point, its symbol, bounds, time and
    fields (a field the point lacks is None). Raises PricecapError for a statement InfluxDB refused."""
    results = orjson.loads(body).get("results") or []
    rows = []
    for result in results:
        if "error" in result:
            raise PricecapError(f"InfluxDB refused the price-at statements: {result['error']}")
        edge = ranges[int(result["statement_id"])]
        for series in result.get("series") or []:
            columns = series["columns"]
            for values in series["values"]:
                found = dict(zip(columns, values, strict=True))
                rows.append(
                    {
                        "symbol": edge.symbol,
                        "start_ns": edge.start,
                        "stop_ns": edge.stop,
                        "time_ns": found["time"],
                        model.FIELD_TRADE_ID: found[columns[1]],
                        **{field: found.get(field) for field in model.FIELDS if field != model.FIELD_TRADE_ID},
                    }
                )
    return rows
