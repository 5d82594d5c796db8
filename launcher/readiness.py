"""Whether a started server really serves, and what it said when it did not.

`start` waits (`wait_serving`) until the server answers through its proxy:

- a stdio server, once its first `initialize` is answered. `start` sends it through the
  proxy as a client would, then `notifications/initialized`, then ends the session
  (DELETE), so no session is left to count against `--max-sessions`; the proxy answers
  every later client's `initialize` from the server's answer to this one, as it answers
  every client after the first. It declares the capabilities the proxy can route to its
  sessions (sampling, elicitation, roots), and the newest revision the proxy speaks.
- an HTTP server, once the proxy's `/health` says `ok`: its port answered through the
  gate, and not with a server error.

A server container that stops ends the wait at once. `stderr_tail` reads the server's
last lines on stderr: from the server's log for stdio (the proxy writes it there), from
the engine for HTTP servers (the engine keeps their output).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_lok.proxy import logfile

from .engine import ContainerEngine
from .errors import LokError
from .state import ServerState
from .version import __version__

# seconds `start` waits for a server to serve, unless told otherwise (`--wait`, `--no-wait`)
START_WAIT = 60.0
POLL = 0.25  # seconds between two looks at an HTTP server, or at a container that stops
HEALTH_WAIT = 4.0  # seconds one `/health` may take (the proxy gives the server 3)
EXIT_WAIT = 5.0  # seconds the engine gets to record the exit of a server whose output ended
TAIL_LINES = 20  # how many of the server's last stderr lines a failure shows
PROTOCOL_VERSION = "2025-11-25"  # the newest revision with a handshake the proxy speaks
CAPABILITIES = {"sampling": {}, "elicitation": {}, "roots": {"listChanged": True}}

# a line of the server's log that the server wrote (`logfile.line`): what follows is its own
_SERVER_LINE = re.compile(rf"^\S+ {logfile.SERVER}: ")


class NotServing(LokError):
    """A started server that did not serve: it exited, failed or timed out. `tail` holds
    its last lines on stderr, once `with_tail` has read them."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="everything it created is removed")
        self.tail: list[str] = []

    def with_tail(self, tail: list[str]) -> NotServing:
        self.tail = tail
        said = "its last lines on stderr are above" if tail else "it wrote nothing on stderr"
        self.hint = f"{said}; everything it created is removed"
        return self


def wait_serving(
    engine: ContainerEngine,
    state: ServerState,
    base: str,
    token: str | None,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once the server behind the proxy at `base` serves; raise `NotServing` when
    its container stops first, when it answers with an error, or after `timeout` seconds."""
    deadline = clock() + timeout
    if state.transport == "stdio":
        problem = _initialize(base, token, max(deadline - clock(), 0.1))
    else:
        problem = _healthy(engine, state, base, deadline, clock)
    if problem is None:
        return
    code = exit_code(engine, state.container_id or "", EXIT_WAIT if problem.gone else 0.0)
    if code is not None:
        raise NotServing(f"`{state.name}` exited with code {code} before it served")
    if problem.timed_out:
        raise NotServing(f"`{state.name}` did not serve within {timeout:g}s: {problem.detail}")
    raise NotServing(f"`{state.name}` does not serve: {problem.detail}")


class _Problem:
    def __init__(self, detail: str, *, gone: bool = False, timed_out: bool = False) -> None:
        self.detail, self.gone, self.timed_out = detail, gone, timed_out


def _initialize(base: str, token: str | None, timeout: float) -> _Problem | None:
    """The handshake through the proxy; None when the server answered with a result."""
    params = {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": CAPABILITIES,
        "clientInfo": {"name": "mcp-lok", "version": __version__},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    try:
        answer, session = _post(base, token, body, None, timeout)
    except TimeoutError:
        return _Problem("its `initialize` was not answered", timed_out=True)
    except (OSError, ValueError) as error:
        return _Problem(f"its proxy did not answer `initialize`: {error}", gone=True)
    if not isinstance(answer, dict) or "result" not in answer:
        said = answer.get("error", {}) if isinstance(answer, dict) else {}
        message = said.get("message") if isinstance(said, dict) else None
        return _Problem(f"`initialize` failed: {message or answer}", gone=True)
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    try:
        _post(base, token, note, session, timeout)
    except (OSError, ValueError) as error:
        return _Problem(f"its proxy did not take `notifications/initialized`: {error}")
    finally:
        _end(base, token, session)
    return None


def _headers(token: str | None, session: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if session is not None:
        headers["Mcp-Session-Id"] = session
    return headers


def _opener() -> urllib.request.OpenerDirector:
    # no HTTP proxy from the environment: this is our own proxy, on loopback
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post(
    base: str, token: str | None, body: dict[str, Any], session: str | None, timeout: float
) -> tuple[Any, str | None]:
    """POST one message to `/mcp`: its JSON answer (None for a notification) and the
    session the answer names. An HTTP error's JSON-RPC body is the answer too."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (our own proxy's http:// URL)
        f"{base}/mcp", data=data, headers=_headers(token, session), method="POST"
    )
    try:
        with _opener().open(request, timeout=timeout) as response:
            text = response.read()
            named = response.headers.get("Mcp-Session-Id")
    except urllib.error.HTTPError as error:
        return json.loads(error.read() or b"null"), None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise error.reason from error
        raise
    return (json.loads(text) if text.strip() else None), named


def _end(base: str, token: str | None, session: str | None) -> None:
    """DELETE the session: it must not count against the proxy's session limit."""
    if session is None:
        return
    request = urllib.request.Request(  # noqa: S310 (our own proxy's http:// URL)
        f"{base}/mcp", headers=_headers(token, session), method="DELETE"
    )
    try:
        with _opener().open(request, timeout=POLL * 20):
            pass
    except OSError:
        pass  # the proxy closes an idle session itself, later


def _healthy(
    engine: ContainerEngine,
    state: ServerState,
    base: str,
    deadline: float,
    clock: Callable[[], float],
) -> _Problem | None:
    """Poll the proxy's `/health` until it says `ok`, the container stops, or time is up."""
    detail = "its port did not answer through the gate"
    while True:
        if exit_code(engine, state.container_id or "", 0.0) is not None:
            return _Problem("its container stopped", gone=True)
        try:
            wait = min(max(deadline - clock(), POLL), HEALTH_WAIT)
            with _opener().open(f"{base}/health", timeout=wait) as answer:
                about = json.loads(answer.read())
            if isinstance(about, dict) and about.get("status") in ("ok", "degraded"):
                return None
        except urllib.error.HTTPError as error:
            about = json.loads(error.read() or b"null")
            if isinstance(about, dict):
                detail = str(about.get("reason") or detail)
        except (OSError, ValueError):
            pass
        if clock() >= deadline:
            return _Problem(detail, timed_out=True)
        time.sleep(POLL)


def exit_code(engine: ContainerEngine, container: str, wait: float) -> int | None:
    """The exit code of a container that stopped (None while it runs, or if it is gone),
    giving the engine up to `wait` seconds to notice that it stopped."""
    deadline = time.monotonic() + wait
    while True:
        found = engine.inspect(container) if container else None
        seen = (found or {}).get("State", {})
        if found is None or seen.get("Status") == "created":
            return None  # gone, or never started (a server per session: none up front)
        if not seen.get("Running"):
            return int(seen.get("ExitCode", 0))
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL)


def stderr_tail(engine: ContainerEngine, state: ServerState, lines: int = TAIL_LINES) -> list[str]:
    """The server's last `lines` lines on stderr (for an HTTP server, its output)."""
    if state.transport == "stdio":
        try:
            text = Path(state.log_path).read_text(errors="replace")
        except OSError:
            return []
        # the proxy's own lines in the same file (sessions, warnings) are not the server's
        said = (_SERVER_LINE.match(line) for line in text.splitlines())
        return [m.string[m.end() :] for m in said if m][-lines:]
    if not state.container_id:
        return []
    try:
        output = b"".join(engine.logs(state.container_id, tail=lines))
    except LokError:
        return []
    return output.decode("utf-8", "replace").splitlines()[-lines:]


__all__ = ["START_WAIT", "NotServing", "exit_code", "stderr_tail", "wait_serving"]
