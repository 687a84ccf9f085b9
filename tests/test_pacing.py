"""Reconnection backoff, the connection-attempt limit and the REST weight budget, on a fake clock."""

from __future__ import annotations

import random

from collector.backoff import AttemptLimiter, Backoff
from collector.rest import WeightBudget


def test_backoff_doubles_up_to_the_cap_with_jitter_and_resets_when_stable() -> None:
    backoff = Backoff(initial_s=1, cap_s=8, stable_s=60, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.connected(100.0)
    backoff.disconnected(130.0)
    assert backoff.next_delay() >= 4  # up for 30 s: not stable, no reset
    backoff.connected(200.0)
    backoff.disconnected(261.0)
    assert backoff.next_delay() <= 1


def test_attempts_stay_within_the_window_limit() -> None:
    limiter = AttemptLimiter(limit=3, window_s=300)
    for t in (0.0, 1.0, 2.0):
        assert limiter.wait_s(t) == 0
        limiter.record(t)
    assert limiter.wait_s(10.0) == 290.0
    assert limiter.wait_s(300.5) == 0


def test_weight_budget_waits_for_the_next_minute_and_honours_retry_after() -> None:
    budget = WeightBudget(limit=50)
    now = 600.0
    assert budget.wait_s(25, now) == 0
    budget.spend(25)
    assert budget.wait_s(25, now) == 0
    budget.spend(25)
    assert 59 < budget.wait_s(25, now + 1) <= 60
    assert budget.wait_s(25, now + 60) == 0
    budget.observe("49", now + 60)
    assert budget.wait_s(25, now + 61) > 0
    budget.block(30, now + 70)
    assert budget.wait_s(1, now + 70) == 30


def test_a_repair_backlog_may_take_90_percent_only_while_nobody_else_on_the_ip_spends() -> None:
    budget = WeightBudget.share(0.5)
    assert (budget.limit, budget.backlog_limit) == (3_000, 5_400)
    minute = 600.0 * 60  # a minute boundary on the fake clock
    budget.spend(3_000)
    budget.minute = int(minute // 60)
    assert budget.wait_s(4, minute + 1) > 0, "no backlog: half"
    budget.backlog = True
    assert budget.wait_s(4, minute + 1) == 0, "a backlog, nobody else: up to 90 %"
    budget.observe("3100", minute + 1)  # the server counted 96 more than the collector spent: another client
    assert budget.wait_s(4, minute + 2) > 0, "someone else spends: back to half"
    assert budget.wait_s(4, minute + 60) == 0  # a new minute, within half
    budget.spend(3_000)
    assert budget.wait_s(4, minute + 61) > 0, "the minute after the other client spent: still half"
    assert budget.wait_s(4, minute + 120) == 0
    budget.spend(3_000)
    assert budget.wait_s(4, minute + 121) == 0, "two quiet minutes later: 90 % again"
