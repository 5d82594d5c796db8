"""What a foreground `run` hears from its server: each line of its stderr as it comes, and
its end.

A stdio server's stderr and end reach the proxy through the attach stream, which calls
`Watch.line` and `Watch.gone` (a `--restart` policy has its say first: `gone` is heard only
once no restart follows). An HTTP server is not attached: a thread follows its output
from the engine (`follow`), and the output's end is the container's. Either end stops the
proxy (a SIGTERM to this process, as a Ctrl-C would), and `ended()` then says the
server's exit code, for `run` to report and exit 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .engine import ContainerEngine
from .errors import LokError
from .readiness import EXIT_WAIT, exit_code
from .state import ServerState


class ServerExited(LokError):
    """The server of a foreground `run` ended by itself."""


@dataclass
class Watch:
    """One foreground server's stderr (`show` hears each line) and its end."""

    engine: ContainerEngine
    state: ServerState
    show: Callable[[str], None]
    reason: str | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def line(self, text: str) -> None:
        self.show(text)

    def gone(self, reason: str) -> None:
        """The server ended: stop the proxy, as a Ctrl-C would."""
        if self.reason is not None or self.stopping.is_set():
            return
        self.reason = reason
        os.kill(os.getpid(), signal.SIGTERM)

    @contextlib.contextmanager
    def following(self) -> Iterator[None]:
        """For an HTTP server, follow its output on a thread while the body runs."""
        if self.state.transport == "stdio" or not self.state.container_id:
            yield
            return
        thread = threading.Thread(target=self.follow, name="server-output", daemon=True)
        thread.start()
        try:
            yield
        finally:
            self.stopping.set()

    def follow(self) -> None:
        """Each line of the server's output, until its container stops."""
        partial = b""
        try:
            for chunk in self.engine.logs(self.state.container_id or "", follow=True):
                *lines, partial = (partial + chunk).split(b"\n")
                for line in lines:
                    self.line(line.decode("utf-8", "replace"))
        except LokError:
            pass
        if partial:
            self.line(partial.decode("utf-8", "replace"))
        self.gone("the server's container stopped")

    def ended(self) -> ServerExited | None:
        """Why the server ended by itself (with its exit code), or None when it did not:
        the foreground run was stopped. Call it before the container is removed."""
        self.stopping.set()
        if self.reason is None:
            return None
        code = exit_code(self.engine, self.state.container_id or "", EXIT_WAIT)
        said = f"exited with code {code}" if code is not None else f"ended: {self.reason}"
        return ServerExited(
            f"the server of `{self.state.name}` {said}; everything it created is removed",
            hint="its stderr is above, each line marked `server:`",
        )


__all__ = ["ServerExited", "Watch"]
