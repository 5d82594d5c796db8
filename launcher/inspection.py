"""What `mcp-lok inspect NAME` shows: one server as its state records it, for its owner.

Where clients reach it (URLs, port), the engine and the ids of everything its launch
created (the container, the gate, the networks, the launch's nonce), the policy it runs
under and the plan it was launched with, its command, its restart policy and how often it
was started again, when it was created, its session limits, and whether its proxy requires
a bearer token. The token itself only with `--show-token`, and only to the server's owner:
the state that keeps it is theirs alone (0600, in a 0700 folder). The status is `list`'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mcp_lok.policy.baseline import MAX_SESSIONS, SESSION_IDLE_TIMEOUT

from .state import ServerState, client_urls


def describe(
    state: ServerState,
    status: str,
    show_token: bool = False,
    reason: str | None = None,
    plan: str | None = None,
) -> dict[str, Any]:
    """The server's facts, as `inspect --format json` prints them (`reason`: why its status
    is `degraded`; `plan`: where the plan it was launched with is kept)."""
    running = status in ("running", "degraded", "starting") and state.url
    asked = state.request or {}
    urls = client_urls(state.url or "", state.transport) if running else {}
    found: dict[str, Any] = {
        "name": state.name,
        "status": status,
        **({"reason": reason} if reason else {}),
        "url": urls.get("url"),
        "sse_url": urls.get("sse_url"),
        "transport": state.transport,
        "image": state.image,
        "engine": state.engine,
        "engine_url": state.engine_url,
        "profile": state.profile,
        "policy_digest": state.policy_digest,
        "created": state.created,
        "container": {"name": state.container_name, "id": state.container_id},
        "gate": {"name": state.gate_name, "id": state.gate_id} if state.gate_name else None,
        "networks": [{"name": n.name, "id": n.id} for n in state.networks],
        "launch": state.launch,
        "plan": plan,
        "port": state.port,
        "command": list(asked.get("args") or []),
        "restart": {"policy": asked.get("restart", "no"), "restarts": state.restarts},
        "auth": state.token is not None,
        "sessions": _sessions(state),
    }
    if show_token:
        found["token"] = state.token
    return found


def owner_problem(folder: Path, uid: int | None = None) -> str | None:
    """Why the caller may not see the token kept in a server's `folder`: it is not theirs
    (None when it is). The folder is 0700 already; this is said, not left to a failed
    read."""
    uid = os.geteuid() if uid is None else uid
    try:
        owner = folder.stat().st_uid
    except OSError as error:
        return f"cannot look at the server's folder: {error.strerror}"
    if owner != uid:
        return f"the server is uid {owner}'s: only they can see its bearer token"
    return None


def _sessions(state: ServerState) -> dict[str, Any] | None:
    """A stdio server's session limits (the proxy's defaults for a state from before they
    were kept); None for an HTTP server, whose sessions are its own."""
    if state.transport != "stdio":
        return None
    return {
        "mode": state.session_mode or "shared",
        "max": state.max_sessions or MAX_SESSIONS,
        "idle_timeout": state.session_idle_timeout or SESSION_IDLE_TIMEOUT,
    }


def render(found: dict[str, Any]) -> str:
    """`describe`'s facts for a person, one per line."""

    def named(entry: dict[str, Any] | None) -> str:
        return f"{entry['name']} ({entry['id'] or 'not created'})" if entry else "-"

    restart = found["restart"]
    if found["auth"]:
        auth = "bearer token" + ("" if "token" in found else " (`--show-token` prints it)")
    else:
        auth = "NONE: every local user and process can use it (--no-auth)"
    lines = [
        ("name", found["name"]),
        ("status", found["status"] + (f" ({found['reason']})" if "reason" in found else "")),
        ("url", found["url"] or "-"),
        ("sse url", found["sse_url"] or "-"),
        ("transport", found["transport"]),
        ("image", found["image"]),
        ("engine", f"{found['engine']} ({found['engine_url']})"),
        ("policy", f"{found['profile']} (digest {found['policy_digest']})"),
        ("created", found["created"]),
        ("container", named(found["container"])),
        ("gate", named(found["gate"])),
        ("networks", ", ".join(named(n) for n in found["networks"]) or "-"),
        ("launch", found["launch"] or "-"),
        ("plan", found["plan"] or "-"),
        ("port", str(found["port"] or "-")),
        ("command", " ".join(found["command"]) or "(the image's)"),
        ("restart", f"{restart['policy']}; started again {restart['restarts']} times"),
        ("auth", auth),
    ]
    if sessions := found["sessions"]:
        limits = f"at most {sessions['max']}, idle ones closed after {sessions['idle_timeout']} s"
        lines.insert(-1, ("sessions", f"{sessions['mode']}: {limits}"))
    if package := found.get("package"):
        count = f"{len(package['packages'])} packages, SBOM at {package['sbom']}"
        lines.insert(6, ("package", f"{package['spec']} ({count})"))
    if found.get("token"):
        lines.append(("token", found["token"]))
    width = max(len(key) for key, _ in lines) + 1
    return "\n".join(f"{key + ':':<{width}} {value}" for key, value in lines)


__all__ = ["describe", "owner_problem", "render"]
