"""Bridges side by side (issue 4): the same `mcp-server-time` image behind direct stdio,
mcp-lok's proxy, the PyPI `mcp-proxy`, the npm `mcp-proxy` and the npm `supergateway`,
driven by the same raw client (JSON-RPC over hand-written HTTP/1.1 on a kept-alive
socket; not the MCP SDK, whose own 2–4 ms per call would hide the bridges). Reported per
bridge: sequential `tools/call` p50 and p99 (all kinds up at once, measured in rounds whose
order rotates, so load on the shared machine falls on each alike), calls/s with 16
sessions at once (median of 3, one bridge at a time), and the bridge process's peak RSS
(VmHWM, after all of it).

direct        `E run -i` of the image, one line out and one line back on its stdio (the
              baseline every bridge adds to; no HTTP, so no 16-session figure)
mcp-lok       `mcp-lok start` (detached proxy; the server runs under the stdio profile)
pypi-mcp-proxy, npm-mcp-proxy, supergateway
              each runs `E run -i --rm --network none … IMAGE` itself, Streamable HTTP
              on 127.0.0.1 (supergateway with `--stateful`, for sessions)

The peers are not project dependencies: `--pypi-mcp-proxy PATH` and `--node-modules DIR`
name where they are installed (`make bench-bridges` installs them under target/); a peer
that is not installed is reported as skipped. Everything is on loopback; every server,
container and process started here is removed at the end. Run:
`.venv/bin/python bench/bridges_bench.py [--engine E] [--rounds R] [--per-round N]
[--per-session N]` (or `make bench-bridges`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import (
    DIRECT_FLAGS,
    IMAGE,
    INITIALIZED,
    MCP_LOK,
    REPO,
    bench_env,
    call,
    cleanup_name,
    engine_arguments,
    free_port,
    initialize,
    leftovers,
    load,
    median,
    percentile,
    print_machine,
    settle,
)

INITIALIZE = initialize("bridges-bench")
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
READY_WAIT = 90.0
CALL_WAIT = 30.0


def answer_to(raw: bytes, content_type: str, request_id: int) -> dict[str, Any]:
    """The JSON-RPC answer to `request_id` in a JSON body or an SSE body."""
    if "event-stream" in content_type:
        for line in raw.decode().splitlines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("id") == request_id:
                    return dict(message)
        raise RuntimeError(f"no answer to {request_id} in the event stream: {raw[:200]!r}")
    message = json.loads(raw)
    if message.get("id") != request_id:
        raise RuntimeError(f"answer to the wrong id: {raw[:200]!r}")
    return dict(message)


class HttpSession:
    """One MCP session over Streamable HTTP on its own kept-alive connection, spoken by
    hand (HTTP/1.1, Content-Length or chunked bodies, JSON or SSE): no client library's
    cost in the figures, the same client for every bridge."""

    def __init__(self, url: str) -> None:
        self.url = url
        authority, _, self.path = url.removeprefix("http://").partition("/")
        self.path = "/" + self.path
        self.host, _, port = authority.rpartition(":")
        self.port = int(port)
        self.session_header = b""
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        try:
            return await self._exchange(body)
        except asyncio.IncompleteReadError as error:
            if error.partial:
                raise
            # the server closed the kept-alive connection while it was idle (Node's
            # default keep-alive timeout is 5 s): the request never arrived; again, anew
            await self.close()
            return await self._exchange(body)

    async def _exchange(self, body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        if self.stream is None:
            self.stream = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.stream
        writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: application/json, text/event-stream"
            b"\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
            % (self.path.encode(), self.host.encode(), self.port, self.session_header,
               len(body), body)
        )  # fmt: skip
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CALL_WAIT)
        status_line, *lines = head[:-4].split(b"\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            data = await reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            data = await self._chunks(reader)
        else:
            data = b""
        if headers.get(b"connection", b"").lower() == b"close":
            writer.close()
            self.stream = None
        return int(status_line.split()[1]), headers, data

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def open(self) -> None:
        status, headers, raw = await self.exchange(json.dumps(INITIALIZE).encode())
        if status != 200:
            raise RuntimeError(f"initialize: {status} {raw[:200]!r}")
        answer_to(raw, headers.get(b"content-type", b"").decode(), 0)
        if b"mcp-session-id" in headers:
            self.session_header = b"Mcp-Session-Id: %s\r\n" % headers[b"mcp-session-id"]
        await self.exchange(INITIALIZED)

    async def send(self, request_id: int) -> None:
        status, headers, raw = await self.exchange(call(request_id))
        answer = answer_to(raw, headers.get(b"content-type", b"").decode(), request_id)
        if "Europe/Paris" not in json.dumps(answer.get("result")):
            raise RuntimeError(f"not a get_current_time result ({status}): {answer}")

    async def close(self) -> None:
        if self.stream is not None:
            self.stream[1].close()
            self.stream = None


class DirectSession:
    """`E run -i` of the image, line-delimited JSON-RPC on its stdio."""

    def __init__(self, engine: str) -> None:
        self.engine, self.name = engine, f"bench-br-direct-{uuid.uuid4().hex[:8]}"
        self.child: asyncio.subprocess.Process | None = None

    async def open(self) -> None:
        self.child = await asyncio.create_subprocess_exec(
            *(self.engine, "run", "-i", "--name", self.name, *DIRECT_FLAGS, IMAGE),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=2**24,
        )
        assert self.child.stdin is not None
        assert self.child.stdout is not None
        self.child.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        await asyncio.wait_for(self.child.stdout.readline(), READY_WAIT)
        self.child.stdin.write(INITIALIZED + b"\n")

    async def send(self, request_id: int) -> None:
        assert self.child is not None
        assert self.child.stdin is not None
        assert self.child.stdout is not None
        self.child.stdin.write(call(request_id) + b"\n")
        answer = json.loads(await self.child.stdout.readline())
        if answer.get("id") != request_id:
            raise RuntimeError(f"answer to the wrong id: {answer}")

    async def close(self) -> None:
        if self.child is not None and self.child.stdin is not None:
            self.child.stdin.close()
            try:
                await asyncio.wait_for(self.child.wait(), 30)
            except TimeoutError:
                self.child.kill()
        if leftovers(self.engine, self.name):
            cleanup_name(self.engine, self.name)


@dataclass
class Bridge:
    name: str
    url: str = ""
    pid: int | None = None
    process: subprocess.Popen[bytes] | None = None
    container: str = ""
    lok_name: str = ""
    results: dict[str, Any] = field(default_factory=dict)


def peak_rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def start_peer(name: str, command: list[str], engine: str) -> Bridge:
    """Start a peer bridge in front of `E run -i` of the image; its URL and process."""
    container = f"bench-br-{name}-{uuid.uuid4().hex[:6]}"
    port = free_port()
    server = [engine, "run", "-i", "--name", container, *DIRECT_FLAGS, IMAGE]
    if name == "pypi-mcp-proxy":
        argv = [*command, "--port", str(port), "--host", "127.0.0.1", "--", *server]
    elif name == "npm-mcp-proxy":
        argv = [*command, "--port", str(port), "--host", "127.0.0.1", "--server", "stream"]
        argv += ["--", *server]
    else:  # supergateway
        argv = [*command, "--stdio", " ".join(server), "--outputTransport", "streamableHttp"]
        argv += ["--stateful", "--port", str(port)]
    env = {**bench_env(), "NODE_EXTRA_CA_CERTS": "/etc/ssl/certs/ca-certificates.crt"}
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=env, start_new_session=True,
    )  # fmt: skip
    bridge = Bridge(name, f"http://127.0.0.1:{port}/mcp", process.pid, process, container)
    return bridge


def start_lok(engine: str) -> Bridge:
    name = f"bench-br-lok-{uuid.uuid4().hex[:6]}"
    # `--no-auth`: the bridges it is compared with check no token, so neither does it here
    # (a token costs one constant-time compare per request; roundtrip_bench measures it)
    result = subprocess.run(
        [MCP_LOK, "start", "--format", "json", "--no-auth", "--engine", engine, "--name", name,
         IMAGE],
        capture_output=True, text=True, timeout=120, check=False, env=bench_env(),
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"mcp-lok start failed: {result.stderr}")
    url = json.loads(result.stdout)["url"]
    sys.path.insert(0, str(REPO.parent))
    from mcp_lok.launcher.state import Store

    state = Store().load(name)
    return Bridge("mcp-lok", url, state.proxy_pid if state else None, lok_name=name)


def stop(bridge: Bridge, engine: str) -> None:
    if bridge.lok_name:
        subprocess.run([MCP_LOK, "rm", "--force", bridge.lok_name], capture_output=True,
                       timeout=60, check=False)  # fmt: skip
    if bridge.process is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(bridge.process.pid, 15)
        try:
            bridge.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(bridge.process.pid, 9)
            bridge.process.wait(5)
    if bridge.container and leftovers(engine, bridge.container):
        cleanup_name(engine, bridge.container)


async def ready(bridge: Bridge) -> HttpSession:
    deadline = time.monotonic() + READY_WAIT
    while True:
        session = HttpSession(bridge.url)
        try:
            await session.open()
            return session
        except (OSError, RuntimeError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            await session.close()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def warm(session: Any) -> None:
    for n in range(1, 21):
        await session.send(n)


async def throughput(url: str, sessions: int, per_session: int) -> float:
    opened = [HttpSession(url) for _ in range(sessions)]
    try:
        for session in opened:  # one after another: opening is not what is measured
            await session.open()

        async def run(session: HttpSession) -> None:
            for n in range(1, per_session + 1):
                await session.send(n)

        start = time.perf_counter()
        await asyncio.gather(*(run(s) for s in opened))
        return sessions * per_session / (time.perf_counter() - start)
    finally:
        await asyncio.gather(*(s.close() for s in opened))


async def all_throughputs(bridges: list[Bridge], per_session: int) -> None:
    """16 sessions on one bridge at a time, three times in rotating order: the median;
    then each bridge's peak RSS."""
    rates: dict[str, list[float]] = {bridge.name: [] for bridge in bridges}
    for repeat in range(3):
        for bridge in bridges[repeat % len(bridges) :] + bridges[: repeat % len(bridges)]:
            if len(rates[bridge.name]) < repeat:
                continue  # it failed before
            try:
                rates[bridge.name].append(await throughput(bridge.url, 16, per_session))
            except Exception as error:  # reported as failed, with the reason
                print(f"{bridge.name}: 16 sessions failed: {type(error).__name__}: {error}")
    for bridge in bridges:
        if len(rates[bridge.name]) == 3:
            bridge.results["calls/s"] = median(rates[bridge.name])
        bridge.results["rss"] = peak_rss_mib(bridge.pid)


async def interleaved(sessions: dict[str, Any], rounds: int, per: int) -> dict[str, list[float]]:
    """`rounds` rounds of `per` sequential calls on each session, the order rotating each
    round, so that a burst of load on the shared machine falls on every kind alike."""
    samples: dict[str, list[float]] = {name: [] for name in sessions}
    names = list(sessions)
    next_id = 100
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            for _ in range(per):
                start = time.perf_counter()
                await sessions[name].send(next_id)
                samples[name].append((time.perf_counter() - start) * 1000)
                next_id += 1
    return samples


def peer_versions(args: argparse.Namespace) -> dict[str, str]:
    """The installed version of each peer, from its own package metadata."""
    found: dict[str, str] = {}
    site = sorted(Path(args.pypi_mcp_proxy).parents[1].glob("lib/python*/site-packages"))
    for folder in site:
        for meta in folder.glob("mcp_proxy-*.dist-info/METADATA"):
            found["pypi-mcp-proxy"] = meta.parent.name.removesuffix(".dist-info").split("-")[1]
    for name, package in (("npm-mcp-proxy", "mcp-proxy"), ("supergateway", "supergateway")):
        manifest = Path(args.node_modules) / package / "package.json"
        if manifest.exists():
            found[name] = json.loads(manifest.read_text())["version"]
    return found


def peer_commands(args: argparse.Namespace) -> dict[str, list[str]]:
    """Each peer's command, or [] when it is not installed."""
    node = Path(args.node_modules) / ".bin"
    found = {
        "pypi-mcp-proxy": Path(args.pypi_mcp_proxy),
        "npm-mcp-proxy": node / "mcp-proxy",
        "supergateway": node / "supergateway",
    }
    return {name: [str(path)] if path.exists() else [] for name, path in found.items()}


async def main(args: argparse.Namespace) -> int:
    engine = args.engine
    print_machine(f"bridges on {engine}: sequential tools/call, 16 sessions, peak RSS")
    print(f"load before: {' / '.join(f'{x:.2f}' for x in load())}", flush=True)
    print(f"peers: {peer_versions(args)}, node {node_version()}", flush=True)
    peers = peer_commands(args)
    bridges: list[Bridge] = []
    sessions: dict[str, Any] = {}
    direct = DirectSession(engine)
    try:
        await direct.open()
        sessions["direct stdio"] = direct
        for name in ["mcp-lok", *peers]:
            if name != "mcp-lok" and not peers[name]:
                print(f"{name}: not installed, skipped (`make bench-bridges` installs it)")
                continue
            bridge = (
                start_lok(engine) if name == "mcp-lok" else start_peer(name, peers[name], engine)
            )
            bridges.append(bridge)
            sessions[name] = await ready(bridge)
        for session in sessions.values():
            await warm(session)
        samples = await interleaved(sessions, args.rounds, args.per_round)
        rows = [Bridge("direct stdio"), *bridges]
        for row in rows:
            row.results = {
                "p50": median(samples[row.name]),
                "p99": percentile(samples[row.name], 99),
            }
        await all_throughputs(bridges, args.per_session)
    finally:
        for session in sessions.values():
            await session.close()
        for bridge in bridges:
            stop(bridge, engine)
    print_table(rows)
    print(f"load after: {' / '.join(f'{x:.2f}' for x in load())}", flush=True)
    return 0


def node_version() -> str:
    found = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return found.stdout.strip() or "not found"


def print_table(rows: list[Bridge]) -> None:
    base = rows[0].results["p50"]
    pypi = next((r.results for r in rows if r.name == "pypi-mcp-proxy" and r.results), None)
    print("\n| Bridge | p50 ms | p99 ms | p50 − direct | 16 sessions calls/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        r = row.results
        if not r:
            print(f"| {row.name} | failed | | | | |")
            continue
        cps = f"{r['calls/s']:.0f}" if "calls/s" in r else ("—" if row.pid is None else "failed")
        rss = f"{r['rss']:.1f}" if r.get("rss") else "—"
        print(f"| {row.name} | {r['p50']:.2f} | {r['p99']:.2f} | +{r['p50'] - base:.2f} | "
              f"{cps} | {rss} |")  # fmt: skip
    lok = next((r.results for r in rows if r.name == "mcp-lok" and r.results), None)
    if lok and pypi:
        print(f"\nmcp-lok vs PyPI mcp-proxy: p50 {pypi['p50'] / lok['p50']:.2f}× faster, "
              f"16-session throughput {lok['calls/s'] / pypi['calls/s']:.2f}×")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    engine_arguments(parser)
    parser.add_argument("--rounds", type=int, default=11, help="interleaved rounds")
    parser.add_argument("--per-round", type=int, default=40, help="calls per kind and round")
    parser.add_argument("--per-session", type=int, default=50, help="calls per session of 16")
    parser.add_argument("--pypi-mcp-proxy", default=str(REPO / "target/bench-py/bin/mcp-proxy"))
    parser.add_argument("--node-modules", default=str(REPO / "target/bench-node/node_modules"))
    arguments = parser.parse_args()
    settle(arguments)
    for engine in arguments.engine or ["docker"]:
        arguments.engine = engine
        code = asyncio.run(main(arguments))
    sys.exit(code)
