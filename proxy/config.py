"""What the launcher tells the proxy: one frozen value, the contract between the two.

The proxy never talks to the engine's management API (that is the launcher's job, through
its one adapter); for stdio it only attaches to the container's streams on the engine's
socket, and for HTTP transports it only connects to the gate's ingress Unix socket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mcp_lok.policy.baseline import MAX_SESSIONS, SESSION_IDLE_TIMEOUT

LOG_MODE = 0o600  # the log holds the server's stderr: its owner's alone


def private_log(path: str) -> None:
    """Create the log at `path` with `LOG_MODE` unless it exists (the launcher made it so):
    every later `open(…, "a")` then appends to it, whatever the umask."""
    # INVARIANT: a log is never created with the umask's mode
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, LOG_MODE))


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    name: str  # the server's name, for logs and /health
    transport: str  # "stdio" | "sse" | "streamable-http": how the SERVER speaks
    host: str = "127.0.0.1"  # where clients reach the proxy; never 0.0.0.0 by default
    port: int = 0  # 0: pick a free port; the bound URL is reported through `on_ready`
    # stdio: attach to this container's stdin/stdout/stderr on this engine socket
    engine_socket: str | None = None
    container_id: str | None = None
    # sse / streamable-http: the gate's ingress socket on the host, and the server's port
    ingress_socket: str | None = None
    target_port: int = 8080
    # extra allowed `Origin` values (the proxy's own http://127.0.0.1:PORT and
    # http://localhost:PORT are always allowed; requests without Origin are allowed)
    allowed_origins: tuple[str, ...] = ()
    # where the server's stderr (stdio) and the proxy's own log lines go
    log_path: str | None = None
    max_body_bytes: int = 4 * 1024 * 1024
    # -- optional, added with the stdio bridge --------------------------------------------
    # when set, every request but /health must carry `Authorization: Bearer <token>`
    bearer_token: str | None = None
    # how long a client's request may wait for the server's answer (then a JSON-RPC error
    # and `notifications/cancelled` to the server)
    request_timeout: float = 300.0
    # how long a client may take to send a request's body (then 408, connection closed)
    read_timeout: float = 30.0
    # Streamable HTTP sessions idle this long (no request in flight, no open stream) are
    # closed; at `max_sessions`, the least recently used idle one is closed for a new one
    session_idle_timeout: float = SESSION_IDLE_TIMEOUT
    max_sessions: int = MAX_SESSIONS
    # stateless (2026-07-28) requests in flight at once, each in a session of its own
    max_stateless: int = 1024
    # "shared": every client session on one server; "per-session": a server of its own for
    # each (stdio only; the launcher passes `serve` a `spawn` that starts one)
    session_mode: str = "shared"
    # a stdout line (one server message) longer than this ends the bridge: the server is
    # no longer speaking line-delimited JSON-RPC
    max_line_bytes: int = 32 * 1024 * 1024
    # seconds `serve` lets requests in flight finish after `stop` is set
    drain_timeout: float = 5.0
