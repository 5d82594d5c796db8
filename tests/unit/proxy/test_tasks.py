"""The one task owner: names its tasks, logs failures, cancels and awaits them on close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mcp_lok.proxy.tasks import Tasks

pytestmark = pytest.mark.asyncio


async def test_tasks_are_named_and_forgotten_when_done() -> None:
    tasks = Tasks("owner")
    task = tasks.spawn(asyncio.sleep(0, result=3), name="quick")
    assert task.get_name() == "owner/quick"
    assert await task == 3
    await asyncio.sleep(0)
    assert len(tasks) == 0


async def test_close_cancels_and_awaits_every_task() -> None:
    tasks = Tasks("owner")
    stopped = []

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.append(True)

    spawned = [tasks.spawn(forever(), name=f"t{i}") for i in range(3)]
    await asyncio.sleep(0)
    await tasks.close()
    assert stopped == [True, True, True]
    assert all(t.cancelled() for t in spawned)


async def test_nothing_spawns_after_close() -> None:
    tasks = Tasks("owner")
    await tasks.close()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="after close"):
        tasks.spawn(coro, name="late")


async def test_a_failure_is_logged_with_the_tasks_name(caplog: pytest.LogCaptureFixture) -> None:
    tasks = Tasks("owner")

    async def boom() -> None:
        raise RuntimeError("bad")

    with caplog.at_level(logging.ERROR):
        task = tasks.spawn(boom(), name="boom")
        await asyncio.wait([task])
        await asyncio.sleep(0)
    assert "owner/boom failed" in caplog.text


async def test_a_task_that_ignores_cancellation_is_reported_not_waited_for_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = Tasks("owner", grace=0.05)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    task = tasks.spawn(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR):
        await tasks.close()
    assert "owner/stubborn did not stop" in caplog.text
    release.set()
    await task
