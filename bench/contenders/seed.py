"""Contender (a), the seed's design: one synchronous insert per trade, no batching.

    INFLUXDB_V2_URL=... INFLUXDB_V2_TOKEN=... INFLUXDB_V2_ORG=... INFLUXDB_V2_BUCKET=... \
    python -m bench.contenders.seed --ws-url ws://127.0.0.1:9000 --symbol BTCUSDT

A write that fails is logged and its trade skipped, so one error does not end the run.
"""

from __future__ import annotations

import logging

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import SYNCHRONOUS

from bench.contenders.common import bucket, consume, options

log = logging.getLogger("seed")


def main() -> None:
    args = options(__doc__ or "")
    with InfluxDBClient.from_env_properties() as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        target = bucket()

        def insert(point: Point) -> None:
            try:
                write_api.write(bucket=target, record=point)
            except Exception as e:
                log.error("write failed: %s", e)

        consume(args, insert)


if __name__ == "__main__":
    main()
