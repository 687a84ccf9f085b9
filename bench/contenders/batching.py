"""Contender (b), the influxdb-client README approach: one ``Point`` per trade into the default batching
WriteApi (batches of 1,000, flushed every second, retried with backoff), flushed when it stops.

    INFLUXDB_V2_URL=... INFLUXDB_V2_TOKEN=... INFLUXDB_V2_ORG=... INFLUXDB_V2_BUCKET=... \
    python -m bench.contenders.batching --ws-url ws://127.0.0.1:9000 --symbol BTCUSDT
"""

from __future__ import annotations

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point

from bench.contenders.common import bucket, consume, options


def main() -> None:
    args = options(__doc__ or "")
    with InfluxDBClient.from_env_properties() as client, client.write_api() as write_api:
        target = bucket()

        def insert(point: Point) -> None:
            write_api.write(bucket=target, record=point)

        consume(args, insert)


if __name__ == "__main__":
    main()
