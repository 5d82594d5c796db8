"""The one place mcp-lok spawns tasks, on the host and in the gate: a `Tasks` owner names
each task, keeps it, logs how it failed, and cancels and awaits every one of them on
`close`. (`asyncio.TaskGroup`, which owns its tasks the same way, is fine for structured
work inside one call.)

ruff bans `asyncio.create_task` and `asyncio.ensure_future` everywhere else (TID251), and
tests/unit/proxy/test_tasks.py finds any `loop.create_task`, so no task outlives its owner
unseen. What the tasks do is their spawner's business.

SHARED WITH THE GATE: this very file is copied into the gate's image
(`scripts/build_images.py`, `SHARED`; `proxy/gate/tasks.py` stands for it in this
repository), so it imports the standard library only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Tasks:
    """Owns a set of named tasks; closing it cancels and awaits all of them."""

    def __init__(self, name: str, *, grace: float = 5.0) -> None:
        self._name = name
        self._grace = grace  # how long `close` waits for cancelled tasks to finish
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self._name}: cannot spawn `{name}` after close")
        task = asyncio.create_task(coro, name=f"{self._name}/{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Cancel every task and wait for them, at most `grace` seconds in all."""
        self._closed = True
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=self._grace)
            for task in stuck:
                log.error("task %s did not stop within %.1fs", task.get_name(), self._grace)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("task %s failed", task.get_name(), exc_info=error)


__all__ = ["Tasks"]
