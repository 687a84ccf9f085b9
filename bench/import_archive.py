"""Import benchmark: a generated Binance trade archive -> ``pricecap import`` -> the real influxd.

    python -m bench.import_archive [--rows 10000000] [--workers 4] [--batch-rows 50000]

The archive (a daily zip, microsecond times, as Binance publishes since 2025) is generated once and cached in
``~/.cache/pricecap/bench``. A fresh influxd takes the import; reported: rows/s over the whole command (read,
check, parse, validate, encode, write, confirmed), CPU seconds per million rows of the importer and of
influxd, the importer's peak RSS, and a Flux count that proves every row was stored.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.common import cpu_s
from pricecap.influxd import InfluxdServer, Onboarding, ensure_binary
from queries.api import trade_counts

CACHE = Path(os.environ.get("PRICECAP_CACHE", Path.home() / ".cache" / "pricecap")) / "bench"
START_US = 1_764_547_200_000_000  # 2025-12-01T00:00:00Z


def archive(rows: int) -> Path:
    """A cached ``BTCUSDT-trades-2025-12-01.zip`` of ``rows`` trades (same-microsecond bursts included)."""
    path = CACHE / f"{rows}" / "BTCUSDT-trades-2025-12-01.zip"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    cents, t = 9_700_000, START_US
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open(path.with_suffix(".csv").name, "w") as out:
        chunk = []
        for trade_id in range(1, rows + 1):
            cents += rng.randint(-30, 30)
            t += rng.choice((0, 0, 150, 8_000))
            qty = rng.randint(1, 99_999)
            chunk.append(f"{trade_id},{cents // 100}.{cents % 100:02d}000000,0.{qty:08d},1.0,{t},{qty % 2 == 0},True\n")
            if len(chunk) == 100_000:
                out.write("".join(chunk).encode())
                chunk = []
        out.write("".join(chunk).encode())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    args = parser.parse_args()
    started = time.monotonic()
    path = archive(args.rows)
    print(f"archive: {path} ({path.stat().st_size / 2**20:.0f} MiB), ready in {time.monotonic() - started:.0f} s")
    with tempfile.TemporaryDirectory() as data, InfluxdServer(ensure_binary(), Path(data)) as influxd:
        settings = influxd.onboard(Onboarding.generate())
        env = {**os.environ, **settings.environment()}
        exe = os.path.join(os.path.dirname(sys.executable), "pricecap")
        assert influxd.pid is not None
        influxd_cpu = cpu_s(influxd.pid)
        begin = time.monotonic()
        command = [exe, "import", str(path), "--workers", str(args.workers), "--batch-rows", str(args.batch_rows)]
        log = Path(data) / "import.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(command, env=env, stderr=stderr)
            _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - begin
        influxd_cpu = cpu_s(influxd.pid) - influxd_cpu
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"import failed: {log.read_text()[-2000:]}")
        importer_cpu, peak = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
        stored = trade_counts(settings).get("BTCUSDT", 0)
    millions = args.rows / 1e6
    print("| rows | stored | seconds | rows/s | importer CPU s / M rows | influxd CPU s / M rows | importer peak RSS |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.rows:,} | {stored:,} | {seconds:.1f} | {args.rows / seconds:,.0f} | {importer_cpu / millions:.2f}"
        f" | {influxd_cpu / millions:.2f} | {peak:.0f} MiB |"
    )


if __name__ == "__main__":
    main()
