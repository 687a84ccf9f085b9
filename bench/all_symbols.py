"""All-symbols benchmark: ``pricecap collect --all-symbols`` on 1,600 symbols with skewed rates, one full drop.

    python -m bench.all_symbols [--symbols 1600] [--rate 3000] [--skew 1.2] [--before 30] [--drop 5] [--after 30]

The fake exchange lists ``--symbols`` symbols and trades ``--rate`` trades/s over them, each trade's symbol
drawn with weight ``1 / rank ** skew`` (a few busy markets, most quiet, as on the live exchange). After
``--before`` seconds every connection is cut and new ones are refused for ``--drop`` seconds; trading goes on
for ``--after`` seconds more. Reported: the collector's CPU (share of one core) and peak RSS in the steady
phase before the drop; the time from the collector's reconnection (every shard connected again) until the
last trade it missed is stored, the REST weight the repair spent and its requests per endpoint; and whether
the stored ids are exactly the fake's from each symbol's first stored id on.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

from bench.common import cpu_s, table
from bench.harness import Bench, Process, benchmark, influx_env, peak_rss_mb, pricecap_collect, stored_ids_by_symbol
from fake_binance import FakeBinance, Scenario
from pricecap.settings import InfluxSettings


def expected(fake: FakeBinance, stored: dict[str, list[int]]) -> dict[str, list[int]]:
    """Every id the fake made from each symbol's first stored id on."""
    return {s: [i for i in fake.ledger.ids(s) if i >= ids[0]] for s, ids in stored.items() if ids}


async def run(bench: Bench, args: argparse.Namespace) -> dict[str, object]:
    """One all-symbols run; the figures of the table row."""
    settings: InfluxSettings = bench.bucket("all-symbols")
    symbols = [f"S{i:04d}USDT" for i in range(args.symbols)]
    duration = args.before + args.drop + args.after
    scenario = Scenario(count=int(args.rate * duration), rate=args.rate, skew=args.skew)
    async with FakeBinance(symbols) as fake:
        folder = bench.workdir(settings.bucket)
        command = pricecap_collect(fake, [], "--all-symbols", "--metrics-port", "0", "--spool-dir", str(folder))
        async with Process(command, influx_env(settings), folder / "collector.log") as collector:
            await fake.wait_for_subscribers(len(symbols), timeout_s=120)
            shards = fake.connections_made
            playing = asyncio.create_task(fake.play(scenario))
            await asyncio.sleep(5.0)  # warm-up
            cpu0, started = cpu_s(collector.pid), time.monotonic()
            await asyncio.sleep(args.before - 5.0)
            core = (cpu_s(collector.pid) - cpu0) / (time.monotonic() - started)
            rss = peak_rss_mb(collector.pid)
            weight0, requests0 = fake.rest.weight_spent, len(fake.rest.requests)
            fake.drop_connections(refuse_for_s=args.drop)
            while fake.connections_made < 2 * shards:
                await asyncio.sleep(0.05)
            reconnected = time.monotonic()
            stored: dict[str, list[int]] = {}
            while time.monotonic() - reconnected < 600:
                stored = await asyncio.to_thread(stored_ids_by_symbol, settings)
                if stored == expected(fake, stored):
                    break
                await asyncio.sleep(0.5)
            repaired_s = time.monotonic() - reconnected
            weight = fake.rest.weight_spent - weight0
            requests = Counter(path.rsplit("/", 1)[1] for path in fake.rest.requests[requests0:])
            await playing
    return {
        "symbols": args.symbols,
        "trades/s": args.rate,
        "skew": args.skew,
        "collector CPU (core)": f"{core:.0%}",
        "peak RSS MiB": round(rss, 1),
        "drop s": args.drop,
        "last missed trade stored after reconnection s": round(repaired_s, 1),
        "REST weight": weight,
        "REST requests": ", ".join(f"{n} {path}" for path, n in sorted(requests.items())),
        "exact": stored == expected(fake, stored),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=1_600)
    parser.add_argument("--rate", type=float, default=3_000.0, help="trades/s over all symbols")
    parser.add_argument("--skew", type=float, default=1.2, help="a symbol's rate is proportional to 1/rank**skew")
    parser.add_argument("--before", type=float, default=30.0, help="seconds of trading before the drop")
    parser.add_argument("--drop", type=float, default=5.0, help="seconds every connection is refused")
    parser.add_argument("--after", type=float, default=30.0, help="seconds of trading after the drop")
    args = parser.parse_args()
    with benchmark() as bench:
        print(table([await run(bench, args)]))


if __name__ == "__main__":
    asyncio.run(main())
