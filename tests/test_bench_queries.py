"""bench.queries on a tiny dataset: its load stores every generated trade and every answer it times is right.

No timing is asserted: the benchmark's figures belong in its report, not in a test.
"""

from __future__ import annotations

import pytest

from bench.queries import measure, wait_until_counted
from bench.trades import Dataset, load
from pricecap.influxd import InfluxdServer
from pricecap.settings import InfluxSettings


def test_same_seed_same_history() -> None:
    first, second = Dataset(trades=5_000).histories(), Dataset(trades=5_000).histories()
    lines = [list(Dataset(trades=5_000).generate(h, 1_000)) for h in (first, second)]
    assert lines[0] == lines[1]
    assert [len(h.ticks) for h in first] == [h.count for h in first]
    for history in first:
        assert list(history.times_ms) == sorted(history.times_ms)
        assert len(set(history.times_ms)) < history.count  # same-millisecond bursts


@pytest.mark.integration
def test_answers_equal_the_generated_trades(settings: InfluxSettings, influxd: InfluxdServer) -> None:
    dataset = Dataset(trades=20_000)
    histories = dataset.histories()
    loaded = load(settings, dataset, histories, batch=3_000, writers=2)
    assert loaded.trades == 20_000
    wait_until_counted(settings, histories, timeout_s=60)

    results = measure(
        settings, dataset, histories, instants=30, runs=2, stream=200, batches=(50, 100), influxd_pid=influxd.pid
    )

    assert {r.query for r in results} >= {
        "price_at",
        "price_at nearest",
        "prices_at",
        "iter_prices_at (streamed)",
        "high_low",
        "candles 1d",
    }
    for result in results:
        assert result.answers > 0, result.query
        assert result.wrong == 0, result.row()
        assert len(result.influxd_cpu_ms) == len(result.latencies_ms), result.query
