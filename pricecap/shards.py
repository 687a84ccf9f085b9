"""Shards: ``K/N`` splits the symbols between N collectors by a stable hash of each symbol (no I/O).

A symbol's shard is ``blake2b(upper-case symbol, UTF-8) mod N``: the same symbol always lands in the same
shard, on any machine and in any Python (never ``hash()``, which is salted per process); the N shards are
disjoint and cover every symbol; and a symbol listed later lands in its own shard without moving any other.
Shared ground (collector, queries, Grafana's checks may all ask which shard holds a symbol).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAX_SHARDS = 4096
"""More shards than Binance has symbols makes no sense; a bound keeps a typo from being accepted."""


class ShardSyntaxError(ValueError):
    """A shard given in a form other than ``K/N`` with ``0 <= K < N``."""


def shard_of(symbol: str, shards: int) -> int:
    """The shard (0..shards-1) that collects ``symbol``, whatever the other symbols are."""
    digest = hashlib.blake2b(symbol.upper().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count``; ``Shard(0, 1)`` (the default) is every symbol."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS or not 0 <= self.index < self.count:
            raise ShardSyntaxError(f"shard {self.index}/{self.count}: need 0 <= K < N <= {MAX_SHARDS}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"`` (e.g. ``"0/3"``) as a shard; :class:`ShardSyntaxError` for anything else."""
        index, slash, count = text.strip().partition("/")
        if not slash or not (index.isascii() and index.isdigit() and count.isascii() and count.isdigit()):
            raise ShardSyntaxError(f"{text!r} is not a shard: use K/N with 0 <= K < N, e.g. 0/3")
        if len(index) > 6 or len(count) > 6:
            raise ShardSyntaxError(f"{text!r}: need 0 <= K < N <= {MAX_SHARDS}")
        return cls(int(index), int(count))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, symbol: str) -> bool:
        """True when this shard collects ``symbol``."""
        return self.count == 1 or shard_of(symbol, self.count) == self.index

    def select(self, symbols: list[str]) -> list[str]:
        """The symbols of ``symbols`` this shard collects, in their order."""
        return [s for s in symbols if self.holds(s)]
