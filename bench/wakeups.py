"""What a process pays to wake up for data, whatever it then does with it: the floor under every collector
process's fixed cost, which N shards pay N times.

    python -m bench.wakeups [--wakeups 1000] [--interval-ms 5]

A child process sends one message over loopback TCP every ``--interval-ms`` (the fake exchange's tick), and
this process waits for each: with a bare selector loop (a blocking ``select`` and a ``recv``: what the
operating system and the machine charge a wake-up), with an asyncio Protocol (what the event loop adds), and
with the collector's own :class:`~collector.stream.Connection` receiving one trade frame per tick from the fake
exchange (``bench.stages``' receive stage: what the WebSocket client adds). Microseconds of this process's CPU
(``time.process_time``) per wake-up.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import selectors
import socket
import time
from multiprocessing.process import BaseProcess

from bench.common import table
from bench.stages import receive


def _tick(sock: socket.socket, count: int, interval_s: float) -> None:
    """In the child: one byte every ``interval_s``, ``count`` times."""
    for _ in range(count):
        sock.send(b"x")
        time.sleep(interval_s)


def _ticking(count: int, interval_s: float) -> tuple[socket.socket, BaseProcess]:
    """This end of a loopback TCP connection (as the collector's streams are) whose other end a child process
    ticks into."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        theirs = socket.create_connection(server.getsockname())
        theirs.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each byte its own segment, as asyncio sends
        ours, _ = server.accept()
    child = multiprocessing.get_context("fork").Process(target=_tick, args=(theirs, count, interval_s))
    child.start()
    theirs.close()
    return ours, child


def selector_loop(count: int, interval_s: float) -> float:
    """CPU seconds a wake-up of a bare selector loop costs."""
    sock, child = _ticking(count + 1, interval_s)
    with sock, selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        received = len(sock.recv(64))  # the first wake-up starts the clock
        started = time.process_time()
        while received < count + 1:
            selector.select(5.0)
            received += len(sock.recv(64))
        cpu = time.process_time() - started
    child.join()
    return cpu / count


def asyncio_loop(count: int, interval_s: float) -> float:
    """CPU seconds a wake-up of an asyncio Protocol costs."""
    sock, child = _ticking(count + 1, interval_s)

    async def run() -> float:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        started = [0.0]

        class Counter(asyncio.Protocol):
            received = 0

            def data_received(self, data: bytes) -> None:
                if not self.received:
                    started[0] = time.process_time()
                self.received += len(data)
                if self.received >= count + 1:
                    done.set_result(time.process_time() - started[0])

        transport, _ = await loop.connect_accepted_socket(Counter, sock)
        cpu: float = await done
        transport.close()
        return cpu

    cpu = asyncio.run(run())
    child.join()
    return cpu / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wakeups", type=int, default=1000)
    parser.add_argument("--interval-ms", type=float, default=5.0)
    args = parser.parse_args()
    interval_s = args.interval_ms / 1000
    rate = round(1 / interval_s)
    _, connection_cpu = receive(["BTCUSDT"], args.wakeups, rate)
    rows = [
        ("bare selector loop (select + recv)", selector_loop(args.wakeups, interval_s)),
        ("asyncio Protocol", asyncio_loop(args.wakeups, interval_s)),
        ("the collector's Connection, one trade frame a tick", connection_cpu / args.wakeups),
    ]
    print(
        f"CPU per wake-up, one message every {args.interval_ms:g} ms, {args.wakeups} wake-ups\n"
        + table([{"waiting with": name, "us_cpu_per_wakeup": round(cpu * 1e6, 1)} for name, cpu in rows])
    )


if __name__ == "__main__":
    main()
