"""The query commands as a user runs them: exact output in every format, and one distinct exit code per error."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from pricecap.errors import ExitCode
from pricecap.model import Trade
from pricecap.settings import InfluxSettings
from tests.helpers import bucket_with, environment_of, one_line_error, pricecap

pytestmark = [pytest.mark.integration, pytest.mark.compat]

T = 1_764_064_800_000  # 2025-11-25T10:00:00.000Z
TRADES = [
    Trade("BTCUSDT", 7, "97000.5", "0.1", T, False),
    Trade("BTCUSDT", 8, "97010.25", "0.2", T, True),  # same millisecond: the higher id is the last
    Trade("BTCUSDT", 9, "96990", "0.3", T + 60_000, False),
    Trade("ETHUSDT", 3, "3500.1", "1.5", T + 30_000, True),
]


@pytest.fixture(scope="module")
def env(server_settings: InfluxSettings) -> Iterator[dict[str, str]]:
    with bucket_with(server_settings, "query-cli", TRADES) as settings:
        yield {**environment_of(settings), "INFLUXDB_V2_BUCKET": settings.bucket}


def run(env: dict[str, str], *args: str) -> str:
    result = pricecap(*args, "--config", "/dev/null", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_price_at_as_a_table(env: dict[str, str]) -> None:
    assert run(env, "price-at", "btcusdt", "2025-11-25T10:00:30Z").splitlines() == [
        "symbol   at                           price  qty  trade_id  trade_time                buyer_maker  stale_ms",
        "BTCUSDT  2025-11-25T10:00:30.000Z  97010.25  0.2         8  2025-11-25T10:00:00.000Z         true     30000",
    ]


def test_price_at_many_instants_as_json_and_from_a_csv_file(env: dict[str, str], tmp_path: Path) -> None:
    rows = json.loads(run(env, "price-at", "BTCUSDT", "1764064800000", "2025-11-25T10:01:00.000Z", "--json"))
    assert [(r["price"], r["trade_id"], r["stale_ms"]) for r in rows] == [(97010.25, 8, 0), (96990.0, 9, 0)]
    instants = tmp_path / "instants.csv"
    instants.write_text("symbol,time\nETHUSDT,2025-11-25T10:00:31Z\nBTCUSDT,2025-11-25T10:00:59.999Z\n")
    assert run(env, "price-at", "--file", str(instants), "--csv").splitlines() == [
        "symbol,at,price,qty,trade_id,trade_time,buyer_maker,stale_ms",
        "ETHUSDT,2025-11-25T10:00:31.000Z,3500.1,1.5,3,2025-11-25T10:00:30.000Z,true,1000",
        "BTCUSDT,2025-11-25T10:00:59.999Z,97010.25,0.2,8,2025-11-25T10:00:00.000Z,true,59999",
    ]


SPREADSHEET_FILES = {
    "excel-csv-utf8": '\ufeff"time","symbol"\r\n"2025-11-25T10:00:31Z","ETHUSDT"\r\n,\r\n"1764064859999","BTCUSDT"\r\n',
    "tsv-header-first-symbol": "Symbol\tTime\nETHUSDT\t2025-11-25T10:00:31Z\nBTCUSDT\t1764064859999\n",
    "semicolons-no-header": "2025-11-25T10:00:31Z;ETHUSDT\n1764064859999;BTCUSDT\n",
    "no-header-comma": "2025-11-25T10:00:31Z,ETHUSDT\n\n1764064859999,BTCUSDT",
}


@pytest.mark.parametrize("name", [*SPREADSHEET_FILES, "excel-unicode-text"])
def test_price_at_reads_a_file_as_a_spreadsheet_saves_it(env: dict[str, str], tmp_path: Path, name: str) -> None:
    """Issue 28: a byte-order mark, CRLF, quoted cells, TSV, no header, UTF-16: each row priced as it says."""
    instants = tmp_path / "instants.csv"
    if name == "excel-unicode-text":  # Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-separated
        instants.write_text(SPREADSHEET_FILES["tsv-header-first-symbol"], encoding="utf-16")
    else:
        instants.write_bytes(SPREADSHEET_FILES[name].encode())
    assert run(env, "price-at", "--file", str(instants), "--csv").splitlines()[1:] == [
        "ETHUSDT,2025-11-25T10:00:31.000Z,3500.1,1.5,3,2025-11-25T10:00:30.000Z,true,1000",
        "BTCUSDT,2025-11-25T10:00:59.999Z,97010.25,0.2,8,2025-11-25T10:00:00.000Z,true,59999",
    ]


def test_price_at_takes_symbol_for_a_file_of_times_alone(env: dict[str, str], tmp_path: Path) -> None:
    instants = tmp_path / "instants.txt"
    instants.write_bytes(b'"2025-11-25T10:00:31Z"\r\n1764064859999\r\n')
    assert run(env, "price-at", "BTCUSDT", "--file", str(instants), "--csv").splitlines()[1:] == [
        "BTCUSDT,2025-11-25T10:00:31.000Z,97010.25,0.2,8,2025-11-25T10:00:00.000Z,true,31000",
        "BTCUSDT,2025-11-25T10:00:59.999Z,97010.25,0.2,8,2025-11-25T10:00:00.000Z,true,59999",
    ]
    one_line_error(pricecap("price-at", "--file", str(instants), env=env), ExitCode.USAGE, "give SYMBOL, or a --file")


def test_price_at_streams_a_long_file_in_blocks_and_refuses_a_header_alone(env: dict[str, str], tmp_path: Path) -> None:
    instants = tmp_path / "instants.csv"
    times = [f"2025-11-25T10:00:{s:02d}Z" for s in range(60)] * 400  # 24,000 rows: three blocks of answers
    instants.write_text("time\n" + "\n".join(times) + "\n")
    lines = run(env, "price-at", "BTCUSDT", "--file", str(instants), "--csv").splitlines()
    assert len(lines) == 1 + len(times)
    assert {line.split(",")[4] for line in lines[1:]} == {"8"}, "every instant of that minute is priced by trade 8"
    header_only = tmp_path / "header.csv"
    header_only.write_text("symbol,time\n")
    one_line_error(pricecap("price-at", "--file", str(header_only), env=env), ExitCode.NO_DATA, "holds no instants")


def test_price_at_nearest(env: dict[str, str]) -> None:
    rows = json.loads(run(env, "price-at", "BTCUSDT", "2025-11-25T10:00:45Z", "--nearest", "--json"))
    assert (rows[0]["trade_id"], rows[0]["stale_ms"]) == (9, -15000)


def test_high_low_and_candles(env: dict[str, str]) -> None:
    rows = json.loads(
        run(env, "high-low", "BTCUSDT", "--from", "2025-11-25T10:00Z", "--to", "2025-11-25T11:00Z", "--json")
    )
    assert rows == [
        {
            "symbol": "BTCUSDT",
            "start": "2025-11-25T10:00:00.000Z",
            "stop": "2025-11-25T11:00:00.000Z",
            "open": 97000.5,
            "high": 97010.25,
            "high_time": "2025-11-25T10:00:00.000Z",
            "low": 96990.0,
            "low_time": "2025-11-25T10:01:00.000Z",
            "close": 96990.0,
            "volume": 0.6,  # the exchange's decimals: no float noise of 0.1 + 0.2 + 0.3
            "trades": 3,
        }
    ]
    csv = run(
        env, "candles", "BTCUSDT", "--from", "2025-11-25T10:00Z", "--to", "2025-11-25T10:03Z", "--every", "1m", "--csv"
    )
    assert csv.splitlines() == [
        "start,open,high,low,close,volume,trades",
        "2025-11-25T10:00:00.000Z,97000.5,97010.25,97000.5,97010.25,0.3,2",
        "2025-11-25T10:01:00.000Z,96990.0,96990.0,96990.0,96990.0,0.3,1",
        "2025-11-25T10:02:00.000Z,96990.0,96990.0,96990.0,96990.0,0.0,0",
    ]


def test_last_and_symbols(env: dict[str, str]) -> None:
    last = json.loads(run(env, "last", "--json"))
    assert [(r["symbol"], r["price"], r["trade_id"]) for r in last] == [("BTCUSDT", 96990.0, 9), ("ETHUSDT", 3500.1, 3)]
    assert run(env, "symbols", "--csv").splitlines() == [
        "symbol,trades,first,last",
        "BTCUSDT,3,2025-11-25T10:00:00.000Z,2025-11-25T10:01:00.000Z",
        "ETHUSDT,1,2025-11-25T10:00:30.000Z,2025-11-25T10:00:30.000Z",
    ]


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("price-at", "DOGEUSDT", "now"), ExitCode.UNKNOWN_SYMBOL, "unknown symbol DOGEUSDT in bucket"),
        (("price-at", "BTC/USDT"), ExitCode.UNKNOWN_SYMBOL, "'BTC/USDT' is not a symbol"),
        (("price-at", "BTCUSDT", "yesterday"), ExitCode.BAD_TIME, "bad time 'yesterday'"),
        (("price-at", "BTCUSDT", "2025-11-25T09:00Z", "--lookback", "1h"), ExitCode.NO_DATA, "no trade of BTCUSDT"),
        (("high-low", "BTCUSDT", "--from", "-1h", "--to", "-2h"), ExitCode.BAD_RANGE, "is before the start"),
        (("high-low", "BTCUSDT", "--from", "1764064800000", "--to", "1764064800000"), ExitCode.NO_DATA, "is empty"),
        (("high-low", "BTCUSDT", "--from", "2025-11-26"), ExitCode.NO_DATA, "no trade of BTCUSDT in ["),
        (("candles", "BTCUSDT", "--from", "-2d", "--every", "1s"), ExitCode.BAD_RANGE, "use a larger --every"),
        (("candles", "BTCUSDT", "--from", "-1d", "--tz", "Mars/Olympus"), ExitCode.BAD_TIME, "unknown time zone"),
        (("price-at", "BTCUSDT", "--url", "http://127.0.0.1:9"), ExitCode.UNREACHABLE, "cannot reach InfluxDB"),
    ],
)
def test_errors_are_one_line_with_a_distinct_exit_code(
    env: dict[str, str], args: tuple[str, ...], code: ExitCode, text: str
) -> None:
    one_line_error(pricecap(*args, "--config", "/dev/null", env=env), code, text)


def test_a_batch_with_an_unanswered_instant_prints_every_row_then_exits_8(env: dict[str, str]) -> None:
    result = pricecap(
        "price-at", "BTCUSDT", "2025-11-25T09:00Z", "2025-11-25T10:00Z", "--lookback", "1h", "--csv", env=env
    )
    assert result.returncode == ExitCode.NO_DATA
    assert result.stdout.splitlines()[1:] == [
        "BTCUSDT,2025-11-25T09:00:00.000Z,,,,,,",
        "BTCUSDT,2025-11-25T10:00:00.000Z,97010.25,0.2,8,2025-11-25T10:00:00.000Z,true,0",
    ]
    assert result.stderr.strip() == "pricecap: error: 1 instant(s) without a trade within 1h"


def documented_examples() -> list[tuple[str, list[str]]]:
    """The ``$ pricecap ...`` commands of the console blocks of README.md and docs/, each with the lines it
    prints (they are written for this module's trades)."""
    root = Path(__file__).resolve().parents[1]
    text = "\n".join(page.read_text() for page in [root / "README.md", *sorted((root / "docs").rglob("*.md"))])
    examples: list[tuple[str, list[str]]] = []
    for block in text.split("```console\n")[1:]:
        for line in block.split("```")[0].splitlines():
            if line.startswith("$ pricecap "):
                examples.append((line.removeprefix("$ pricecap "), []))
            else:
                examples[-1][1].append(line)
    return examples


def test_the_documented_examples_print_what_the_docs_show(env: dict[str, str]) -> None:
    examples = documented_examples()
    assert len(examples) >= 4
    for command, shown in examples:
        result = pricecap(*shlex.split(command), "--config", "/dev/null", env=env)
        assert (result.stdout + result.stderr).splitlines() == shown, command
