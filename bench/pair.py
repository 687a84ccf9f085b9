"""Pair benchmark: what a redundant pair costs InfluxDB, which receives every trade twice.

    python -m bench.pair [--trades 300000] [--rate 20000] [--symbols 4] [--repeat 3]

Each run: a fresh bucket and fake exchange, then one collector (``once``) or two (``twice``, a pair of the same
symbols, each with its own spool and instance) subscribed; the trades are made and framed before timing starts,
then streamed at ``--rate``. influxd's CPU time (``/proc/<pid>/stat``) is read before the first frame and after
every collector has had every trade confirmed and influxd is idle again; influxd's idle CPU (measured for 3 s
before each run) is subtracted. Reported per run: influxd CPU microseconds per trade and the points stored
(the same for both: the second copy's points land on the first copy's). Then the medians, and the extra CPU
per trade that the second copy costs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.common import cpu_s, table
from bench.harness import Bench, Process, benchmark, influx_env, pricecap_collect, stored_count
from bench.ingest import written
from fake_binance import FakeBinance, Scenario
from pricecap import model
from pricecap.influxd import free_port

IDLE_SAMPLE_S = 3.0
QUIET_CORE_SHARE = 0.05
"""influxd counts as idle again once it uses less than this share of a core above its idle rate for 1 s."""


def influxd_pid(bench: Bench) -> int:
    pid = bench.influxd.pid
    assert pid is not None, "influxd is not running"
    return pid


async def idle_rate(pid: int) -> float:
    """influxd's CPU seconds per second while nothing is written."""
    before, started = cpu_s(pid), time.monotonic()
    await asyncio.sleep(IDLE_SAMPLE_S)
    return (cpu_s(pid) - before) / (time.monotonic() - started)


async def until_quiet(pid: int, idle: float, timeout_s: float = 60.0) -> None:
    """Wait until influxd's CPU over one second is back near its idle rate (compactions of the run done)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = cpu_s(pid)
        await asyncio.sleep(1.0)
        if cpu_s(pid) - before < idle + QUIET_CORE_SHARE:
            return


async def run(bench: Bench, copies: int, trades: int, rate: int, symbols: list[str], index: int) -> dict[str, object]:
    """One run of ``copies`` collectors writing the same ``trades`` into a fresh bucket."""
    name = f"pair-{index}-{copies}"
    settings = bench.bucket(name)
    folder = bench.workdir(name)
    pid = influxd_pid(bench)
    async with FakeBinance(symbols, first_id=10_000_000) as fake:
        ticks = fake.prepare(Scenario(count=trades, rate=rate))
        ports = [free_port() for _ in range(copies)]
        collectors = []
        for k, port in enumerate(ports):
            own = ("--metrics-port", str(port), "--spool-dir", str(folder / f"spool-{k}"), "--instance", f"copy-{k}")
            args = pricecap_collect(fake, symbols, *own, "--repair-window", "0")
            collectors.append(Process(args, influx_env(settings), folder / f"collector-{k}.log"))
        for collector in collectors:
            await collector.start()
        while len(fake.live()) < copies:
            await asyncio.sleep(0.05)
        await fake.wait_for_subscribers(len(symbols))
        idle = await idle_rate(pid)
        cpu0, started = cpu_s(pid), time.monotonic()
        await fake.stream(ticks, rate, trades)
        while any(written(port) < trades for port in ports) and time.monotonic() - started < 600:
            await asyncio.sleep(0.1)
        await until_quiet(pid, idle)
        cpu = cpu_s(pid) - cpu0 - idle * (time.monotonic() - started)
        for collector in collectors:
            await collector.stop(300)
    points = stored_count(settings, model.MEASUREMENT, model.FIELD_TRADE_ID)
    return {
        "copies": copies,
        "trades": trades,
        "points_stored": points,
        "influxd_cpu_s": round(cpu, 2),
        "influxd_us_per_trade": round(cpu / trades * 1e6, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trades", type=int, default=300_000)
    parser.add_argument("--rate", type=int, default=20_000, help="trades/s the fake streams")
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind, alternated")
    args = parser.parse_args()
    symbols = [f"SYM{i}USDT" for i in range(args.symbols)]
    rows: list[dict[str, object]] = []
    with benchmark() as bench:
        for index in range(args.repeat):
            for copies in (1, 2):
                rows.append(await run(bench, copies, args.trades, args.rate, symbols, index))
                print(table(rows[-1:]), flush=True)
    per_trade = {
        copies: statistics.median(float(str(r["influxd_us_per_trade"])) for r in rows if r["copies"] == copies)
        for copies in (1, 2)
    }
    print(f"\n{args.trades:,} trades at {args.rate:,}/s over {args.symbols} symbols, {args.repeat} runs each\n")
    print(table(rows))
    extra = per_trade[2] - per_trade[1]
    print(
        f"\ninfluxd CPU per trade, median: once {per_trade[1]:.2f} µs, twice {per_trade[2]:.2f} µs; "
        f"the second copy costs {extra:.2f} µs per trade ({extra / per_trade[1]:.0%} more)"
    )


if __name__ == "__main__":
    asyncio.run(main())
