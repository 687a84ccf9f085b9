"""End to end: a real Prometheus (tools/prometheus) scrapes a running ``pricecap collect`` against the fake
exchange and a real influxd, with pricecap's alerting rules. influxd is killed: PricecapSpoolGrowing becomes
active in /api/v1/alerts; influxd comes back, the spool is replayed, and the alert resolves. The collector
stops: PricecapShardDown and PricecapCollectorDown fire; it starts again and they resolve. Every trade is
stored in the end. Scrapes and evaluations run every second and the rules' ``for:`` is cut to 0 s for the
test; every wait polls with a generous limit.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from alerting import rules
from fake_binance import FakeBinance, Scenario
from pricecap.influxd import InfluxdServer, free_port
from pricecap.settings import InfluxSettings
from tests.prometheus import tools
from tests.test_faults import SYMBOLS, CollectorProcess, all_stored, assert_exact

pytestmark = pytest.mark.integration
ALERT = "PricecapSpoolGrowing"
DOWN = ("PricecapShardDown", "PricecapCollectorDown")
WAIT_S = 240.0
"""The longest wait for each step; the test as a whole may take 3 of them and the start (its timeout mark)."""
SPOOL_MAX_MB = 64


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(SYMBOLS, first_id=5_000_001, ping_interval_s=1.0, pong_timeout_s=3.0) as exchange:
        yield exchange
    CollectorProcess.kill_strays()


class Prometheus:
    """A Prometheus server of the tests' build, scraping one collector every second."""

    def __init__(self, folder: Path, metrics_port: int) -> None:
        self.port = free_port()
        self.folder = folder
        folder.mkdir()
        groups = rules.groups()
        for rule in groups[0]["rules"]:
            if rule.get("alert") in {ALERT, *DOWN}:
                rule["for"] = "0s"  # the rules as shipped wait minutes
        (folder / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}), "utf-8")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yaml"],
            "scrape_configs": [
                {"job_name": "pricecap", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}
            ],
        }
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config), "utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [
            str(tools() / "prometheus"),
            f"--config.file={self.folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.process = subprocess.Popen(args, cwd=self.folder, stderr=(self.folder / "log").open("wb"))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(60)

    def api(self, path: str, **query: str) -> Any:
        """The ``data`` of an answer of the HTTP API."""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=30) as response:
            answer = orjson.loads(response.read())
        assert answer["status"] == "success", answer
        return answer["data"]

    def active(self, alert: str) -> list[dict[str, Any]]:
        """The alerts of ``alert`` that are pending or firing."""
        try:
            found = self.api("alerts")["alerts"]
        except OSError:  # not listening yet
            return []
        return [a for a in found if a["labels"]["alertname"] == alert]

    def value(self, expr: str) -> dict[str, float]:
        """An instant query's samples, by the labels that tell them apart (here: status), or by ``""``."""
        result = self.api("query", query=expr)["result"]
        return {r["metric"].get("status", ""): float(r["value"][1]) for r in result}


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Prometheus, int]]:
    """A Prometheus that scrapes the collector on the port it yields."""
    metrics_port = free_port()
    server = Prometheus(tmp_path / "prometheus", metrics_port)
    server.start()
    try:
        yield server, metrics_port
    finally:
        server.stop()


async def until(condition: Any, what: str) -> None:
    """Poll ``condition()`` (run in a thread) every second until it is true, for up to ``WAIT_S``."""
    deadline = time.monotonic() + WAIT_S
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"{what}: not within {WAIT_S:.0f} s"
        await asyncio.sleep(1.0)


async def scraped_while_trading(
    collector: CollectorProcess, fake: FakeBinance, prom: Prometheus, rate: int
) -> asyncio.Task[None]:
    """Start the collector, then trades at ``rate`` a second for longer than the test (the task to cancel), and
    wait until Prometheus scrapes the collector."""
    await collector.start()
    await fake.wait_for_subscribers(len(SYMBOLS))
    playing = asyncio.create_task(fake.play(Scenario(count=rate * 600, rate=rate)))
    await until(lambda: prom.value('up{job="pricecap"}') == {"": 1.0}, "Prometheus scrapes the collector")
    return playing


@pytest.mark.timeout(900)
async def test_influxd_killed_fires_the_spool_alert_and_its_return_resolves_it(
    fake: FakeBinance,
    tmp_path: Path,
    own_influxd: tuple[InfluxdServer, InfluxSettings],
    prometheus: tuple[Prometheus, int],
) -> None:
    server, settings = own_influxd
    prom, metrics_port = prometheus
    options = ("--retry-for", "1", "--metrics-port", str(metrics_port), "--spool-max-mb", str(SPOOL_MAX_MB))
    collector = CollectorProcess(settings, fake, tmp_path / "spool", *options)
    playing = await scraped_while_trading(collector, fake, prom, rate=500)
    try:
        assert prom.value("pricecap_gap_alarm_seconds") == {"": 120.0}
        assert prom.value("pricecap_spool_limit_bytes") == {"": SPOOL_MAX_MB * 2**20}
        assert prom.value("pricecap_rest_pauses_total") == {"403": 0.0, "418": 0.0, "429": 0.0}
        assert prom.active(ALERT) == []

        await asyncio.to_thread(server.kill)
        await until(lambda: [a["state"] for a in prom.active(ALERT)] == ["firing"], f"{ALERT} fires")
        (alert,) = prom.active(ALERT)
        assert alert["labels"]["severity"] == "ticket"
        assert alert["annotations"]["runbook_url"] == rules.runbook_url(ALERT)
        assert prom.active("PricecapShardDown") == [], "the streams are up: the shard is collected"

        await asyncio.to_thread(server.start)
        await until(lambda: prom.active(ALERT) == [], f"{ALERT} resolves once the spool is replayed")
        assert prom.value("pricecap_spool_bytes") == {"": 0.0}
    finally:
        playing.cancel()
    await collector.stop()
    await all_stored(settings, fake)
    await assert_exact(settings, fake)


@pytest.mark.timeout(900)
async def test_a_stopped_collector_fires_shard_down_and_its_restart_resolves_it(
    fake: FakeBinance, tmp_path: Path, settings: InfluxSettings, prometheus: tuple[Prometheus, int]
) -> None:
    prom, metrics_port = prometheus
    options = ("--metrics-port", str(metrics_port))
    first = CollectorProcess(settings, fake, tmp_path / "spool", *options)
    playing = await scraped_while_trading(first, fake, prom, rate=200)
    try:
        assert [prom.active(alert) for alert in DOWN] == [[], []]

        await first.stop()
        await until(lambda: all(prom.active(alert) for alert in DOWN), "the collector's alerts fire")
        (shard,) = prom.active("PricecapShardDown")
        assert (shard["state"], shard["labels"]["shard"], shard["labels"]["severity"]) == ("firing", "0/1", "page")
        (collector,) = prom.active("PricecapCollectorDown")
        assert collector["labels"]["instance"] == f"127.0.0.1:{metrics_port}"

        again = CollectorProcess(settings, fake, tmp_path / "spool", *options)
        await again.start()
        await until(lambda: not any(prom.active(alert) for alert in DOWN), "they resolve once it is back")
    finally:
        playing.cancel()
    await again.stop()
    await all_stored(settings, fake)
    await assert_exact(settings, fake)
