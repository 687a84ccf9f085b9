"""The shard function: disjoint, covering, stable when symbols are added, the same in every process."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricecap.errors import ExitCode
from pricecap.shards import Shard, ShardSyntaxError, shard_of
from tests.helpers import one_line_error, pricecap

SYMBOL = st.text(st.characters(categories=("Lu", "Ll", "Lo", "Nd")), min_size=1, max_size=16)
SYMBOLS = st.lists(SYMBOL, min_size=0, max_size=60, unique_by=str.upper)
COUNTS = st.integers(min_value=1, max_value=40)


def split(symbols: list[str], count: int) -> list[list[str]]:
    return [Shard(k, count).select(symbols) for k in range(count)]


@settings(max_examples=300)
@given(SYMBOLS, COUNTS)
def test_the_shards_are_disjoint_and_cover_every_symbol(symbols: list[str], count: int) -> None:
    parts = split(symbols, count)
    assert sorted(s for part in parts for s in part) == sorted(symbols), "every symbol in exactly one shard"
    for k, part in enumerate(parts):
        assert all(shard_of(s, count) == k for s in part)


@settings(max_examples=300)
@given(SYMBOLS, SYMBOLS, COUNTS)
def test_adding_symbols_moves_no_other_symbol(before: list[str], added: list[str], count: int) -> None:
    after = before + [s for s in added if s.upper() not in {b.upper() for b in before}]
    old, new = split(before, count), split(after, count)
    for k in range(count):
        assert [s for s in new[k] if s in before] == old[k]


@given(st.text("abcxyzABCXYZ019", min_size=1, max_size=12), COUNTS)
def test_a_symbol_s_shard_ignores_its_case(symbol: str, count: int) -> None:
    assert shard_of(symbol.lower(), count) == shard_of(symbol.upper(), count)


def test_the_same_symbol_goes_to_the_same_shard_in_another_process() -> None:
    """Not Python's salted hash(): another interpreter (another PYTHONHASHSEED) agrees, and so does a fixed table."""
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "币安人生USDT", "ÉTÉUSDT"]
    code = f"from pricecap.shards import shard_of; print([shard_of(s, 7) for s in {symbols!r}])"
    other = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONHASHSEED": "12345"}, capture_output=True, text=True, check=True
    )
    assert other.stdout.strip() == str([shard_of(s, 7) for s in symbols])
    assert [shard_of(s, 3) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")] == FIXED_3


FIXED_3 = [2, 2, 0]
"""The shards of 3 that BTCUSDT, ETHUSDT and SOLUSDT go to: a changed hash would move every deployment's symbols."""


def test_twelve_symbols_spread_over_three_shards() -> None:
    symbols = [f"S{i:02d}USDT" for i in range(12)]
    sizes = [len(part) for part in split(symbols, 3)]
    assert sum(sizes) == 12 and min(sizes) >= 1


@pytest.mark.parametrize("text", ["0/1", "2/3", " 1/2 "])
def test_a_shard_is_read_and_said_as_k_of_n(text: str) -> None:
    assert str(Shard.parse(text)) == text.strip()


@pytest.mark.parametrize("text", ["3/3", "-1/2", "1", "a/b", "0/0", "1/0", "0/5000", "\u0661/\u0662", "1/2/3"])
def test_a_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(ShardSyntaxError):
        Shard.parse(text)


def test_one_shard_holds_everything() -> None:
    assert Shard().select(["A", "B"]) == ["A", "B"]
    assert str(Shard()) == "0/1"


def test_a_shard_that_takes_none_of_the_symbols_given_is_a_usage_error() -> None:
    symbol = "BTCUSDT"
    other = f"{1 - shard_of(symbol, 2)}/2"
    env = {"INFLUXDB_V2_URL": "http://127.0.0.1:9", "INFLUXDB_V2_TOKEN": "t", "INFLUXDB_V2_ORG": "o"}
    result = pricecap("collect", "--symbol", symbol, "--shard", other, "--metrics-port", "0", env=env)
    one_line_error(result, ExitCode.USAGE, f"--shard {other} takes none of the 1 symbols given")
