"""Ingest benchmark: the fake exchange at rising trade rates -> ``pricecap collect`` -> the real influxd.

    python -m bench.ingest [--rates 25000,50000,100000] [--duration 20] [--symbols 8]

For each rate: a fresh bucket and collector process; trades are made and framed before timing starts, then
streamed at the rate for ``--duration`` seconds. Reported: whether every trade was stored (Flux count per
symbol against what was sent), how long the collector needed after the last frame to confirm everything
(``drain``; a rate is *sustained* when nothing was lost and the drain stayed under 2 s), CPU seconds per
million trades of the collector and of influxd (from /proc), and the collector's peak RSS. Then a latency
phase at ``--latency-rate`` trades/s: a probe polls InfluxDB for the newest stored trade id every 50 ms;
the latency of a trade is from the moment the fake sent it to the first probe that saw it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.common import cpu_s, table
from fake_binance import FakeBinance, Scenario
from pricecap import flux
from pricecap.influx import connect
from pricecap.influxd import InfluxdServer, Onboarding, ensure_binary, free_port
from pricecap.settings import InfluxSettings
from queries.stored import trade_counts

NEWEST_FLUX = """
from(bucket: params.bucket) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "trades" and r.symbol == params.symbol and r._field == "trade_id")
  |> max()
"""


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def written(metrics_port: int) -> int:
    """Trades the collector says InfluxDB confirmed (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return int(
        sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("pricecap_trades_written_total"))
    )


@dataclass
class Run:
    """One collector process against one fresh bucket."""

    influxd: InfluxdServer
    settings: InfluxSettings
    fake: FakeBinance
    metrics_port: int
    process: asyncio.subprocess.Process | None = None

    async def start(self, symbols: list[str], flush_interval_ms: int = 1_000) -> None:
        assert self.settings.token is not None and self.settings.org is not None
        env = {
            **os.environ,
            "INFLUXDB_V2_URL": self.settings.url,
            "INFLUXDB_V2_TOKEN": self.settings.token.get_secret_value(),
            "INFLUXDB_V2_ORG": self.settings.org,
            "INFLUXDB_V2_BUCKET": self.settings.bucket,
        }
        args = [a for s in symbols for a in ("--symbol", s)]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pricecap", "collect", *args, "--ws-url", self.fake.ws_url,
            "--rest-url", self.fake.rest_url, "--metrics-port", str(self.metrics_port), "--log-level", "WARNING",
            "--flush-interval-ms", str(flush_interval_ms), env=env,
        )  # fmt: skip
        await self.fake.wait_for_subscribers(len(symbols))

    async def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), 300)


def new_bucket(influxd: InfluxdServer, base: InfluxSettings, name: str) -> InfluxSettings:
    """A fresh bucket on the benchmark's server."""
    with connect(base) as client:
        client.buckets_api().create_bucket(bucket_name=name, org=base.org)
    return base.model_copy(update={"bucket": name})


async def throughput(
    influxd: InfluxdServer, base: InfluxSettings, rate: int, duration: float, symbols: list[str]
) -> dict[str, object]:
    """One rate step; the figures of the table row."""
    settings = new_bucket(influxd, base, f"ingest-{rate}")
    count = int(rate * duration)
    async with FakeBinance(symbols, first_id=10_000_000) as fake:
        ticks = fake.prepare(Scenario(count=count, rate=rate))
        run = Run(influxd, settings, fake, free_port())
        await run.start(symbols)
        assert run.process is not None
        pid, influxd_pid = run.process.pid, influxd.pid
        assert influxd_pid is not None
        cpu0, influx_cpu0 = cpu_s(pid), cpu_s(influxd_pid)
        started = time.monotonic()
        await fake.stream(ticks, rate, count)
        sent_s = time.monotonic() - started
        sent_done = time.monotonic()
        while written(run.metrics_port) < count and time.monotonic() - sent_done < 60:
            await asyncio.sleep(0.05)
        drain_s = time.monotonic() - sent_done
        cpu, influx_cpu, rss = cpu_s(pid) - cpu0, cpu_s(influxd_pid) - influx_cpu0, peak_rss_mb(pid)
        await run.stop()
    stored = sum(trade_counts(settings).values())
    lost = count - stored
    return {
        "rate": rate,
        "sent": count,
        "send_s": round(sent_s, 2),
        "stored": stored,
        "lost": lost,
        "drain_s": round(drain_s, 2),
        "sustained": lost == 0 and drain_s < 2.0,
        "collector_cpu_s_per_M": round(cpu / count * 1e6, 2),
        "influxd_cpu_s_per_M": round(influx_cpu / count * 1e6, 2),
        "peak_rss_mb": round(rss, 1),
    }


async def latency(influxd: InfluxdServer, base: InfluxSettings, rate: int, duration: float) -> dict[str, float]:
    """Trade-to-queryable latency at ``rate`` trades/s of one symbol, flush interval 1 s."""
    settings = new_bucket(influxd, base, f"latency-{rate}")
    first_id = 1
    probes: list[tuple[float, int]] = []
    async with FakeBinance(["BTCUSDT"], first_id=first_id) as fake:
        run = Run(influxd, settings, fake, free_port())
        await run.start(["BTCUSDT"])
        count = int(rate * duration)
        playing = asyncio.create_task(fake.play(Scenario(count=count, rate=rate)))

        with connect(settings) as client:
            query = client.query_api()
            values = flux.params({"bucket": settings.bucket, "symbol": "BTCUSDT"})

            def newest() -> int:
                tables = query.query(NEWEST_FLUX, params=values)
                return max((int(r.get_value()) for t in tables for r in t.records), default=0)

            while True:
                seen = await asyncio.to_thread(newest)
                probes.append((time.time(), seen))
                if seen >= first_id + count - 1:
                    break
                await asyncio.sleep(0.05)
        await playing
        sent_at = fake.sent_at
        await run.stop()
    latencies = []
    probe_index = 0
    previous_made = 0
    for made, sent_time in sent_at:
        newest_id = first_id + made - 1
        while probes[probe_index][1] < newest_id:
            probe_index += 1
        latencies.extend([probes[probe_index][0] - sent_time] * (made - previous_made))
        previous_made = made
    quantiles = statistics.quantiles(latencies, n=100)
    return {"rate": rate, "trades": len(latencies), "p50_s": round(quantiles[49], 3), "p99_s": round(quantiles[98], 3)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="25000,50000,100000,150000")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--latency-rate", type=int, default=1_000)
    parser.add_argument("--latency-duration", type=float, default=30.0)
    args = parser.parse_args()
    symbols = [f"SYM{i}USDT" for i in range(args.symbols)]
    with tempfile.TemporaryDirectory(prefix="pricecap-bench-") as folder:
        influxd = InfluxdServer(ensure_binary(), Path(folder))
        with influxd:
            base = influxd.onboard(Onboarding.generate())
            rows = []
            for rate in (int(r) for r in args.rates.split(",")):
                rows.append(await throughput(influxd, base, rate, args.duration, symbols))
                print(table(rows[-1:]), flush=True)
            print("\nThroughput (" + f"{args.symbols} symbols, {args.duration:.0f} s per rate)\n" + table(rows))
            if args.latency_duration > 0:
                result = await latency(influxd, base, args.latency_rate, args.latency_duration)
                print("\nTrade-to-queryable latency (flush interval 1 s)\n" + table([result]))


if __name__ == "__main__":
    asyncio.run(main())
