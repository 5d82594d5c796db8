"""Round-trip benchmark (issues 3 and 4): sequential `tools/call get_current_time` through
mcp-lok's proxy against direct stdio of the same image. Goal: median within 0.6 ms of
direct.

direct         `E run -i --rm --network none --ulimit …` of mcp-lok/mcp-server-time, a raw
               JSON-RPC client on its stdin/stdout (one line out, one line back).
attach/raw     the same image created with `E create -i`, reached through mcp-lok's own
               engine attach and demultiplexer (`mcp_lok.proxy.attach`, `framing`) from
               this process: the path the proxy uses to its server, without HTTP and
               without the proxy. Splits direct's cost into the engine's part and the
               `E run -i` client's relay.
proxy/aiohttp  the same image started with `mcp-lok start` (detached proxy, its own
               process), an aiohttp client POSTing to /mcp with `Mcp-Session-Id`, JSON
               answers, one kept-alive connection. This is the goal's figure.
proxy/raw      the same proxy, a minimal HTTP/1.1 client on a raw keep-alive socket:
               without aiohttp's client-side cost.
canned/…       an aiohttp server in its own process that answers every POST with a fixed
               body of the same size, with no work at all: the floor of one HTTP exchange
               on loopback with these clients (what any HTTP bridge pays on top of stdio).

All in one client process and one event loop, in interleaved rounds (the kinds' order
rotates each round; round 0 is warm-up and not counted), the garbage collector paused
while a block is timed. Reported per kind: median and p99 over all counted calls, the
median of each round's median (spread between rounds shows the noise), and for the proxy
the proxy process's CPU time per call (from /proc). All traffic is on loopback;
containers and the started server are removed at the end (`mcp-lok rm --force`).

Run: `make bench`, or `.venv/bin/python bench/roundtrip_bench.py [--engine E]...
[--rounds R] [--per N] [--max-load L --max-wait S]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from benchlib import (
    DIRECT_FLAGS,
    IMAGE,
    INITIALIZED,
    MCP_LOK,
    bench_env,
    call,
    cleanup_name,
    engine_arguments,
    free_port,
    goal,
    initialize,
    leftovers,
    median,
    percentile,
    print_load_after,
    print_machine,
    require_image,
    settle,
)

from mcp_lok.proxy import attach
from mcp_lok.proxy.framing import Demuxer, LineSplitter, Stream

GOAL_MS = 0.6
ENGINE_SOCKETS = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}
CALL_WAIT = 30.0  # seconds for any one answer
START_WAIT = 120.0  # seconds for `mcp-lok start` / `rm`
INITIALIZE = initialize("roundtrip-bench")
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CANNED_SERVER = r"""
import asyncio, sys
from aiohttp import web
body = sys.stdin.buffer.readline().rstrip(b"\n")
async def post(request):
    await request.read()
    return web.Response(body=body, content_type="application/json",
                        headers={"Mcp-Session-Id": "canned"})
async def main():
    app = web.Application()
    app.router.add_post("/mcp", post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    await runner.cleanup()
asyncio.run(main())
"""


def check(answer: bytes, request_id: int) -> None:
    message = json.loads(answer)
    if message.get("id") != request_id or "result" not in message:
        raise RuntimeError(f"unexpected answer to {request_id}: {answer[:200]!r}")
    if "Europe/Paris" not in json.dumps(message["result"]):
        raise RuntimeError(f"not a get_current_time result: {answer[:200]!r}")


# --- the ways to reach the server --------------------------------------------------------

RoundTrip = Callable[[bytes], Awaitable[bytes]]


class Direct:
    """`E run -i` of the image; line-delimited JSON-RPC on its stdio."""

    def __init__(self, engine: str) -> None:
        self.engine, self.name = engine, f"bench-rt-direct-{uuid.uuid4().hex[:8]}"
        self.child: asyncio.subprocess.Process | None = None

    async def open(self) -> None:
        self.child = await asyncio.create_subprocess_exec(
            self.engine,
            "run",
            "-i",
            "--name",
            self.name,
            *DIRECT_FLAGS,
            IMAGE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=2**24,
            env=bench_env(),
        )
        check_init(await asyncio.wait_for(self.send(json.dumps(INITIALIZE).encode()), 120))
        assert self.child.stdin is not None
        self.child.stdin.write(INITIALIZED + b"\n")

    async def send(self, body: bytes) -> bytes:
        assert self.child is not None
        assert self.child.stdin
        assert self.child.stdout
        self.child.stdin.write(body + b"\n")
        await self.child.stdin.drain()
        return await self.child.stdout.readline()

    async def close(self) -> None:
        if self.child is not None:
            if self.child.stdin is not None:
                self.child.stdin.close()
            try:
                await asyncio.wait_for(self.child.wait(), 30)
            except TimeoutError:
                self.child.kill()
                await self.child.wait()
        if leftovers(self.engine, self.name):
            cleanup_name(self.engine, self.name)


class Attached:
    """A container created by `E create -i`, reached the way the proxy reaches its server:
    mcp-lok's own engine attach (`POST /containers/{id}/attach`, Upgrade: tcp) and
    demultiplexer, but no HTTP and no proxy in between. Not a product path: it splits
    direct stdio's cost into the engine's part and the `docker run -i` client's relay."""

    def __init__(self, engine: str) -> None:
        self.engine, self.name = engine, f"bench-rt-attach-{uuid.uuid4().hex[:8]}"
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.demuxer = Demuxer()
        self.lines = LineSplitter()
        self.pending: list[bytes] = []

    async def open(self) -> None:
        created = await asyncio.to_thread(
            subprocess.run,
            [self.engine, "create", "-i", "--name", self.name, *DIRECT_FLAGS, IMAGE],
            capture_output=True,
            text=True,
            timeout=START_WAIT,
            check=True,
        )
        container = created.stdout.strip().splitlines()[-1]
        self.stream = await attach(ENGINE_SOCKETS[self.engine], container)
        await asyncio.to_thread(
            subprocess.run,
            [self.engine, "start", container],
            capture_output=True,
            timeout=START_WAIT,
            check=True,
        )
        check_init(await asyncio.wait_for(self.send(json.dumps(INITIALIZE).encode()), 120))
        self.stream[1].write(INITIALIZED + b"\n")

    async def send(self, body: bytes) -> bytes:
        assert self.stream is not None
        reader, writer = self.stream
        writer.write(body + b"\n")
        while not self.pending:
            data = await reader.read(65536)
            if not data:
                raise RuntimeError("the attach stream ended")
            for stream, payload in self.demuxer.feed(data):
                if stream is Stream.STDOUT:
                    self.pending.extend(self.lines.feed(payload))
        return self.pending.pop(0)

    async def close(self) -> None:
        if self.stream is not None:
            self.stream[1].close()
        cleanup_name(self.engine, self.name)


def check_init(answer: bytes) -> None:
    message = json.loads(answer)
    if message.get("id") != 0 or "result" not in message:
        raise RuntimeError(f"initialize failed: {answer[:300]!r}")


class Http:
    """A Streamable HTTP endpoint, with an aiohttp client and a raw-socket client."""

    def __init__(self, url: str, checked: bool = True, token: str | None = None) -> None:
        self.url, self.checked = url, checked
        # mcp-lok's proxy requires its bearer token (the canned server takes none): sent on
        # every call, so the proxy's cost includes checking it, as every client pays it
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.headers = {**HEADERS, **auth}
        self.session: aiohttp.ClientSession | None = None
        self.raw: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.prefix = b""

    async def open(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1),
            timeout=aiohttp.ClientTimeout(total=CALL_WAIT),
        )
        async with self.session.post(
            self.url, data=json.dumps(INITIALIZE), headers=self.headers
        ) as r:
            answer = await r.read()
            if self.checked:
                check_init(answer)
            self.headers["Mcp-Session-Id"] = r.headers["Mcp-Session-Id"]
        async with self.session.post(self.url, data=INITIALIZED, headers=self.headers) as r:
            await r.read()
        host_port = self.url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        self.raw = await asyncio.open_connection(host, int(port))
        self.prefix = (
            f"POST /mcp HTTP/1.1\r\nHost: {host_port}\r\n"
            f"Accept: {HEADERS['Accept']}\r\nContent-Type: application/json\r\n"
            f"Mcp-Session-Id: {self.headers['Mcp-Session-Id']}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in self.headers.items() if k == "Authorization")
        ).encode()

    async def via_aiohttp(self, body: bytes) -> bytes:
        assert self.session is not None
        async with self.session.post(self.url, data=body, headers=self.headers) as response:
            return await response.read()

    async def via_raw(self, body: bytes) -> bytes:
        assert self.raw is not None
        reader, writer = self.raw
        writer.write(b"%sContent-Length: %d\r\n\r\n%s" % (self.prefix, len(body), body))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"HTTP error: {head[:200]!r}")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return await reader.readexactly(length)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.raw is not None:
            self.raw[1].close()
            with contextlib.suppress(OSError):
                await self.raw[1].wait_closed()


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proxy_pid(name: str) -> int | None:
    from mcp_lok.launcher.state import Store

    state = Store().load(name)
    return None if state is None else state.proxy_pid


@dataclass
class Kind:
    name: str
    send: RoundTrip
    samples: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)
    cpu: float = 0.0
    cpu_pid: int | None = None
    checked: bool = True  # False: the canned server answers every request alike


async def run_block(kind: Kind, per: int, next_id: int, counted: bool) -> int:
    bodies = [(i, call(i)) for i in range(next_id, next_id + per)]
    times: list[float] = []
    answers: list[tuple[int, bytes]] = []
    cpu = _cpu_seconds(kind.cpu_pid)
    gc.collect()
    gc.disable()
    try:
        for request_id, body in bodies:
            start = time.perf_counter()
            answer = await asyncio.wait_for(kind.send(body), CALL_WAIT)
            times.append(time.perf_counter() - start)
            answers.append((request_id, answer))
    finally:
        gc.enable()
    for request_id, answer in answers:
        check(answer, request_id if kind.checked else 1)
    if counted:
        kind.samples.extend(times)
        kind.round_medians.append(median(times))
        kind.cpu += _cpu_seconds(kind.cpu_pid) - cpu
    return next_id + per


async def canned_server(body: bytes) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CANNED_SERVER,
        str(port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=bench_env(),
    )
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.write(body + b"\n")
    await child.stdin.drain()
    line = await asyncio.wait_for(child.stdout.readline(), 30)
    if line.strip() != b"ready":
        raise RuntimeError("the canned server did not start")
    return child, f"http://127.0.0.1:{port}/mcp"


def start_server(engine: str, name: str) -> tuple[str, str]:
    """`mcp-lok start`: the client URL and the bearer token its proxy requires."""
    done = subprocess.run(
        [MCP_LOK, "start", "--name", name, "--engine", engine, "--format", "json", IMAGE],
        capture_output=True,
        text=True,
        timeout=START_WAIT,
        env=bench_env(),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"`mcp-lok start` failed ({done.returncode}): {done.stderr}")
    started = json.loads(done.stdout)
    return str(started["url"]), str(started["token"])


async def bench(engine: str, rounds: int, per: int) -> bool:
    print(f"-- {engine}: {rounds} counted rounds (+1 warm-up) x {per} sequential calls per kind")
    name = f"bench-rt-{uuid.uuid4().hex[:8]}"
    direct = Direct(engine)
    attached = Attached(engine)
    proxy: Http | None = None
    canned: Http | None = None
    canned_child: asyncio.subprocess.Process | None = None
    try:
        await direct.open()
        sample = await direct.send(call(1))
        check(sample, 1)
        await attached.open()
        url, token = await asyncio.to_thread(start_server, engine, name)
        proxy = Http(url, token=token)
        await proxy.open()
        canned_child, canned_url = await canned_server(sample.rstrip(b"\n"))
        canned = Http(canned_url, checked=False)
        await canned.open()
        pid = _proxy_pid(name)
        kinds = [
            Kind("direct", direct.send),
            Kind("attach/raw", attached.send),
            Kind("proxy/aiohttp", proxy.via_aiohttp, cpu_pid=pid),
            Kind("proxy/raw", proxy.via_raw, cpu_pid=pid),
            Kind("canned/aiohttp", canned.via_aiohttp, cpu_pid=canned_child.pid, checked=False),
            Kind("canned/raw", canned.via_raw, cpu_pid=canned_child.pid, checked=False),
        ]
        next_id = 2
        for number in range(rounds + 1):
            shift = number % len(kinds)
            for kind in kinds[shift:] + kinds[:shift]:
                next_id = await run_block(kind, per, next_id, counted=number > 0)
    finally:
        if canned is not None:
            await canned.close()
        if canned_child is not None:
            assert canned_child.stdin is not None
            canned_child.stdin.close()  # it exits on EOF
            try:
                await asyncio.wait_for(canned_child.wait(), 10)
            except TimeoutError:
                canned_child.kill()
                await canned_child.wait()
        if proxy is not None:
            await proxy.close()
        await direct.close()
        await attached.close()
        cleanup_name(engine, name)
        if leftovers(engine, name):
            print(f"  WARNING: containers of {name} left on {engine}")
    return report(engine, kinds)


def report(engine: str, kinds: list[Kind]) -> bool:
    base = kinds[0]
    base_p50, base_p99 = median(base.samples) * 1e3, percentile(base.samples, 99) * 1e3
    print(
        f"  {'kind':15s} {'median':>8s} {'p99':>8s} {'Δmedian':>8s} {'Δp99':>8s}  "
        "round medians (ms)"
    )
    for kind in kinds:
        p50, p99 = median(kind.samples) * 1e3, percentile(kind.samples, 99) * 1e3
        spread = " ".join(f"{x * 1e3:.2f}" for x in kind.round_medians)
        print(
            f"  {kind.name:15s} {p50:8.3f} {p99:8.3f} {p50 - base_p50:+8.3f} "
            f"{p99 - base_p99:+8.3f}  {spread}"
        )
    for kind in kinds:
        if kind.cpu_pid is not None and kind.samples:
            server = "proxy" if kind.name.startswith("proxy") else "canned server"
            print(
                f"  {server} process CPU during {kind.name}: "
                f"{kind.cpu / len(kind.samples) * 1e6:.0f} µs per call (10 ms tick resolution)"
            )
    proxy = kinds[2]
    proxied = median(proxy.samples) * 1e3
    met = proxied - base_p50 <= GOAL_MS
    print(
        f"  {engine}: proxy/aiohttp median {proxied:.3f} ms vs direct {base_p50:.3f} ms: "
        f"{proxied - base_p50:+.3f} ms; goal within {GOAL_MS} ms: {goal(met)}"
    )
    deltas = [(p - d) * 1e3 for p, d in zip(proxy.round_medians, base.round_medians, strict=True)]
    print(
        f"    cross-check: per-round differences of the medians {min(deltas):+.3f} to "
        f"{max(deltas):+.3f} ms, median {median(deltas):+.3f} ms"
    )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    engine_arguments(parser)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per", type=int, default=200)
    args = parser.parse_args()
    settle(args)
    print_machine("round trip: sequential tools/call, proxy vs direct stdio")
    rounds, per = max(1, min(args.rounds, 50)), max(10, min(args.per, 2000))
    for engine in args.engine or ["docker", "podman"]:
        require_image(engine)
        asyncio.run(bench(engine, rounds, per))
    print_load_after()


if __name__ == "__main__":
    main()
