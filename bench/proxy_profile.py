"""Where the proxy's CPU time per `tools/call` goes: a diagnostic for `roundtrip_bench.py`
(not a benchmark: no baseline; profiling slows what it measures).

A child process runs `mcp_lok.proxy.serve` for a container made with `E create -i` of
mcp-lok/mcp-server-time, under cProfile with a CPU-time clock (`time.process_time`, so
waiting in epoll costs nothing), switched on once the proxy is ready. This process sends
N sequential `tools/call`s with a raw keep-alive HTTP client, then the child prints its
CPU per call grouped by where the code lives (aiohttp, mcp-lok's proxy, asyncio, the rest
of the standard library, C built-ins such as socket calls) and its top functions.

Run: `.venv/bin/python bench/proxy_profile.py [--engine docker|podman] [--calls N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid

from benchlib import (
    DIRECT_FLAGS,
    IMAGE,
    INITIALIZED,
    bench_env,
    call,
    cleanup_name,
    initialize,
    require_image,
)

SOCKETS = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}
CHILD = r"""
import asyncio, cProfile, collections, pstats, sys, time
from mcp_lok.proxy import ProxyConfig, serve

socket, container, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
profile = cProfile.Profile(time.process_time)

async def main():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), stop.set)

    def ready(url):
        print(url, flush=True)
        profile.enable()

    config = ProxyConfig(name="profile", transport="stdio", engine_socket=socket,
                         container_id=container)
    await serve(config, on_ready=ready, stop=stop)

asyncio.run(main())
profile.disable()
stats = pstats.Stats(profile)
groups = collections.Counter()
for (path, line, name), (cc, nc, tottime, cumtime, callers) in stats.stats.items():
    if "/aiohttp/" in path:
        group = "aiohttp"
    elif "/work/" in path and "/proxy/" in path or "mcp_lok" in path:
        group = "mcp-lok proxy code"
    elif "/asyncio/" in path:
        group = "asyncio"
    elif path == "~":
        group = "C built-ins (" + ("socket/select calls" if any(
            k in name for k in ("send", "recv", "poll", "select", "epoll")) else "other") + ")"
    else:
        group = "other Python (stdlib: json, logging, enum, …)"
    groups[group] += tottime
total = sum(groups.values())
print(f"proxy CPU under the profiler: {total / calls * 1e6:.0f} µs per call "
      f"(profiling overhead included; compare shares, not absolutes)", file=sys.stderr)
for group, seconds in groups.most_common():
    print(f"  {seconds / calls * 1e6:7.1f} µs  {seconds / total:6.1%}  {group}", file=sys.stderr)
print("top functions by own CPU time:", file=sys.stderr)
stats.stream = sys.stderr
stats.sort_stats("tottime").print_stats(22)
print("mcp-lok proxy code, by cumulative CPU time:", file=sys.stderr)
stats.sort_stats("cumulative").print_stats(r"/(proxy|mcp_lok)/", 25)
"""


async def drive(url: str, calls: int) -> list[float]:
    host_port = url.split("//", 1)[1]
    host, port = host_port.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\n"
    ).encode()

    async def exchange(body: bytes, extra: bytes = b"") -> tuple[bytes, bytes]:
        writer.write(b"%s%sContent-Length: %d\r\n\r\n%s" % (head, extra, len(body), body))
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        length = 0
        for line in response.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return response, await reader.readexactly(length)

    response, _ = await exchange(json.dumps(initialize("profile")).encode())
    session = next(
        line.split(b":", 1)[1].strip()
        for line in response.split(b"\r\n")
        if line.lower().startswith(b"mcp-session-id:")
    )
    extra = b"Mcp-Session-Id: %s\r\n" % session
    await exchange(INITIALIZED, extra)
    times = []
    for i in range(1, calls + 1):
        start = time.perf_counter()
        _, body = await exchange(call(i), extra)
        times.append(time.perf_counter() - start)
        if b"Europe/Paris" not in body:
            raise RuntimeError(f"unexpected answer: {body[:200]!r}")
    writer.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="docker", choices=["docker", "podman"])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    calls = max(100, min(args.calls, 20000))
    require_image(args.engine)
    name = f"bench-profile-{uuid.uuid4().hex[:8]}"
    created = subprocess.run(
        [args.engine, "create", "-i", "--name", name, *DIRECT_FLAGS, IMAGE],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    container = created.stdout.strip().splitlines()[-1]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, SOCKETS[args.engine], container, str(calls)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=bench_env(),
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        url = child.stdout.readline().decode().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the proxy did not start: {url!r}")
        subprocess.run([args.engine, "start", container], capture_output=True, timeout=120)
        times = asyncio.run(drive(url, calls))
        times.sort()
        print(
            f"{calls} calls through the profiled proxy ({args.engine}): median "
            f"{times[len(times) // 2] * 1e3:.3f} ms (slowed by the profiler)"
        )
        child.stdin.close()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        cleanup_name(args.engine, name)


if __name__ == "__main__":
    main()
