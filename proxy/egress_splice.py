"""Splicing one egress connection on the host, in the kernel: the client's socket (handed
over by the gate) to the destination's, both ways, with `splice(2)` through a pipe, so
no byte is copied through Python. One pooled thread per direction (the calls block and
release the GIL); an end on one side is passed on as a half-close, an error ends both.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

CHUNK = 1 << 20
JOIN_WAIT = 2.0  # after a cut, how long the threads have to notice
MAX_PAIRS = 256  # the relay's connection limit


class Workers:
    """Daemon threads kept and reused (starting two per connection would cost its set-up
    time); daemons, so a thread still blocked in `splice` never holds the process at exit."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._idle <= 0 and self._threads < self._limit:
                self._threads += 1
                threading.Thread(target=self._work, name="egress-splice", daemon=True).start()
            else:
                self._idle -= 1  # an idle thread's job (below 0: queued for the next free)
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle += 1


_WORKERS = Workers(2 * MAX_PAIRS)
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Python 3.10+ on Linux); named here for mypy


@dataclass(eq=False)  # identity: pairs are kept in a set
class Pair:
    """Two connected sockets being spliced; `cut()` ends both from any thread."""

    client: socket.socket
    upstream: socket.socket
    out: int = 0  # client → destination
    back: int = 0
    _running: int = 2

    async def run(self) -> None:
        """Splice until both directions have ended; closes both sockets."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finished() -> None:
            self._running -= 1
            if self._running == 0 and not done.done():
                done.set_result(None)

        for sock in (self.client, self.upstream):
            sock.setblocking(True)
        for src, dst, outward in ((self.client, self.upstream, True),
                                  (self.upstream, self.client, False)):  # fmt: skip
            notify = functools.partial(loop.call_soon_threadsafe, finished)
            _WORKERS.submit(functools.partial(self._pump, src, dst, outward, notify))
        try:
            await done
        finally:
            self.cut()
            # INVARIANT: a socket is closed only once no thread can still use its number
            # (a closed descriptor's number is reused at once, by anything)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(done), JOIN_WAIT)
            if self._running == 0:
                for sock in (self.client, self.upstream):
                    sock.close()

    def cut(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _pump(
        self, src: socket.socket, dst: socket.socket, outward: bool, done: Callable[[], object]
    ) -> None:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            with contextlib.suppress(OSError):
                fcntl.fcntl(write_end, F_SETPIPE_SZ, CHUNK)
            while moved := os.splice(src.fileno(), write_end, CHUNK):
                while moved:
                    sent = os.splice(read_end, dst.fileno(), moved)
                    moved -= sent
                    if outward:
                        self.out += sent
                    else:
                        self.back += sent
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
        except OSError:
            self.cut()  # a reset or a closed socket on either side ends both directions
        finally:
            os.close(read_end)
            os.close(write_end)
            with contextlib.suppress(RuntimeError):  # the loop may be closing
                done()
