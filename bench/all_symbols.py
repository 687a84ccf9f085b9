"""All-symbols benchmark: ``pricecap collect --all-symbols`` on 1,600 symbols with skewed rates, one full drop;
or, with ``--holes``, holes at the end of quiet streams.

    python -m bench.all_symbols [--symbols 1600] [--rate 3000] [--skew 1.2] [--before 30] [--drop 5] [--after 30]
    python -m bench.all_symbols --holes 8 [--symbols 1600] [--rate 3000] [--skew 1.2]

The fake exchange lists ``--symbols`` symbols and trades ``--rate`` trades/s over them, each trade's symbol
drawn with weight ``1 / rank ** skew`` (a few busy markets, most quiet, as on the live exchange). After
``--before`` seconds every connection is cut and new ones are refused for ``--drop`` seconds; trading goes on
for ``--after`` seconds more. Reported: the collector's CPU (share of one core) and peak RSS in the steady
phase before the drop; the time from the collector's reconnection (every shard connected again) until the
last trade it missed is stored, the REST weight the repair spent and its requests per endpoint; and whether
the stored ids are exactly the fake's from each symbol's first stored id on.

With ``--holes N``, every symbol trades once, then the market trades on at ``--rate`` (skewed) while, one
after the other at random moments, N symbols outside it trade four times each and the stream drops the last
three of those, the symbol then staying quiet. Reported per hole: the seconds from its last trade until
``/healthz`` counts the gap (``gaps``: a count, so a gap repaired between two looks is not missed), and until
the missing ids are stored; and the REST weight spent per minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import urllib3

from bench.common import cpu_s, table
from bench.harness import (
    Bench,
    Process,
    benchmark,
    influx_env,
    newest_id,
    peak_rss_mb,
    pricecap_collect,
    stored_ids_by_symbol,
)
from fake_binance import FakeBinance, Scenario
from pricecap.influxd import free_port
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


HOLE_SEED = 24
"""The random moments of the holes, the same in every run."""


def health(port: int) -> dict[str, Any]:
    """The collector's ``/healthz`` details (200 or 503)."""
    response = urllib3.request("GET", f"http://127.0.0.1:{port}/healthz", timeout=5)
    details: dict[str, Any] = orjson.loads(response.data)
    return details


async def quiet_holes(bench: Bench, args: argparse.Namespace) -> list[dict[str, object]]:
    """Holes at the end of quiet streams, one after the other: a table row per hole, then the longest times
    and the REST weight spent per minute."""
    settings: InfluxSettings = bench.bucket("quiet-holes")
    symbols = [f"S{i:04d}USDT" for i in range(args.symbols)]
    market, quiet = symbols[: -args.holes], symbols[-args.holes :]
    rng, port = random.Random(HOLE_SEED), free_port()
    times: list[tuple[str, float, float]] = []
    async with FakeBinance(symbols) as fake:
        folder = bench.workdir(settings.bucket)
        options = ("--all-symbols", "--metrics-port", str(port), "--spool-dir", str(folder))
        async with Process(pricecap_collect(fake, [], *options), influx_env(settings), folder / "collector.log"):
            await fake.wait_for_subscribers(len(symbols), timeout_s=120)
            await fake.play(Scenario(count=len(symbols), rate=4_000))  # every symbol has a last id
            steady = Scenario(count=int(args.rate * 3_600), rate=args.rate, skew=args.skew, symbols=tuple(market))
            playing = asyncio.create_task(fake.play(steady))
            started, weight0 = time.monotonic(), fake.rest.weight_spent
            for symbol in quiet:
                await asyncio.sleep(rng.uniform(0, 60))  # anywhere in the collector's minute of sweeps
                first, gaps = fake.ledger.markets[symbol].next_id, (await asyncio.to_thread(health, port))["gaps"]
                await fake.play(Scenario(count=4, rate=100, symbols=(symbol,), skip={symbol: [(first + 1, first + 3)]}))
                last_trade = time.monotonic()
                found_s = await seconds_until(lambda: health(port)["gaps"] > gaps, last_trade)  # noqa: B023
                with newest_id(settings, symbol) as newest:
                    stored_s = await seconds_until(lambda: newest() >= first + 3, last_trade)  # noqa: B023
                times.append((symbol, found_s, stored_s))
            weight_per_min = (fake.rest.weight_spent - weight0) / (time.monotonic() - started) * 60
            playing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await playing
    _, found, stored = zip(*times, strict=True)
    return [
        *({"hole": symbol, "found s": a, "stored s": b, "REST weight/min": ""} for symbol, a, b in times),
        {"hole": "longest", "found s": max(found), "stored s": max(stored), "REST weight/min": round(weight_per_min)},
    ]


async def seconds_until(done: Callable[[], bool], since: float, timeout_s: float = 600.0) -> float:
    """Seconds from ``since`` until ``done()`` (polled every 0.1 s in a thread) holds; inf after ``timeout_s``."""
    while not await asyncio.to_thread(done):
        if time.monotonic() - since > timeout_s:
            return float("inf")
        await asyncio.sleep(0.1)
    return round(time.monotonic() - since, 1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=1_600)
    parser.add_argument("--rate", type=float, default=3_000.0, help="trades/s over all symbols")
    parser.add_argument("--skew", type=float, default=1.2, help="a symbol's rate is proportional to 1/rank**skew")
    parser.add_argument("--before", type=float, default=30.0, help="seconds of trading before the drop")
    parser.add_argument("--drop", type=float, default=5.0, help="seconds every connection is refused")
    parser.add_argument("--after", type=float, default=30.0, help="seconds of trading after the drop")
    parser.add_argument("--holes", type=int, default=0, help="holes at the end of quiet streams, instead of a drop")
    args = parser.parse_args()
    with benchmark() as bench:
        print(table(await quiet_holes(bench, args) if args.holes else [await run(bench, args)]))


if __name__ == "__main__":
    asyncio.run(main())
