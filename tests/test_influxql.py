"""The InfluxQL statements of the batch price-at, and the reading of their answer (no server here; the
answers themselves are checked against the real influxd in test_queries)."""

from __future__ import annotations

import orjson
import pytest

from pricecap.errors import PricecapError
from queries import influxql
from queries.answers import Range

HOSTILE = "X' OR '1'='1\"; DROP MEASUREMENT trades"


def test_every_value_is_a_bound_parameter_never_text() -> None:
    ranges = [Range("BTCUSDT", 1, 2), Range(HOSTILE, 3, 4)]
    text, params = influxql.edges_request(ranges, first=False, exchange=HOSTILE)
    assert text.count("SELECT last(trade_id), price, qty, buyer_maker FROM") == 2
    assert HOSTILE not in text and "BTCUSDT" not in text
    assert params == {
        "exchange": HOSTILE,
        "symbol0": "BTCUSDT",
        "start0": 1,
        "stop0": 2,
        "symbol1": HOSTILE,
        "start1": 3,
        "stop1": 4,
    }
    assert influxql.edges_request(ranges, first=True, exchange="binance")[0].startswith("SELECT first(trade_id)")


def test_rows_find_their_range_by_statement_and_a_missing_field_is_none() -> None:
    ranges = [Range("A", 10, 20), Range("B", 30, 40), Range("C", 50, 60)]
    body = orjson.dumps(
        {
            "results": [
                {"statement_id": 2, "series": [{"columns": ["time", "last", "price"], "values": [[55, 7, 1.5]]}]},
                {"statement_id": 0},
                {
                    "statement_id": 1,
                    "series": [
                        {
                            "columns": ["time", "last", "price", "qty", "buyer_maker"],
                            "values": [[31, 4_199_999_999, 96130.82, 0.39571, False]],
                        }
                    ],
                },
            ]
        }
    )
    assert influxql.edges_rows(ranges, body) == [
        {"symbol": "C", "start_ns": 50, "stop_ns": 60, "time_ns": 55, "trade_id": 7, "price": 1.5, "qty": None}
        | {"buyer_maker": None},
        {
            "symbol": "B",
            "start_ns": 30,
            "stop_ns": 40,
            "time_ns": 31,
            "trade_id": 4_199_999_999,
            "price": 96130.82,
            "qty": 0.39571,
            "buyer_maker": False,
        },
    ]


def test_a_refused_statement_is_an_error() -> None:
    body = orjson.dumps({"results": [{"statement_id": 0, "error": "database not found: trades"}]})
    with pytest.raises(PricecapError, match="database not found"):
        influxql.edges_rows([Range("A", 1, 2)], body)
