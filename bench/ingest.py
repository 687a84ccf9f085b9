"""Ingest benchmark: the fake exchange at rising trade rates -> ``pricecap collect`` -> the real influxd.

    python -m bench.ingest [--rates 25000,50000,100000] [--duration 20] [--symbols 8]
    python -m bench.ingest --rates "" --latency-rates 200,2000 --linger-ms 0,20,50    # latency against CPU
    python -m bench.ingest --rates 50000 --shards 1,2,4 --symbols 16 --latency-rates ""  # N shards, same rate
    python -m bench.ingest --rates 50000 --latency-rates "" --profile /tmp/p    # where the time goes (py-spy)

For each rate: a fresh bucket and collector process; trades are made and framed before timing starts, then
streamed at the rate for ``--duration`` seconds. Reported: whether every trade was stored (Flux count per
symbol against what was sent), how long the collector needed after the last frame to confirm everything
(``drain``; a rate is *sustained* when nothing was lost and the drain stayed under 2 s), CPU seconds per
million trades of the collector and of influxd (from /proc), trades per write request, and the collector's
peak RSS. With ``--shards``, each rate also runs as N collectors (``--shard K/N``, symbols chosen so that each
shard gets the same share of the flow), their CPU and memory summed. Then a latency
phase for each of ``--latency-rates`` (trades/s of one symbol) and ``--linger-ms``: a probe polls InfluxDB for
the newest stored trade id every 10 ms; the latency of a trade is from the moment the fake sent it to the
first probe that saw it; with it, the share of a core the collector used meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.common import cpu_s, table
from bench.harness import Bench, Process, benchmark, influx_env, latency, newest_id, peak_rss_mb, pricecap_collect
from bench.profile import hottest, record
from fake_binance import FakeBinance, Scenario
from pricecap.influxd import free_port
from pricecap.settings import InfluxSettings
from pricecap.shards import Shard, shard_of
from queries.api import trade_counts


def metric(metrics_port: int, prefix: str) -> int:
    """The sum of a collector's samples whose line starts with ``prefix`` (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return int(sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix)))


def written(metrics_port: int) -> int:
    """Trades the collector says InfluxDB confirmed."""
    return metric(metrics_port, "pricecap_trades_written_total")


def write_requests(metrics_port: int) -> int:
    """Write requests InfluxDB confirmed (the health points' included)."""
    return metric(metrics_port, 'pricecap_write_batches_total{outcome="success"}')


async def collector(
    settings: InfluxSettings,
    fake: FakeBinance,
    symbols: list[str],
    metrics_port: int,
    folder: Path,
    *options: str,
    shard: Shard | None = None,
) -> Process:
    """A running ``pricecap collect`` (with ``options``, of ``shard`` of the symbols) whose streams are all
    subscribed."""
    args = pricecap_collect(
        fake, symbols, "--metrics-port", str(metrics_port), "--spool-dir", str(folder / "spool"), *options
    )
    shard = shard or Shard()
    if shard.count > 1:
        args += ["--shard", str(shard)]
    process = Process(args, influx_env(settings), folder / "collector.log")
    await process.start()
    await fake.wait_for_subscribers(len(shard.select(symbols)))
    return process


async def throughput(
    bench: Bench, rate: int, duration: float, symbols: list[str], shards: int = 1, profile: Path | None = None
) -> dict[str, object]:
    """One rate step, by one collector or by ``shards`` collectors (``--shard K/N``) on one machine; the figures
    of the table row (CPU and peak RSS summed over the collectors). With ``profile``, py-spy samples the (first)
    collector while the trades stream, into that file."""
    settings = bench.bucket(f"ingest-{rate}-{shards}")
    count = int(rate * duration)
    async with FakeBinance(symbols, first_id=10_000_000) as fake:
        ticks = fake.prepare(Scenario(count=count, rate=rate))
        ports: list[int] = []
        while len(ports) < shards:  # one port each: free_port may give the same port twice
            ports += [port] if (port := free_port()) not in ports else []
        runs: list[Process] = []
        try:
            for k, port in enumerate(ports):
                folder = bench.workdir(f"{settings.bucket}-{k}")
                runs.append(await collector(settings, fake, symbols, port, folder, shard=Shard(k, shards)))
            await fake.wait_for_subscribers(len(symbols))  # every shard's (a shard's own wait counts the others' too)
            influxd_pid = bench.influxd.pid
            assert influxd_pid is not None
            sampler = None if profile is None else record(runs[0].pid, duration, profile)
            cpu0, influx_cpu0 = sum(cpu_s(r.pid) for r in runs), cpu_s(influxd_pid)
            started = time.monotonic()
            await fake.stream(ticks, rate, count)
            sent_s = time.monotonic() - started
            sent_done = time.monotonic()
            while sum(written(p) for p in ports) < count and time.monotonic() - sent_done < 60:
                await asyncio.sleep(0.05)
            drain_s = time.monotonic() - sent_done
            cpu = sum(cpu_s(r.pid) for r in runs) - cpu0
            influx_cpu, rss = cpu_s(influxd_pid) - influx_cpu0, sum(peak_rss_mb(r.pid) for r in runs)
            requests = sum(write_requests(p) for p in ports)
            if sampler is not None:
                await asyncio.to_thread(sampler.wait)
        except BaseException:
            for run in runs:  # none left behind, retrying for minutes against a server that is gone
                await run.stop(10)
            raise
        for run in runs:
            await run.stop(300)
    stored = sum(trade_counts(settings).values())
    lost = count - stored
    return {
        "rate": rate,
        "shards": shards,
        "sent": count,
        "send_s": round(sent_s, 2),
        "stored": stored,
        "lost": lost,
        "drain_s": round(drain_s, 2),
        "sustained": lost == 0 and drain_s < 2.0,
        "collector_cpu_s_per_M": round(cpu / count * 1e6, 2),
        "influxd_cpu_s_per_M": round(influx_cpu / count * 1e6, 2),
        "trades_per_request": round(count / max(requests, 1)),
        "peak_rss_mb": round(rss, 1),
    }


def shard_costs(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, object]]:
    """What N processes cost, from the throughput rows of each shard count N run at two rates or more: a
    least-squares line through the collectors' CPU a second against the trades a second, both over the window
    from the first frame to the drain's end. Its slope is the CPU a trade costs; its intercept, divided by N,
    what a process costs a second whatever its flow (idle work, timers, wake-ups). Shards add no CPU per trade
    when the slopes agree; the intercepts say what each more process costs."""
    costs = []
    for shards in sorted({row["shards"] for row in rows}):
        runs = [row for row in rows if row["shards"] == shards]
        if len({row["rate"] for row in runs}) < 2:
            continue
        windows = [row["send_s"] + row["drain_s"] for row in runs]
        rates = [row["sent"] / window for row, window in zip(runs, windows, strict=True)]
        cpu = [
            row["collector_cpu_s_per_M"] * row["sent"] / 1e6 / window for row, window in zip(runs, windows, strict=True)
        ]
        slope, intercept = statistics.linear_regression(rates, cpu)
        costs.append(
            {
                "shards": shards,
                "rates": " / ".join(f"{row['rate']:,}" for row in runs),
                "cpu_us_per_trade": round(slope * 1e6, 2),
                "fixed_ms_per_s_per_process": round(intercept * 1e3 / shards, 1),
            }
        )
    return costs


def balanced_symbols(count: int, shards: int) -> list[str]:
    """``count`` symbol names (rounded up to a multiple of ``shards``) that every shard count dividing ``shards``
    splits evenly, so that N collectors share the fake's round-robin flow equally."""
    per_shard = -(-count // shards)
    chosen: dict[int, list[str]] = {k: [] for k in range(shards)}
    i = 0
    while any(len(names) < per_shard for names in chosen.values()):
        name = f"SYM{i}USDT"
        if len(names := chosen[shard_of(name, shards)]) < per_shard:
            names.append(name)
        i += 1
    return sorted(name for names in chosen.values() for name in names)


async def latency_phase(bench: Bench, rate: int, linger_ms: float, duration: float) -> dict[str, object]:
    """Trade-to-queryable latency at ``rate`` trades/s of one symbol, and the collector's CPU meanwhile."""
    settings = bench.bucket(f"latency-{rate}-{linger_ms:g}")
    async with FakeBinance(["BTCUSDT"], first_id=1) as fake:
        folder = bench.workdir(settings.bucket)
        run = await collector(settings, fake, ["BTCUSDT"], free_port(), folder, "--linger-ms", f"{linger_ms:g}")
        scenario = Scenario(count=int(rate * duration), rate=rate)
        cpu0, started = cpu_s(run.pid), time.monotonic()
        with newest_id(settings, "BTCUSDT") as newest:
            result = await latency(fake, scenario, newest, first_id=1)
        core = (cpu_s(run.pid) - cpu0) / (time.monotonic() - started)
        await run.stop(300)
    return {"linger_ms": linger_ms, **result, "collector_core_pct": round(100 * core)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="25000,50000,100000,150000")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--latency-rates", default="200,2000", help="trades/s of one symbol, comma-separated")
    parser.add_argument("--linger-ms", default="20", help="the collector's --linger-ms values, comma-separated")
    parser.add_argument("--latency-duration", type=float, default=30.0)
    parser.add_argument("--profile", type=Path, help="py-spy each rate's collector into this folder (rate.txt)")
    parser.add_argument(
        "--shards", default="", help="shard counts N (comma-separated) each rate also runs as N collectors --shard K/N"
    )
    args = parser.parse_args()
    shard_counts = [int(n) for n in args.shards.split(",") if n]
    symbols = balanced_symbols(args.symbols, max(shard_counts, default=1))
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with benchmark() as bench:
        rows = []
        for rate in (int(r) for r in args.rates.split(",") if r):
            for shards in shard_counts or [1]:
                profile = None if args.profile is None else args.profile / f"collector-{rate}-{shards}.txt"
                rows.append(await throughput(bench, rate, args.duration, symbols, shards, profile))
                print(table(rows[-1:]), flush=True)
                if profile is not None:
                    print(f"\npy-spy of the collector ({profile})\n" + table(hottest(profile)), flush=True)
        if rows:
            print("\nThroughput (" + f"{len(symbols)} symbols, {args.duration:.0f} s per rate)\n" + table(rows))
            if costs := shard_costs(rows):
                print("\nCPU per trade and per process (a line through each N's rates)\n" + table(costs))
        latencies = []
        for rate in (int(r) for r in args.latency_rates.split(",") if r):
            for linger in (float(m) for m in args.linger_ms.split(",")):
                latencies.append(await latency_phase(bench, rate, linger, args.latency_duration))
                print(table(latencies[-1:]), flush=True)
        if latencies:
            print("\nTrade-to-queryable latency\n" + table(latencies))


if __name__ == "__main__":
    asyncio.run(main())
