"""Egress benchmark (issue 5): connection set-up and bulk throughput through the gate
against the same transfer from the host directly, in one run. Goals: set-up within 2 ms
of direct, and at least half the direct throughput.

destination  a container on a bridge network this benchmark creates, answering on two
             ports: 7000 echoes one byte per connection (set-up), 7001 sends `--megabytes`
             of zeros and closes (bulk).
direct       a client on the host dials the destination's address.
gate/dns     the same client inside a server container `mcp-lok start` launched under a
             policy that allows the destination's name; it dials the name's loopback
             address (plain TCP, no proxy): gate listener → Unix socket → mcp-lok's relay
             on the host → destination.
gate/proxy   the same, through `CONNECT name:port` on the gate's HTTP proxy.

Set-up is timed from `connect()` to the echoed byte (through the gate, the relay only
answers once the host has checked the rule and connected, so this is the full path).
Kinds interleave per round: direct, then the in-container client (both gate kinds), then
direct again; round 0 is warm-up. The name resolves through the harness's resolver
override (`MCP_LOK_TEST_RESOLVE`), as in the e2e tests; nothing leaves the machine.

Run: `.venv/bin/python bench/egress_bench.py [--engine E]... [--rounds R] [--per N]
[--megabytes M]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchlib import (
    MCP_LOK,
    cleanup_name,
    engine_arguments,
    goal,
    median,
    percentile,
    print_load_after,
    print_machine,
    settle,
)

BASE = "mcp-lok/base:latest"
NAME = "bench.test"
SERVICE = r"""
import socket, threading
def echo(conn):
    with conn:
        data = conn.recv(1)
        if data:
            conn.sendall(data)
def bulk(conn, size):
    with conn:
        block = bytes(1 << 20)
        for _ in range(size):
            conn.sendall(block)
def serve(port, handle, *extra):
    server = socket.create_server(("0.0.0.0", port), backlog=128)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn, *extra), daemon=True).start()
import sys
threading.Thread(target=serve, args=(7001, bulk, int(sys.argv[1])), daemon=True).start()
serve(7000, echo)
"""
# the client: the same code on the host (direct) and in the container (through the gate)
CLIENT = r"""
import gc, json, socket, sys, time
def setup_once(host, port, proxy):
    started = time.perf_counter()
    conn = socket.create_connection(proxy or (host, port), timeout=10)
    if proxy:
        conn.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\n\r\n".encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += conn.recv(1)
        assert b" 200 " in head, head
    conn.sendall(b"x")
    assert conn.recv(1) == b"x"
    took = time.perf_counter() - started
    conn.close()
    return took
def bulk(host, port, proxy):
    conn = socket.create_connection(proxy or (host, port), timeout=30)
    if proxy:
        conn.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\n\r\n".encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += conn.recv(1)
    started, total = time.perf_counter(), 0
    while data := conn.recv(1 << 18):
        total += len(data)
    took = time.perf_counter() - started
    conn.close()
    return total, took
def measure(host, per, proxy):
    gc.disable()
    times = [setup_once(host, 7000, proxy) for _ in range(per)]
    gc.enable()
    size, took = bulk(host, 7001, proxy)
    return {"setup": times, "bytes": size, "seconds": took}
spec = json.loads(sys.argv[1])
result = {}
for kind, proxy in spec["kinds"].items():
    result[kind] = [measure(spec["host"], spec["per"], tuple(proxy) if proxy else None)
                    for _ in range(spec["rounds"])]
if spec.get("out"):
    with open(spec["out"] + ".tmp", "w") as handle:
        json.dump(result, handle)
    import os
    os.rename(spec["out"] + ".tmp", spec["out"])
else:
    print(json.dumps(result))
"""


def run(command: list[str], timeout: float = 120, **kwargs: Any) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command[:4])}…\n{done.stderr}")
    return done.stdout


def destination(engine: str, tag: str, megabytes: int) -> tuple[str, str]:
    """Create the destination's network and container; (its address, the network)."""
    run([engine, "network", "create", tag])
    run([engine, "run", "-d", "--name", tag, "--network", tag,
         "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
         BASE, "python3", "-c", SERVICE, str(megabytes)])  # fmt: skip
    address = run(
        [engine, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", tag]
    ).strip()
    for _ in range(100):
        try:
            direct(address, 1, 1, {"direct": None})
            return address, tag
        except (SystemExit, subprocess.TimeoutExpired):
            time.sleep(0.1)
    raise SystemExit(f"the destination at {address} never answered")


def direct(address: str, rounds: int, per: int, kinds: dict[str, Any]) -> dict[str, Any]:
    spec = {"host": address, "rounds": rounds, "per": per, "kinds": kinds}
    return dict(json.loads(run([sys.executable, "-c", CLIENT, json.dumps(spec)], timeout=600)))


def through_gate(engine: str, address: str, rounds: int, per: int) -> dict[str, Any]:
    name = f"bench-egress-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        out.mkdir()
        out.chmod(0o777)
        policy = Path(folder) / "policy.lok"
        policy.write_text(
            f"allow {NAME}, {address} port 7000, 7001\nwrite {out} as /out\nlimit memory 256M\n"
        )
        spec = {
            "host": NAME,
            "rounds": rounds,
            "per": per,
            "kinds": {"gate/dns": None, "gate/proxy": ["127.0.0.1", 3128]},
            "out": "/out/result.json",
        }
        env = dict(os.environ, MCP_LOK_TEST_RESOLVE=f"{NAME}={address}")
        try:
            run([MCP_LOK, "start", "--engine", engine, "--name", name,
                 "--permission-profile", str(policy), BASE,
                 "--", "python3", "-c", CLIENT, json.dumps(spec)], env=env)  # fmt: skip
            result = out / "result.json"
            deadline = time.monotonic() + 900
            while not result.exists():
                if time.monotonic() > deadline:
                    raise SystemExit("the in-container client never finished")
                time.sleep(0.5)
            return dict(json.loads(result.read_text()))
        finally:
            cleanup_name(engine, name)


def summarize(kind: str, rounds: list[dict[str, Any]]) -> dict[str, float]:
    counted = rounds[1:] or rounds  # round 0 warms up
    setups = [t * 1000 for r in counted for t in r["setup"]]
    rates = [r["bytes"] / r["seconds"] / 1e6 for r in counted]
    found = {
        "setup_median_ms": median(setups),
        "setup_p99_ms": percentile(setups, 99),
        "throughput_mb_s": median(rates),
        "megabytes": counted[0]["bytes"] / 1e6,
    }
    print(
        f"  {kind:11s} set-up median {found['setup_median_ms']:7.3f} ms  "
        f"p99 {found['setup_p99_ms']:7.3f} ms   bulk {found['throughput_mb_s']:8.1f} MB/s "
        f"(median of {len(rates)} × {found['megabytes']:.0f} MB; "
        f"{', '.join(f'{r:.0f}' for r in rates)})"
    )
    return found


def bench(engine: str, rounds: int, per: int, megabytes: int) -> bool:
    tag = f"bench-egress-dest-{uuid.uuid4().hex[:8]}"
    try:
        address, _ = destination(engine, tag, megabytes)
        before = direct(address, rounds, per, {"direct": None})["direct"]
        gated = through_gate(engine, address, rounds, per)
        after = direct(address, rounds, per, {"direct": None})["direct"]
    finally:
        subprocess.run([engine, "rm", "-f", tag], capture_output=True, timeout=60)
        subprocess.run([engine, "network", "rm", tag], capture_output=True, timeout=60)
    print(f"== {engine}: {rounds - 1} counted rounds × {per} set-ups, {megabytes} MB bulk")
    base = summarize("direct", before[:1] + before[1:] + after[1:])
    met = True
    for kind in ("gate/dns", "gate/proxy"):
        found = summarize(kind, gated[kind])
        delta = found["setup_median_ms"] - base["setup_median_ms"]
        ratio = found["throughput_mb_s"] / base["throughput_mb_s"]
        ok = delta <= 2.0 and ratio >= 0.5
        met = met and ok
        print(
            f"    {kind}: set-up +{delta:.3f} ms (goal ≤ 2 ms), throughput {ratio:.2f}× direct "
            f"(goal ≥ 0.5×): {goal(ok)}"
        )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    engine_arguments(parser)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per", type=int, default=200)
    parser.add_argument("--megabytes", type=int, default=128)
    args = parser.parse_args()
    settle(args)
    print_machine("egress through the gate vs direct")
    met = all(
        bench(engine, args.rounds, args.per, args.megabytes)
        for engine in args.engine or ["docker", "podman"]
    )
    print_load_after()
    print(f"overall: {goal(met)}")


if __name__ == "__main__":
    main()
