"""What `mcp-lok inspect NAME` shows: one server as its state records it, for its owner.

Where clients reach it, the engine and the ids of everything its launch created (the
container, the gate, the networks, the launch's nonce), the policy it runs under, when it
was created, and whether its proxy requires a bearer token. The token itself only with
`--show-token`: the state that keeps it is its owner's alone (0600, in a 0700 folder), so
only they (and root) can see it again. The status is `list`'s.
"""

from __future__ import annotations

from typing import Any

from mcp_lok.policy.baseline import MAX_SESSIONS, SESSION_IDLE_TIMEOUT

from .state import ServerState, client_urls


def describe(
    state: ServerState, status: str, show_token: bool = False, reason: str | None = None
) -> dict[str, Any]:
    """The server's facts, as `inspect --format json` prints them (`reason`: why its status
    is `degraded`)."""
    running = status in ("running", "degraded", "starting") and state.url
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
        "auth": state.token is not None,
        "sessions": _sessions(state),
    }
    if show_token:
        found["token"] = state.token
    return found


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
        ("auth", auth),
    ]
    if sessions := found["sessions"]:
        limits = f"at most {sessions['max']}, idle ones closed after {sessions['idle_timeout']} s"
        lines.insert(-1, ("sessions", f"{sessions['mode']}: {limits}"))
    if found.get("token"):
        lines.append(("token", found["token"]))
    width = max(len(key) for key, _ in lines) + 1
    return "\n".join(f"{key + ':':<{width}} {value}" for key, value in lines)


__all__ = ["describe", "render"]
