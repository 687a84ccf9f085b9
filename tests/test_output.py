"""Printing rows: a stream of rows printed in blocks reads as the whole would (CSV, JSON) or block-aligned."""

from __future__ import annotations

import json

import pytest

from queries.output import Format, Row, render, render_stream

ROWS: list[Row] = [{"symbol": "BTCUSDT", "price": 97000.5 + i, "trade_id": i, "maker": i % 2 == 0} for i in range(7)]


@pytest.mark.parametrize("output", ["csv", "json"])
@pytest.mark.parametrize("block", [1, 3, 7, 100])
def test_csv_and_json_streamed_in_blocks_equal_the_whole(output: Format, block: int) -> None:
    assert "\n".join(render_stream(iter(ROWS), output, block)) == render(ROWS, output)


def test_json_of_no_rows_is_an_empty_array_and_a_table_is_one_header() -> None:
    assert json.loads("\n".join(render_stream(iter([]), "json", 3))) == []
    lines = "\n".join(render_stream(iter(ROWS), "table", 3)).splitlines()
    assert len(lines) == len(ROWS) + 1
    assert lines[0].split() == ["symbol", "price", "trade_id", "maker"]
