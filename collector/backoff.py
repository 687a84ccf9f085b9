"""Reconnection pacing without I/O: capped exponential backoff with jitter, and Binance's attempt limit."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from collector import binance


@dataclass
class Backoff:
    """Delays of 1 s, 2 s, 4 s ... up to ``cap_s``, each scaled by a random factor in [0.5, 1.0] (jitter),
    back to the start once a connection has stayed up for ``stable_s``."""

    initial_s: float = 1.0
    cap_s: float = 60.0
    stable_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0
    _up_since: float | None = None

    def next_delay(self) -> float:
        """The delay before the next attempt."""
        delay = min(self.cap_s, self.initial_s * 2.0**self.attempt)
        self.attempt = min(self.attempt + 1, 30)
        return delay * self.rng.uniform(0.5, 1.0)

    def connected(self, now: float) -> None:
        """A connection opened at ``now``."""
        self._up_since = now

    def disconnected(self, now: float) -> None:
        """The connection closed at ``now``; a stable one resets the backoff."""
        if self._up_since is not None and now - self._up_since >= self.stable_s:
            self.attempt = 0
        self._up_since = None


@dataclass
class AttemptLimiter:
    """At most ``limit`` connection attempts in any ``window_s`` seconds, shared by all connections.

    Binance allows 300 per 5 minutes per IP; the default keeps a margin for other clients on the same IP.
    """

    limit: int = binance.MAX_CONNECTION_ATTEMPTS * 4 // 5
    window_s: float = binance.CONNECTION_ATTEMPTS_WINDOW_S
    _attempts: deque[float] = field(default_factory=deque)

    def wait_s(self, now: float) -> float:
        """How long to wait from ``now`` before an attempt is allowed."""
        while self._attempts and self._attempts[0] <= now - self.window_s:
            self._attempts.popleft()
        if len(self._attempts) < self.limit:
            return 0.0
        return self._attempts[0] + self.window_s - now

    def record(self, now: float) -> None:
        """An attempt was made at ``now``."""
        self._attempts.append(now)
