"""Moving bytes: dialling with backoff, splicing two streams, and owning every open
connection so that shutdown can drain and then cut them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass

from .log import log
from .tasks import Tasks

# one read; with the reader's limit and the writer's high-water mark, this bounds what a
# connection buffers to a few hundred KiB per direction, however fast one side sends
CHUNK = 64 * 1024
MAX_CONNECTIONS = 256  # 2 descriptors each; the gate's nofile limit is 1024
DIAL_DEADLINE = 30.0  # how long a connection waits for the server to start listening
DIAL_FIRST_DELAY = 0.05
DIAL_MAX_DELAY = 1.0


@dataclass(slots=True)
class Traffic:
    """Bytes moved by one connection: `up` towards the server, `down` back to the client."""

    up: int = 0
    down: int = 0


class DialError(OSError):
    """The server never accepted the connection before the deadline."""


async def dial(
    host: str,
    port: int,
    *,
    deadline: float = DIAL_DEADLINE,
    abandoned: Callable[[], bool] = lambda: False,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to `host:port`, retrying with backoff while the server is still starting.

    Gives up at `deadline` seconds, or as soon as `abandoned()` says the client left."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    delay = DIAL_FIRST_DELAY
    while True:
        remaining = end - loop.time()
        try:
            async with asyncio.timeout(max(remaining, 0.001)):
                return await asyncio.open_connection(host, port, limit=CHUNK)
        except (OSError, TimeoutError) as error:
            last: BaseException = error
        if abandoned():
            raise DialError(f"the client left while {host}:{port} was not answering")
        if loop.time() + delay >= end:
            reason = type(last).__name__
            raise DialError(f"{host}:{port} did not accept within {deadline:.0f} s ({reason})")
        await asyncio.sleep(delay)
        delay = min(delay * 2, DIAL_MAX_DELAY)


async def splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    traffic: Traffic,
) -> None:
    """Copy bytes both ways until both directions have ended.

    An EOF on one side is passed on as a half-close (`shutdown(SHUT_WR)`) and the other
    direction keeps flowing; an error on either side ends both."""

    def up(n: int) -> None:
        traffic.up += n

    def down(n: int) -> None:
        traffic.down += n

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_pump(client[0], server[1], up))
            group.create_task(_pump(server[0], client[1], down))
    except* OSError:
        # a reset on either side: both ends are closed below, nothing more to say
        pass
    finally:
        for writer in (client[1], server[1]):
            writer.close()
        for writer in (client[1], server[1]):
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: Callable[[int], None]
) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        # INVARIANT: wait until the peer takes the bytes, so a slow side bounds the buffer
        await writer.drain()
        count(len(data))
    if writer.can_write_eof() and not writer.is_closing():
        writer.write_eof()


class Connections:
    """Owns every connection task: counts them, caps them, and cancels them on shutdown."""

    def __init__(self, limit: int = MAX_CONNECTIONS) -> None:
        self._limit = limit
        self._spawned = Tasks("connections")  # what the gate's own listeners accepted
        self._tasks: set[asyncio.Task[None]] = set()  # every connection being served
        self._serial = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._tasks)

    async def serve(
        self,
        refuse: asyncio.StreamWriter | Callable[[], object],
        label: str,
        work: Callable[[int], Awaitable[None]],
    ) -> None:
        """Run `work(serial)` for one accepted connection, as a task this object owns.
        Over the limit, the connection is refused: its writer aborted, or `refuse()`."""
        self._serial += 1
        serial = self._serial
        if len(self._tasks) >= self._limit:
            log.warning("%s #%d: refused, %d connections already open", label, serial, self._limit)
            if isinstance(refuse, asyncio.StreamWriter):
                refuse.transport.abort()
            else:
                refuse()
            return
        task = asyncio.current_task()
        assert task is not None  # asyncio runs every connection callback in a task
        self._tasks.add(task)
        self._idle.clear()
        try:
            await work(serial)
        finally:
            self._tasks.discard(task)
            if not self._tasks:
                self._idle.set()

    def spawn(self, work: Coroutine[object, object, None], *, name: str) -> None:
        """Handle an accepted connection in a task of its own (`work` calls `serve`)."""
        self._spawned.spawn(work, name=name)

    def cut(self) -> None:
        """Cancel every open connection now."""
        for task in list(self._tasks):
            task.cancel()

    async def drain(self, grace: float) -> None:
        """Let open connections finish for `grace` seconds, then cut what is left."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()
        self.cut()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._spawned.close()
