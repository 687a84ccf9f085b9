"""``pricecap audit`` against the real influxd: holes planted by deleting points, found exactly, by id range."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pricecap import flux, model
from pricecap.errors import ExitCode, NoDataError, UnknownSymbolError
from pricecap.influx import connect
from pricecap.influxd import free_port
from pricecap.settings import InfluxSettings
from queries import Prices
from queries.coverage import Piece, Window, pieces_of_ids, sweep
from queries.models import AuditPeriod
from tests.helpers import delete_trades, environment_of, one_line_error, pricecap, write_lines, write_trades

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
DAY0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
STEP_MS = 40_000
"""One trade every 40 s: 2,160 a day."""
FIRST_ID = 997_000
BURST = range(999_990, 1_000_010)
"""Ids that trade in one millisecond of day 1 (09:13:20.005): they cross a multiple of 1,000,000."""
BURST_MS = DAY0 + (BURST[0] - FIRST_ID) * STEP_MS + 5


def history(days: int = 3) -> list[model.Trade]:
    """BTCUSDT over ``days`` days from DAY0: a trade every 40 s, and the burst."""
    trades: list[model.Trade] = []
    trade_id, time_ms = FIRST_ID, DAY0
    while time_ms < DAY0 + days * DAY_MS:
        at, count = (BURST_MS, len(BURST)) if trade_id == BURST[0] else (time_ms, 1)
        for _ in range(count):
            trades.append(model.Trade("BTCUSDT", trade_id, f"{97000 + trade_id % 100}.5", "0.01", at, False))
            trade_id += 1
        time_ms += STEP_MS
    return trades


TRADES = history()
BY_ID = {t.trade_id: t for t in TRADES}


def day(n: int) -> str:
    return flux.Time((DAY0 + n * DAY_MS) * model.NS_PER_MS).rfc3339()


def ids_of_day(n: int) -> list[int]:
    return [t.trade_id for t in TRADES if DAY0 + n * DAY_MS <= t.time_ms < DAY0 + (n + 1) * DAY_MS]


def delete(settings: InfluxSettings, *trade_ids: int) -> None:
    delete_trades(settings, [BY_ID[i] for i in trade_ids])


@pytest.fixture
def stored(settings: InfluxSettings) -> Iterator[InfluxSettings]:
    write_trades(settings, TRADES)
    yield settings


def audit(settings: InfluxSettings, start: str = day(0), stop: str = day(3), every: str = "1d") -> list[AuditPeriod]:
    with Prices(settings) as prices:
        return prices.audit([], start, stop, every)


def findings(periods: list[AuditPeriod]) -> dict[str, tuple[object, ...]]:
    """Per period with anything to say: (missing, doubled, exchange gaps)."""
    return {
        flux.Time(p.start_ns).rfc3339()[:13]: (p.missing, p.doubled, p.exchange_gaps)
        for p in periods
        if p.missing or p.doubled or p.exchange_gaps
    }


def test_a_window_is_proved_by_count_and_sum_and_a_double_hiding_a_hole_fails_the_sum() -> None:
    assert Window("X", 0, 1, 5, 10, 14, 60).proved()
    assert not Window("X", 0, 1, 4, 10, 14, 48).proved(), "11 missing"
    assert not Window("X", 0, 1, 5, 10, 14, 60 - 11 + 12).proved(), "11 missing, 12 twice: same count"


def test_the_sweep_names_holes_doubles_and_exchange_gaps_by_period() -> None:
    pieces = [Piece(1, 10, 0), *pieces_of_ids([14, 15, 15, 16], 1), Piece(20, 30, 2)]
    found = sweep(pieces, before=0, after=35, gaps=[(18, 18)])
    assert {p: (f.missing, f.doubled, f.exchange_gaps) for p, f in found.items()} == {
        1: ([(11, 13)], [(15, 15)], []),
        # ids after the last one stored, up to the first one after the range, go to the last trade's period
        2: ([(17, 17), (19, 19), (31, 34)], [], [(18, 18)]),
    }


def test_a_complete_history_is_proved_complete_per_day_and_per_hour(stored: InfluxSettings) -> None:
    days = audit(stored)
    assert [(p.trades, p.first_id, p.last_id, p.expected) for p in days] == [
        (len(ids), ids[0], ids[-1], len(ids)) for ids in map(ids_of_day, range(3))
    ]
    assert all(p.complete for p in days)
    hours = audit(stored, day(1), day(2), "1h")
    assert len(hours) == 24 and all(p.complete and not p.exchange_gaps for p in hours)
    assert sum(p.trades for p in hours) == len(ids_of_day(1))


def test_an_audit_of_every_time_influxdb_stores_is_proved_complete(stored: InfluxSettings) -> None:
    """From the earliest to the latest time pricecap accepts: the ranges next to it are empty, which Flux refuses."""
    env = environment_of(stored) | {"PRICECAP_CONFIG": "/dev/null"}
    whole = pricecap("audit", "--from", "0", "--to", "2262-01-01", "--json", env=env)
    assert whole.returncode == 0, whole.stderr
    assert [(r["period"], r["trades"], r["verdict"]) for r in json.loads(whole.stdout)] == [
        (day(n)[:10] + "T00:00:00.000Z", len(ids_of_day(n)), "complete") for n in range(3)
    ]


def test_holes_inside_a_period_at_its_first_and_last_id_and_across_a_day_edge_are_named_exactly(
    stored: InfluxSettings,
) -> None:
    day1, day2 = ids_of_day(1), ids_of_day(2)
    inside = day1[100:103]
    delete(stored, *inside, day1[0], *day1[-2:], *day2[:2], day2[-1])
    expected = {
        day(1)[:13]: (((day1[0], day1[0]), (inside[0], inside[-1])), (), ()),
        day(2)[:13]: (((day1[-2], day2[1]),), (), ()),  # across the edge: one range, in the period after it
    }
    assert findings(audit(stored)) == expected, "day 2's last id cannot show: no trade after it"
    write_trades(stored, [model.Trade("BTCUSDT", day2[-1] + 1, "1.5", "1", DAY0 + 3 * DAY_MS + 1, False)])
    expected[day(2)[:13]] = (((day1[-2], day2[1]), (day2[-1], day2[-1])), (), ())
    assert findings(audit(stored)) == expected, "the first trade after the range shows it"
    edges = ((day1[0], day1[0]), (inside[0], inside[-1]), (day1[-2], day2[1]))
    assert findings(audit(stored, day(1), day(2))) == {day(1)[:13]: (edges, (), ())}, "from the trades beside it"


def test_ids_crossing_a_million_in_one_millisecond_are_read_whole(stored: InfluxSettings) -> None:
    after_burst = flux.Time((BURST_MS + 1) * model.NS_PER_MS).rfc3339()
    assert findings(audit(stored, after_burst, day(3))) == {}, "the last point before it by time is 999,999"
    before_burst = flux.Time(BURST_MS * model.NS_PER_MS).rfc3339()
    assert findings(audit(stored, day(0), before_burst)) == {}, "the first point after it by time is 1,000,000"
    delete(stored, 1_000_000, 999_999)
    assert findings(audit(stored)) == {day(1)[:13]: (((999_999, 1_000_000),), (), ())}


def test_an_id_stored_twice_at_two_timestamps_is_a_double_in_the_period_of_the_copy(stored: InfluxSettings) -> None:
    original = BY_ID[ids_of_day(0)[500]]
    copy = model.Trade("BTCUSDT", original.trade_id, original.price, original.qty, original.time_ms + DAY_MS, False)
    write_trades(stored, [copy])
    periods = audit(stored)
    assert findings(periods) == {day(1)[:13]: ((), ((original.trade_id, original.trade_id),), ())}
    assert [p.complete for p in periods] == [True, False, True]


def test_an_exchange_gap_is_not_missing(stored: InfluxSettings) -> None:
    gap = ids_of_day(1)[10:20]
    delete(stored, *gap)
    after = BY_ID[gap[-1] + 1]
    write_lines(stored, model.encode_exchange_gap("binance", "BTCUSDT", gap[0], gap[-1], after.time_ms))
    periods = audit(stored)
    assert findings(periods) == {day(1)[:13]: ((), (), ((gap[0], gap[-1]),))}
    assert all(p.complete for p in periods)


def test_unknown_symbol_and_a_range_without_trades(stored: InfluxSettings) -> None:
    with Prices(stored) as prices, pytest.raises(UnknownSymbolError, match="ETHUSDT"):
        prices.audit(["ETHUSDT"], day(0), day(1))
    with pytest.raises(NoDataError, match="no trade"):
        audit(stored, day(5), day(6))


def test_the_command_exits_10_with_the_ranges_and_0_when_complete(stored: InfluxSettings) -> None:
    env = environment_of(stored) | {"PRICECAP_CONFIG": "/dev/null"}
    complete = pricecap("audit", "BTCUSDT", "--from", day(0), "--to", day(3), "--json", env=env)
    assert complete.returncode == 0, complete.stderr
    rows = json.loads(complete.stdout)
    assert [(r["period"], r["trades"], r["verdict"], r["missing_ids"]) for r in rows] == [
        (day(n)[:10] + "T00:00:00.000Z", len(ids_of_day(n)), "complete", "") for n in range(3)
    ]
    assert complete.stderr.strip() == "audit: 1 markets, 3 periods: complete"
    hole = ids_of_day(2)[7:9]
    delete(stored, *hole)
    incomplete = pricecap("audit", "--from", day(0), "--to", day(3), "--csv", env=env)
    assert incomplete.returncode == ExitCode.INCOMPLETE, incomplete.stderr
    lines = incomplete.stdout.splitlines()
    assert lines[0] == (
        "symbol,period,trades,first_id,last_id,expected,missing,doubled,exchange_gap,verdict,missing_ids,"
        "doubled_ids,exchange_gap_ids"
    )
    assert lines[3].endswith(f",2,0,0,incomplete,{hole[0]}-{hole[1]},,")
    assert (
        incomplete.stderr.strip()
        == "pricecap: error: 1 of 3 periods incomplete: 2 ids missing, 0 stored more than once"
    )


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["ETHUSDT", "--from", day(0)], ExitCode.UNKNOWN_SYMBOL, "unknown symbol ETHUSDT"),
        (["BTC-USDT", "--from", day(0)], ExitCode.UNKNOWN_SYMBOL, "is not a symbol"),
        (["--from", day(1), "--to", day(1)], ExitCode.NO_DATA, "is empty"),
        (["--from", day(2), "--to", day(1)], ExitCode.BAD_RANGE, "is before the start"),
        (["--from", day(5), "--to", day(6)], ExitCode.NO_DATA, "no trade of exchange 'binance'"),
        (["--from", "yesterday-ish"], ExitCode.BAD_TIME, "yesterday-ish"),
        (["--from", day(0), "--every", "1w"], ExitCode.USAGE, "'1w' is not one of"),
    ],
)
def test_bad_input_is_one_line_and_its_exit_code(
    stored: InfluxSettings, args: list[str], code: ExitCode, text: str
) -> None:
    one_line_error(pricecap("audit", *args, env=environment_of(stored) | {"PRICECAP_CONFIG": "/dev/null"}), code, text)


def test_the_documented_check_runs_in_the_ui_and_lists_the_hour_with_a_hole(stored: InfluxSettings) -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "guides" / "audit.md").read_text()
    check = guide.split("```flux\n", 1)[1].split("```", 1)[0]
    pasted = check.replace('bucket: "trades"', f'bucket: "{stored.bucket}"').replace(
        "start: 2026-11-24T00:00:00Z, stop: 2026-11-25T00:00:00Z", f"start: {day(1)}, stop: {day(2)}"
    )
    hour = BY_ID[ids_of_day(1)[200]].time_ms // 3_600_000 * 3_600_000
    delete(stored, ids_of_day(1)[200])
    with connect(stored) as client:
        rows = [r.values for r in client.query_api().query_stream(pasted)]
    assert [(r["symbol"], r["start_ns"]) for r in rows] == [("BTCUSDT", hour * model.NS_PER_MS)]


def test_influxdb_not_answering_is_one_line(stored: InfluxSettings) -> None:
    env = environment_of(stored) | {
        "PRICECAP_CONFIG": "/dev/null",
        "INFLUXDB_V2_URL": f"http://127.0.0.1:{free_port()}",
    }
    one_line_error(pricecap("audit", "--from", day(0), env=env), ExitCode.UNREACHABLE, "cannot reach InfluxDB")
