"""bench.compare in a tiny mode: influxdb-client batching and pricecap through every phase, counts read back.

Timings are the benchmark's business, not the test's: only the counts' sanity and the report are checked.
cryptofeed is not installed in CI, and not run here. The report is drawn from the run's JSON record, as
``--replot`` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.compare import Config, Record, compare, contenders, write_report
from bench.harness import benchmark

pytestmark = pytest.mark.integration
TINY = Config(
    rates=[400],
    duration_s=2.0,
    symbols=2,
    drain_timeout_s=20.0,
    latency_rate=100,
    latency_duration_s=2.0,
    fault_rate=300,
    fault_duration_s=4.0,
    outage_s=2.0,
    fault_stall_s=20.0,
)


async def test_batching_and_pricecap_side_by_side(tmp_path: Path) -> None:
    with benchmark() as bench:
        outcomes = await compare(bench, TINY, contenders(["batching", "pricecap"]))
    assert [o.name for o in outcomes] == ["batching", "pricecap"]
    for outcome in outcomes:
        assert [s.rate for s in outcome.steps][:1] == [400]
        for step in outcome.steps:
            assert step.sent == int(step.rate * TINY.duration_s)
            assert 0 < step.stored <= step.sent
        drop, outage = outcome.faults["dropped socket"], outcome.faults["2 s InfluxDB outage"]
        assert (drop.sent, outage.sent) == (1_200, 1_800)
        assert 0 < drop.stored <= drop.sent and 0 < outage.stored <= outage.sent
        assert outcome.p99_latency_s is not None and outcome.p99_latency_s > 0

    Record("python -m bench.compare (test)", "today", "", TINY, outcomes).write(tmp_path / "compare.json")
    write_report(Record.read(tmp_path / "compare.json"), tmp_path)
    report = (tmp_path / "compare.md").read_text()
    assert "| pricecap |" in report and "| (b) influxdb-client batching, Point per trade |" in report
    assert (tmp_path / "compare.png").read_bytes().startswith(b"\x89PNG")
