"""Where the collector's CPU goes, stage by stage: receive, decode, pipeline, encode, compress, write request,
and the bookkeeping around them.

    python -m bench.stages [--trades 300000] [--rate 50000] [--symbols 8] [--chunk-lines N] [--duration 10]
    python -m bench.stages --no-collector      # the stages only, without the whole collector's run

Each stage runs alone, in this process, on the same trades, and is timed in CPU seconds of this process
(``time.process_time``: all of its threads and none of any other process), which neighbours on a shared
machine move much less than wall-clock rates:

- *receive*: the fake exchange (a child process) streams the trades at ``--rate`` over one combined stream to
  the collector's own :class:`~collector.stream.Connection`, whose frame handler only keeps the frames;
- *decode*: :class:`~collector.decode.FrameDecoder` on those frames;
- *pipeline*: :meth:`TradePipeline.add <collector.pipeline.TradePipeline.add>` and chunking (validation, order,
  gaps, per-chunk accounting), less *encode*, which it includes;
- *encode*: :func:`pricecap.model.encode_line` alone;
- *compress*: gzip of the chunks' bodies at influxdb-client's level (9, what ``--gzip`` costs) and at level 1
  (shown apart: the collector sends plain text to a loopback InfluxDB, as here);
- *write request*: the chunks (``--chunk-lines`` trades each: by default as many as the collector's run put
  in a request) through the collector's
  :class:`~collector.writer.ChunkWriter` (influxdb-client's batching WriteApi) into a throwaway influxd, until
  every one is settled: the write threads and the settling callbacks included;
- *collector*: ``pricecap collect`` at ``--rate`` for ``--duration`` s (``bench.ingest``'s run), its own CPU per
  trade; *bookkeeping* is what it spends beyond receive + decode + pipeline + encode + write request: the
  event loop's scheduling, group commit, metrics, housekeeping.

Microseconds of CPU per trade; ``python -m bench.decode`` beside them says how fast the machine is.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import time
from collections.abc import Callable, Iterable
from multiprocessing.synchronize import Event

from bench.common import table
from bench.harness import Bench, benchmark
from bench.ingest import throughput
from collector.backoff import AttemptLimiter
from collector.decode import FrameDecoder, TradeEvent
from collector.pipeline import Chunk, TradePipeline
from collector.stats import Stats
from collector.stream import Connection, StreamOptions
from collector.writer import ChunkWriter, WriterOptions
from fake_binance import FakeBinance, Scenario
from pricecap import model

COLLECTOR_CHUNK_LINES = 10_000
"""``pricecap collect --chunk-lines``' default: the write stage's request size without the collector's run."""
GZIP_CLIENT_LEVEL = 9
"""influxdb-client compresses a write with ``gzip.compress(body)``: level 9."""


def _serve(symbols: list[str], trades: int, rate: int, url: multiprocessing.Queue[str], go: Event) -> None:
    """The fake exchange's process: make the trades, then stream them at ``rate`` once told to."""

    async def serve() -> None:
        async with FakeBinance(symbols, first_id=10_000_000) as fake:
            ticks = fake.prepare(Scenario(count=trades, rate=rate))
            url.put(fake.ws_url)
            await fake.wait_for_subscribers(len(symbols))
            await asyncio.to_thread(go.wait)
            await fake.stream(ticks, rate, trades)
            await asyncio.sleep(2)  # the last frames leave before the server closes

    asyncio.run(serve())


async def _receive(url: str, symbols: list[str], trades: int, go: Event) -> tuple[list[bytes], float]:
    """The frames of ``trades`` trades read by the collector's Connection, and its CPU seconds doing so."""
    frames: list[bytes] = []
    got_all = asyncio.Event()
    started = 0.0

    def keep(frame: bytes) -> bool:
        nonlocal started
        if not frames:
            started = time.process_time()
        frames.append(frame)
        if len(frames) == trades:
            got_all.set()
        return True

    async def room() -> None:
        return None

    stats = Stats({})
    connection = Connection(0, symbols, keep, stats, AttemptLimiter(), StreamOptions(), room, lambda _: None, url)
    reading = asyncio.create_task(connection.run())
    while not stats.connections_up:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # the subscription check (LIST_SUBSCRIPTIONS) is answered before timing starts
    go.set()
    await got_all.wait()
    cpu = time.process_time() - started
    await connection.stop()
    await reading
    return frames, cpu


def receive(symbols: list[str], trades: int, rate: int) -> tuple[list[bytes], float]:
    """Run the fake exchange in a child process and receive its trades here."""
    context = multiprocessing.get_context("spawn")
    url: multiprocessing.Queue[str] = context.Queue()
    go = context.Event()
    server = context.Process(target=_serve, args=(symbols, trades, rate, url, go))
    server.start()
    try:
        return asyncio.run(_receive(url.get(timeout=120), symbols, trades, go))
    finally:
        server.join(30)
        server.kill()


def cpu_of(work: Callable[[], object]) -> float:
    """CPU seconds of this process while ``work`` runs."""
    started = time.process_time()
    work()
    return time.process_time() - started


def chunks_of(events: Iterable[TradeEvent], symbols: list[str], chunk_lines: int) -> list[Chunk]:
    """The chunks the pipeline makes of ``events``."""
    pipeline = TradePipeline(symbols, chunk_lines=chunk_lines)
    chunks = []
    for event in events:
        if pipeline.add(event) and pipeline.full():
            chunks.append(pipeline.take_chunk())
    chunks.append(pipeline.take_chunk())
    return [c for c in chunks if c is not None]


def encode(events: list[TradeEvent]) -> None:
    prefixes = {s: model.series_prefix(model.EXCHANGE_BINANCE, s) for s in {e.s for e in events}}
    for e in events:
        model.encode_line(prefixes[e.s], e.t, e.p, e.q, e.T, e.m)


def compress(bodies: list[bytes], level: int) -> float:
    """CPU seconds of gzip at ``level`` over ``bodies``."""
    return cpu_of(lambda: [gzip.compress(body, level) for body in bodies])


def write(bench: Bench, chunks: list[Chunk]) -> float:
    """CPU seconds of writing ``chunks`` through the ChunkWriter until every one is settled."""
    settings = bench.bucket(f"stages-{time.monotonic_ns()}")
    writer = ChunkWriter(settings, WriterOptions(), Stats({}))
    started = time.process_time()
    for chunk in chunks:
        writer.submit(chunk)
    while writer.pending:
        time.sleep(0.001)
    cpu = time.process_time() - started
    writer.close()
    assert writer.stats.write_batches["success"] == len(chunks), writer.stats.write_batches
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trades", type=int, default=300_000, help="trades through each stage")
    parser.add_argument("--rate", type=int, default=50_000, help="trades/s of the receive stage and the collector")
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument(
        "--chunk-lines", type=int, help="trades per write request [default: as many as the collector's run made]"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the whole collector's run")
    parser.add_argument("--no-collector", action="store_true", help="skip the whole collector's run")
    args = parser.parse_args()
    symbols = [f"SYM{i}USDT" for i in range(args.symbols)]
    frames, receive_cpu = receive(symbols, args.trades, args.rate)
    decoder = FrameDecoder()
    events = [e for f in frames if type(e := decoder.decode(f)) is TradeEvent]
    assert len(events) == args.trades, f"{len(events)} trades decoded of {args.trades}"
    with benchmark() as bench:
        whole = None if args.no_collector else asyncio.run(throughput(bench, args.rate, args.duration, symbols))
        chunk_lines = args.chunk_lines or (int(str(whole["trades_per_request"])) if whole else COLLECTOR_CHUNK_LINES)
        chunks = chunks_of(events, symbols, chunk_lines)
        bodies = [c.body().encode() for c in chunks]
        cpu = {
            "receive": receive_cpu,
            "decode": cpu_of(lambda: [decoder.decode(f) for f in frames]),
            "pipeline": cpu_of(lambda: chunks_of(events, symbols, chunk_lines)) - cpu_of(lambda: encode(events)),
            "encode": cpu_of(lambda: encode(events)),
            "write request": write(bench, chunks),
        }
    gzip_cpu = {level: compress(bodies, level) for level in (GZIP_CLIENT_LEVEL, 1)}
    us = {stage: round(seconds / args.trades * 1e6, 2) for stage, seconds in cpu.items()}
    rows: list[dict[str, object]] = [{"stage": stage, "us_per_trade": value} for stage, value in us.items()]
    rows.append({"stage": "sum of the stages", "us_per_trade": round(sum(us.values()), 2)})
    if whole is not None:
        collector = float(str(whole["collector_cpu_s_per_M"]))
        rows.append({"stage": "bookkeeping (collector - sum)", "us_per_trade": round(collector - sum(us.values()), 2)})
        rows.append({"stage": f"collector at {args.rate:,}/s", "us_per_trade": collector})
    for level, seconds in gzip_cpu.items():
        rows.append({"stage": f"(compress: gzip level {level})", "us_per_trade": round(seconds / args.trades * 1e6, 2)})
    size = sum(len(b) for b in bodies) / args.trades
    print(f"{args.trades:,} trades of {args.symbols} symbols received at {args.rate:,}/s, {size:.0f} bytes of "
          f"line protocol each, written in {len(chunks)} requests of {chunk_lines:,}")  # fmt: skip
    print(table(rows))
    if whole is not None:
        print("\ncollector run (bench.ingest)\n" + table([whole]))


if __name__ == "__main__":
    main()
