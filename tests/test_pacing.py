"""Reconnection backoff, the connection-attempt limit and the REST weight budget, on a fake clock."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

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
    budget.settle(25, budget.spend(25, now), "25", now)
    assert budget.wait_s(25, now) == 0
    budget.settle(25, budget.spend(25, now), "50", now)
    assert 59 < budget.wait_s(25, now + 1) <= 60
    assert budget.wait_s(25, now + 60) == 0
    budget.settle(25, budget.spend(25, now + 60), "49", now + 60)  # 24 more than this collector spent
    assert budget.wait_s(25, now + 61) == 0, "its own spend (25) is within its 50: others spend of their own"
    budget.block(30, now + 70)
    assert budget.wait_s(1, now + 70) == 30


def test_own_share_and_the_ip_total_are_two_limits() -> None:
    budget = WeightBudget.share(0.5)
    now = 600.0 * 60
    budget.settle(25, budget.spend(25, now), "4000", now)  # a bot behind the same IP spent 3,975
    assert budget.wait_s(25, now + 1) == 0, "own 25 of 3,000, IP 4,000 of 5,700: go on"
    budget.settle(25, budget.spend(25, now + 1), "5680", now + 1)
    assert budget.wait_s(25, now + 2) > 50, "5,680 + 25 is past the IP's ceiling of 5,700: the next minute"
    assert budget.wait_s(25, now + 60) == 0


def test_near_the_ip_ceiling_requests_go_one_at_a_time() -> None:
    budget = WeightBudget.share(1.0)
    now = 600.0 * 60
    budget.settle(25, budget.spend(25, now), "4790", now)
    first = budget.spend(25, now)
    assert 0 < budget.wait_s(25, now) < 1, "above 80 % of the IP's weight: wait for the answer in flight"
    budget.settle(25, first, "4815", now)
    assert budget.wait_s(25, now) == 0


def test_a_count_of_another_minute_or_an_answer_out_of_order_never_lowers_the_ip_total() -> None:
    budget = WeightBudget.share(0.5)
    now = 600.0 * 60
    late = budget.spend(25, now - 0.1)  # sent in the minute before, answered in this one
    budget.settle(25, late, "5990", now + 0.1)
    assert budget.wait_s(25, now + 0.2) == 0, "the previous minute's count says nothing of this one"
    a, b = budget.spend(25, now + 1), budget.spend(25, now + 1)
    budget.settle(25, b, "3000", now + 2)
    budget.settle(25, a, "2975", now + 2)  # processed first, answered last
    assert budget.ip == 3_025, "b's count, and a counted once more while it was in flight: never less"


def test_a_repair_backlog_may_take_90_percent_only_while_nobody_else_on_the_ip_spends() -> None:
    budget = WeightBudget.share(0.5)
    assert (budget.limit, budget.backlog_limit, budget.ip_ceiling) == (3_000, 5_400, 5_700)
    minute = 600.0 * 60  # a minute boundary on the fake clock
    budget.settle(3_000, budget.spend(3_000, minute), "3000", minute)
    assert budget.wait_s(4, minute + 1) > 0, "no backlog: half"
    budget.backlog = True
    assert budget.wait_s(4, minute + 1) == 0, "a backlog, nobody else: up to 90 %"
    budget.settle(4, budget.spend(4, minute + 1), "3100", minute + 1)  # 96 more than the collector spent
    assert budget.wait_s(4, minute + 2) > 0, "someone else spends: back to half"
    assert budget.wait_s(4, minute + 60) == 0  # a new minute, within half
    budget.settle(3_000, budget.spend(3_000, minute + 60), "3000", minute + 60)
    assert budget.wait_s(4, minute + 61) > 0, "the minute after the other client spent: still half"
    assert budget.wait_s(4, minute + 120) == 0
    budget.settle(3_000, budget.spend(3_000, minute + 120), "3000", minute + 120)
    assert budget.wait_s(4, minute + 121) == 0, "two quiet minutes later: 90 % again"


@dataclass
class Request:
    client: int
    weight: int
    sent_minute: int
    header: str | None = None


@pytest.mark.parametrize(("collectors", "share", "seed"), [(2, 0.5, 1), (3, 0.5, 2), (3, 1.0, 3), (5, 0.9, 4)])
def test_collectors_sharing_an_ip_never_pass_its_limit_whatever_their_shares(
    collectors: int, share: float, seed: int
) -> None:
    """Collectors with a repair backlog, 8 requests in flight each, sent, counted by the server and answered
    in a random order on a fake clock over five minutes: the IP's count never passes 6,000 (no 429)."""
    rng = random.Random(seed)
    budgets = [WeightBudget.share(share) for _ in range(collectors)]
    for budget in budgets:
        budget.backlog = True
    sent: list[Request] = []
    counted: list[Request] = []
    server: dict[int, int] = {}
    now = 36_000.0
    while now < 36_000.0 + 300:
        now += 0.005
        actions = ["send"] + ["count"] * bool(sent) + ["answer"] * bool(counted)
        action = rng.choice(actions)
        if action == "send":
            k = rng.randrange(collectors)
            weight = rng.choice([4, 25, 25, 80])
            if budgets[k].in_flight < 8 * 25 and budgets[k].wait_s(weight, now) == 0:
                sent.append(Request(k, weight, budgets[k].spend(weight, now)))
        elif action == "count":
            request = sent.pop(rng.randrange(len(sent)))
            minute = int(now // 60)
            server[minute] = server.get(minute, 0) + request.weight
            assert server[minute] <= 6_000, f"the IP passed 6,000 in minute {minute}: a 429"
            request.header = str(server[minute])
            counted.append(request)
        else:
            request = counted.pop(rng.randrange(len(counted)))
            budgets[request.client].settle(request.weight, request.sent_minute, request.header, now)
    assert min(server.values()) > 4_000, "and the budget is used, not just refused"
