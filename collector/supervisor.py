"""One supervisor for the collector's tasks (connection readers and helpers): none of them dies silently.

A task that raises is logged with its traceback (one log line, the traceback as a field), counted in
``Stats.task_restarts`` (``pricecap_task_restarts_total{task}``) and started again after a backoff (1 s
doubling up to 30 s, reset once it has run for a minute). For ``TASK_FAILING_S`` (30 s) after a failure
it counts as failing (``Stats.tasks_failing``), and ``/healthz`` says 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from collector.backoff import Backoff
from collector.stats import TASK_FAILING_S, Stats

log = logging.getLogger(__name__)

TaskFactory = Callable[[], Coroutine[Any, Any, None]]


class Supervisor:
    """Keeps named tasks running until they return or :meth:`stop` cancels them."""

    def __init__(self, stats: Stats) -> None:
        self._stats = stats
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, factory: TaskFactory) -> asyncio.Task[None]:
        """Run ``factory()`` as task ``name``, again after every unexpected exception, until it returns."""
        task = self._tasks[name] = asyncio.create_task(self._keep(name, factory), name=name)
        return task

    async def _keep(self, name: str, factory: TaskFactory) -> None:
        backoff = Backoff(initial_s=1.0, cap_s=TASK_FAILING_S, stable_s=60.0)
        while True:
            backoff.connected(time.monotonic())
            try:
                await factory()
                return
            except Exception as e:  # any failure: say it, count it, start again
                self._stats.task_failed_at[name] = time.monotonic()
                self._stats.task_restarts[name] += 1
                backoff.disconnected(time.monotonic())
                delay = backoff.next_delay()
                log.error(
                    "background task failed, restarting",
                    extra={
                        "task": name,
                        "error": f"{type(e).__name__}: {e}",
                        "restart_in_s": round(delay, 2),
                        "traceback": traceback.format_exc(),
                    },
                )
                await asyncio.sleep(delay)

    async def stop(self) -> None:
        """Cancel every task and wait for each to end."""
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
