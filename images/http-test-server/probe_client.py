"""Minimal stdlib MCP client for smoke tests: initialize, then call tools.

Runs anywhere Python 3.11 runs: inside the http-test-server container
(`docker exec <id> python3 /opt/mcp-lok/app/probe_client.py ...`), in a second
container that joined its network namespace (`--network container:<id>`), or
on the host.

  probe_client.py [--transport streamable-http|sse] [--url URL] [--wait SECONDS]
                  [--call NAME JSON_ARGS]...

Default URL: http://127.0.0.1:8080/mcp (streamable-http) or .../sse (sse).
Default calls: echo {"text": "hello"}, add {"a": 2, "b": 3}, whoami {}.
Prints one JSON object on stdout: {"initialize": <result>, "calls": {name: <result>}}.
Exit status 0 only if every response is a JSON-RPC result without isError.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

PROTOCOL_VERSION = "2025-06-18"


def _connect(url: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=timeout)


def _sse_events(resp: http.client.HTTPResponse) -> Iterator[tuple[str, str]]:
    """(event, data) pairs from a text/event-stream response."""
    event, data = "message", list[str]()
    while True:
        raw = resp.readline()
        if not raw:
            return
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def _loads(raw: str | bytes) -> dict[str, Any]:
    obj = json.loads(raw)
    if not isinstance(obj, dict):
        raise RuntimeError(f"not a JSON-RPC object: {obj!r:.200}")
    return obj


def _request(method: str, params: dict[str, Any] | None, msg_id: int | None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    if msg_id is not None:
        msg["id"] = msg_id
    return msg


INIT_PARAMS = {
    "protocolVersion": PROTOCOL_VERSION,
    "capabilities": {},
    "clientInfo": {"name": "mcp-lok-probe", "version": "0"},
}


class StreamableHTTP:
    def __init__(self, url: str, timeout: float):
        self.url = urllib.parse.urlsplit(url)
        self.timeout = timeout
        self.session: str | None = None

    def send(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        conn = _connect(self.url, self.timeout)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        if self.session:
            headers["Mcp-Session-Id"] = self.session
            headers["Mcp-Protocol-Version"] = PROTOCOL_VERSION
        try:
            conn.request("POST", self.url.path or "/", body=json.dumps(msg), headers=headers)
            resp = conn.getresponse()
            self.session = resp.getheader("mcp-session-id") or self.session
            if "id" not in msg:  # notification: 202, no body
                resp.read()
                return None
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:500]!r}")
            if (resp.getheader("content-type") or "").startswith("text/event-stream"):
                for _event, data in _sse_events(resp):
                    reply = _loads(data)
                    if reply.get("id") == msg["id"]:
                        return reply
                raise RuntimeError("event stream ended without a reply")
            return _loads(resp.read())
        finally:
            conn.close()

    def close(self) -> None:
        if self.session:
            conn = _connect(self.url, self.timeout)
            try:
                conn.request(
                    "DELETE", self.url.path or "/", headers={"Mcp-Session-Id": self.session}
                )
                conn.getresponse().read()
            except OSError:
                pass
            finally:
                conn.close()


class LegacySSE:
    def __init__(self, url: str, timeout: float):
        self.url = urllib.parse.urlsplit(url)
        self.timeout = timeout
        self.stream_conn = _connect(self.url, timeout)
        self.stream_conn.request(
            "GET", self.url.path or "/sse", headers={"Accept": "text/event-stream"}
        )
        resp = self.stream_conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"GET {self.url.path}: HTTP {resp.status}")
        self.events = _sse_events(resp)
        event, data = next(self.events)
        if event != "endpoint":
            raise RuntimeError(f"expected an endpoint event, got {event!r}")
        self.endpoint = urllib.parse.urljoin(url, data)

    def send(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        target = urllib.parse.urlsplit(self.endpoint)
        conn = _connect(target, self.timeout)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            conn.request(
                "POST", path, body=json.dumps(msg), headers={"Content-Type": "application/json"}
            )
            resp = conn.getresponse()
            resp.read()
            if resp.status not in (200, 202):
                raise RuntimeError(f"POST {path}: HTTP {resp.status}")
        finally:
            conn.close()
        if "id" not in msg:
            return None
        for _event, data in self.events:
            reply = _loads(data)
            if reply.get("id") == msg["id"]:
                return reply
        raise RuntimeError("event stream ended without a reply")

    def close(self) -> None:
        self.stream_conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    ap.add_argument("--url")
    ap.add_argument(
        "--wait", type=float, default=20.0, help="seconds to wait for the server to listen"
    )
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--call", nargs=2, action="append", metavar=("NAME", "JSON_ARGS"))
    args = ap.parse_args()
    url = args.url or (
        "http://127.0.0.1:8080/mcp"
        if args.transport == "streamable-http"
        else "http://127.0.0.1:8080/sse"
    )
    calls = args.call or [
        ["echo", '{"text": "hello"}'],
        ["add", '{"a": 2, "b": 3}'],
        ["whoami", "{}"],
    ]

    deadline = time.monotonic() + args.wait
    while True:  # the server may still be starting
        try:
            client: StreamableHTTP | LegacySSE = (
                StreamableHTTP(url, args.timeout)
                if args.transport == "streamable-http"
                else LegacySSE(url, args.timeout)
            )
            init = client.send(_request("initialize", INIT_PARAMS, 1))
            break
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

    ok = bool(init and "result" in init)
    out: dict[str, Any] = {"initialize": init, "calls": {}}
    client.send(_request("notifications/initialized", None, None))
    for n, (name, raw_args) in enumerate(calls, start=2):
        reply = client.send(
            _request("tools/call", {"name": name, "arguments": json.loads(raw_args)}, n)
        )
        out["calls"][name] = reply
        ok = ok and bool(reply and "result" in reply and not reply["result"].get("isError"))
    client.close()
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
