"""The durable spool and the start-up resume points, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.checkpoint import Checkpoint, load, save
from collector.resume import resume_points
from collector.spool import Spool
from pricecap.errors import ConfigError


def drain(spool: Spool) -> list[bytes]:
    bodies = []
    while (body := spool.peek()) is not None:
        bodies.append(body)
        spool.commit(body)
    return bodies


def test_records_replay_in_order_once_and_survive_a_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(5):
        assert spool.append(f"trades,symbol=X price={i} {i}".encode())
    first = spool.peek()
    assert first is not None
    spool.commit(first)
    spool.close()

    reopened = Spool(tmp_path)
    assert drain(reopened) == [f"trades,symbol=X price={i} {i}".encode() for i in range(1, 5)]
    assert reopened.size_bytes() == 0
    assert reopened.append(b"later")
    assert drain(reopened) == [b"later"]


def test_replay_is_told_when_there_may_be_records_to_read(tmp_path: Path) -> None:
    """The replay loop only looks at the disk while ``maybe_unread``: it must never be False with a record left."""
    spool = Spool(tmp_path)
    assert not spool.maybe_unread  # a new spool
    assert spool.append(b"one")
    assert spool.maybe_unread
    assert drain(spool) == [b"one"]
    assert not spool.maybe_unread  # peek found nothing after the last record
    assert spool.append(b"two")
    spool.close()

    reopened = Spool(tmp_path)  # a record left by the previous process
    assert reopened.maybe_unread
    assert drain(reopened) == [b"two"]
    assert not reopened.maybe_unread


def test_a_torn_record_from_a_crash_is_cut_off(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"whole record")
    spool.append(b"second whole record")
    spool.close()
    segment = next(tmp_path.glob("spool-*.log"))
    segment.write_bytes(segment.read_bytes()[:-5])  # a crash in the middle of the second append

    reopened = Spool(tmp_path)
    assert drain(reopened) == [b"whole record"]
    assert reopened.append(b"after the crash")
    assert drain(reopened) == [b"after the crash"]


def test_a_full_spool_refuses_and_says_so(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=2**20)
    body = b"x" * 400_000
    assert spool.append(body) and spool.append(body)
    assert not spool.append(body)
    assert spool.full
    first = spool.peek()
    assert first is not None
    spool.commit(first)
    assert not spool.full
    assert spool.append(body)


def test_two_collectors_cannot_share_a_spool(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    with pytest.raises(ConfigError, match="another collector uses the spool"):
        Spool(tmp_path)
    first.close()
    Spool(tmp_path).close()


def test_checkpoint_round_trip_and_a_missing_or_broken_one(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.json"
    assert load(path, "here") is None
    save(path, "here", {"BTCUSDT": 42})
    loaded = load(path, "here")
    assert loaded is not None and loaded.watermarks == {"BTCUSDT": 42}
    assert load(path, "another bucket") is None
    path.write_text("{not json")
    assert load(path, "here") is None


def test_resume_takes_the_lower_of_checkpoint_and_stored_id_and_needs_a_stored_trade() -> None:
    checkpoint = Checkpoint(saved_at_ms=5_000, watermarks={"BTCUSDT": 100, "ETHUSDT": 900, "XRPUSDT": 5})
    stored = {"BTCUSDT": (120, 4_000_000_000), "ETHUSDT": (850, 6_000_000_000), "SOLUSDT": (7, 1_000_000)}
    points = resume_points(["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"], checkpoint, stored)
    assert points == {"BTCUSDT": (100, 5_000), "ETHUSDT": (850, 6_000), "SOLUSDT": (7, 1)}
