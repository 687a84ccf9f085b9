"""The influxd that pricecap runs itself (tests, benchmarks, ``pricecap up``): how it is started."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pricecap.errors import PricecapError
from pricecap.influxd import InfluxdServer, ensure_binary


@pytest.mark.integration
def test_the_server_runs_without_go_profiling(influxd: InfluxdServer) -> None:
    """--pprof-disabled: no allocation profile is recorded (a third of influxd's CPU), so none is served."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{influxd.url}/debug/pprof/allocs", timeout=10)  # noqa: S310  the test server
    assert refused.value.code == 403
    assert b"profiling disabled" in refused.value.read()


@pytest.mark.integration
def test_a_port_where_an_influxdb_answers_is_refused(influxd: InfluxdServer, tmp_path: Path) -> None:
    """A second server on a taken port exits, and the first one's health must not pass for it."""
    second = InfluxdServer(ensure_binary(), tmp_path / "second", influxd.port)
    with pytest.raises(PricecapError, match=f"port {influxd.port} already answers as an InfluxDB"):
        second.start()
    assert second.pid is None and influxd.healthy()
