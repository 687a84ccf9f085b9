"""Upgrading the managed InfluxDB: a data folder that ``pricecap up`` made with the oldest supported influxd (2.8.0,
built from tools/influxd-oldest) is opened by the pinned one (2.10.1) with every trade, bucket, task and token
intact, after a backup; and the tokens, which 2.9 and later hash on their first start, keep working.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from pricecap.influx import connect
from pricecap.influxd import InfluxdServer, ensure_binary, free_port, influxd_version
from pricecap.settings import InfluxSettings, load_settings
from stack.local import ManagedServer, StackPaths, default_data_dir, read_json
from tests.helpers import pricecap, stored_ids
from tests.test_up import SYMBOLS, counts_reach, simulated_ids, start_up, stop, wait_for


@dataclass(frozen=True)
class Inventory:
    """The buckets (with their retention), the tasks (with their Flux) and the tokens' values a server shows."""

    buckets: list[tuple[str, list[int]]]
    tasks: list[tuple[str, str, str]]
    tokens: list[str | None]

    @classmethod
    def of(cls, settings: InfluxSettings) -> Inventory:
        with connect(settings) as client:
            buckets = client.buckets_api().find_buckets(limit=100).buckets or []
            tasks = client.tasks_api().find_tasks()
            authorizations = client.authorizations_api().find_authorizations()
        return cls(
            sorted((b.name, [r.every_seconds for r in b.retention_rules]) for b in buckets),
            sorted((t.name, t.status, t.flux) for t in tasks),
            [a.token for a in authorizations],
        )


@pytest.mark.integration
def test_up_opens_data_of_the_oldest_influxd_with_everything_intact_after_a_backup(
    tmp_path: Path, oldest_influxd: Path
) -> None:
    new = ensure_binary()
    new_version = influxd_version(new)
    assert new_version is not None and new_version != influxd_version(oldest_influxd)
    paths = StackPaths(default_data_dir())

    # Today's pricecap up on the oldest influxd: trades, then pricecap setup's buckets, tasks and roll-ups.
    old = {"PRICECAP_INFLUXD": str(oldest_influxd)}
    up = start_up("--influxd-port", str(free_port()), "--simulate-ledger", str(tmp_path / "old.json"), env=old)
    wait_for(counts_reach(50), up)
    assert pricecap("setup", "--no-rebuild").returncode == 0
    settings = load_settings()
    token = settings.require_credentials()[0]
    before = Inventory.of(settings)
    stop(up, signal.SIGINT)
    assert token in before.tokens, "2.8 stores and shows the token as it is"
    assert before.tasks, "pricecap setup made its roll-up tasks"
    record = orjson.loads(paths.managed.read_bytes())
    paths.managed.write_bytes(orjson.dumps({"url": record["url"]}))  # as the pricecap of before wrote it
    first = simulated_ids(tmp_path / "old.json")

    up = start_up("--simulate-ledger", str(tmp_path / "new.json"), env={"PRICECAP_INFLUXD": str(new)})
    wait_for(counts_reach(len(first["SOLUSDT"]) + 50), up)
    after = Inventory.of(settings)
    assert pricecap("check").stdout.startswith(f"ok: InfluxDB {new_version} at {settings.url}")
    up.send_signal(signal.SIGINT)
    _, said = up.communicate(timeout=120)
    assert up.returncode == 0, said

    backup = paths.root / f"influxd-backup-before-{new_version}"
    assert f"copied to {backup} before influxd {new_version} first opens it" in said
    assert {p.name for p in backup.iterdir()} >= {"influxd.bolt", "influxd.sqlite", "engine"}
    assert (managed := read_json(paths.managed, ManagedServer)) is not None
    assert managed.influxd_version == new_version
    assert (after.buckets, after.tasks) == (before.buckets, before.tasks)
    assert token not in after.tokens, "the new server hashed the token: it no longer shows it"
    second = simulated_ids(tmp_path / "new.json")
    with InfluxdServer(new, paths.influxd_dir, free_port()) as server:
        moved = settings.model_copy(update={"url": server.url})
        for symbol in SYMBOLS:
            assert stored_ids(moved, symbol) == first[symbol] + second[symbol]

    # The backup is the data as the oldest influxd left it: that server opens it, with the token as it was.
    with InfluxdServer(oldest_influxd, backup, free_port()) as server:
        restored = settings.model_copy(update={"url": server.url})
        assert Inventory.of(restored) == before
        assert stored_ids(restored, "BTCUSDT") == first["BTCUSDT"]

    # The next start of the same version makes no second backup.
    up = start_up(env={"PRICECAP_INFLUXD": str(new)})
    wait_for(counts_reach(len(first["SOLUSDT"]) + len(second["SOLUSDT"]) + 10), up)
    up.send_signal(signal.SIGINT)
    _, said = up.communicate(timeout=120)
    assert up.returncode == 0 and "copied to" not in said
