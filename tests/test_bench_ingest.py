"""bench.ingest's split of the collectors' CPU into a cost per trade and a cost per process."""

from __future__ import annotations

import pytest

from bench.ingest import shard_costs


def row(rate: int, shards: int, fixed_s: float, per_trade_s: float) -> dict[str, object]:
    """A throughput row of 20 s of flow and a 0.5 s drain, whose CPU is ``fixed_s`` a second per process plus
    ``per_trade_s`` a trade."""
    sent, window_s = rate * 20, 20.5
    cpu = shards * fixed_s * window_s + per_trade_s * sent
    return {"rate": rate, "shards": shards, "sent": sent, "send_s": 20.0, "drain_s": 0.5,
            "collector_cpu_s_per_M": round(cpu / sent * 1e6, 2)}  # fmt: skip


def test_the_cost_per_trade_and_per_process_come_back_from_rows_at_several_rates() -> None:
    rows = [row(rate, n, fixed_s=0.030, per_trade_s=4.5e-6) for n in (1, 2, 4) for rate in (20_000, 50_000, 80_000)]
    rows.append(row(50_000, 8, fixed_s=0.030, per_trade_s=4.5e-6))  # one rate only: no line through it

    costs = shard_costs(rows)

    assert [c["shards"] for c in costs] == [1, 2, 4]
    for cost in costs:  # within what the rows' rounding to 0.01 s per million trades leaves
        assert cost["cpu_us_per_trade"] == pytest.approx(4.5, abs=0.02)
        assert cost["fixed_ms_per_s_per_process"] == pytest.approx(30.0, abs=0.5)
    assert costs[0]["rates"] == "20,000 / 50,000 / 80,000"


def test_a_shard_count_whose_trades_cost_more_shows_it_in_the_slope_not_the_intercept() -> None:
    rows = [row(rate, 1, 0.030, 4.5e-6) for rate in (20_000, 80_000)]
    rows += [row(rate, 4, 0.030, 5.5e-6) for rate in (20_000, 80_000)]

    one, four = shard_costs(rows)

    assert (one["cpu_us_per_trade"], four["cpu_us_per_trade"]) == (
        pytest.approx(4.5, abs=0.02),
        pytest.approx(5.5, abs=0.02),
    )
    assert four["fixed_ms_per_s_per_process"] == pytest.approx(one["fixed_ms_per_s_per_process"], abs=0.5)
