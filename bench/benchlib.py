"""Shared helpers for the benchmarks: the machine they ran on, the load, free ports,
statistics, and the environment the measured commands run in.

Not a test helper: nothing here asserts. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MCP_LOK = str(Path(sys.executable).parent / "mcp-lok")
IMAGE = "mcp-lok/mcp-server-time:latest"
ENGINES = ("docker", "podman")
# `docker run -i` / `podman run -i` of the server, as a person would run it by hand, with
# what Podman 4.3 needs to start a container at all (explicit nofile/nproc limits)
DIRECT_FLAGS = (
    "--rm",
    "--network",
    "none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
)


# The MCP messages every benchmark's raw (non-SDK) client sends.
PROTOCOL = "2025-06-18"
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'


def initialize(client: str) -> dict[str, object]:
    """An `initialize` request (id 0) from a client called `client`."""
    return {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": client, "version": "0"},
        },
    }


def call(request_id: int) -> bytes:
    """`tools/call get_current_time` for Europe/Paris, compact JSON, no line break."""
    params = {"name": "get_current_time", "arguments": {"timezone": "Europe/Paris"}}
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    return json.dumps(body, separators=(",", ":")).encode()


def bench_env() -> dict[str, str]:
    """The environment for measured Python processes: PYTHONDONTWRITEBYTECODE unset, so
    that after one warm-up run every module (mcp-lok's own, from the editable install,
    included) loads from its .pyc — as it does for a user who installed the wheel (pip
    compiles at install). The baseline runs in the same environment."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def wait_for_quiet(max_load: float, max_wait: float, step: float = 30.0) -> bool:
    """Wait (at most `max_wait` seconds, checking every `step`) until the 1-minute load
    average is below `max_load`. Returns whether it is; the caller measures either way
    and reports the load."""
    deadline = time.monotonic() + max_wait
    while load()[0] >= max_load:
        left = deadline - time.monotonic()
        if left <= 0:
            print(f"load {load()[0]:.2f} still >= {max_load} after {max_wait:.0f}s; measuring")
            return False
        print(f"load {load()[0]:.2f} >= {max_load}; waiting (at most {left:.0f}s more)")
        time.sleep(min(step, left))
    return True


def _version(command: Sequence[str]) -> str:
    if shutil.which(command[0]) is None:
        return "not installed"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "no answer"
    return done.stdout.strip() or done.stderr.strip() or f"exit {done.returncode}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    one, five, fifteen = load()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu_model()}, nproc {os.cpu_count()}",
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "docker": _version(["docker", "version", "--format", "{{.Server.Version}}"]),
        "podman": _version(["podman", "version", "--format", "{{.Server.Version}}"]),
        "load": f"{one:.2f} {five:.2f} {fifteen:.2f}",
    }


def print_machine(title: str) -> None:
    facts = machine()
    print(f"== {title}")
    for key, value in facts.items():
        print(f"  {key:7s} {value}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `samples`."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def goal(met: bool) -> str:
    return "met" if met else "NOT met"


def cleanup_name(engine: str, name: str) -> None:
    """Remove a server `name` that mcp-lok may have left behind, and any container of
    that name or label on `engine` (bounded; errors ignored: there may be nothing)."""
    subprocess.run([MCP_LOK, "rm", "--force", name], capture_output=True, timeout=60, check=False)
    for selector in (["--filter", f"name=^{name}$"], ["--filter", f"label=mcp-lok-name={name}"]):
        found = subprocess.run(
            [engine, "ps", "-aq", *selector], capture_output=True, text=True, timeout=30
        ).stdout.split()
        if found:
            subprocess.run([engine, "rm", "-f", *found], capture_output=True, timeout=60)


def leftovers(engine: str, name: str) -> list[str]:
    """Containers labelled as `name`'s, or named `name`, that still exist."""
    found: set[str] = set()
    for selector in (["--filter", f"name=^{name}$"], ["--filter", f"label=mcp-lok-name={name}"]):
        found.update(
            subprocess.run(
                [engine, "ps", "-aq", *selector], capture_output=True, text=True, timeout=30
            ).stdout.split()
        )
    return sorted(found)


def require_image(engine: str) -> None:
    """Exit with a clear message when `engine` lacks the benchmark's image."""
    try:
        done = subprocess.run(
            [engine, "image", "inspect", IMAGE], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SystemExit(f"{engine} does not answer ({error}); try `make engines`") from None
    if done.returncode != 0:
        raise SystemExit(f"{engine} has no image {IMAGE}; build it with `make images`")


def engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every engine benchmark takes."""
    parser.add_argument("--engine", action="append", choices=["docker", "podman"])
    parser.add_argument("--max-load", type=float, default=None)
    parser.add_argument("--max-wait", type=float, default=1200.0)


def settle(args: argparse.Namespace) -> None:
    """Wait for a quiet machine when `--max-load` asks for it."""
    if args.max_load is not None:
        wait_for_quiet(args.max_load, args.max_wait)


def print_load_after() -> None:
    print(f"  load average after: {' '.join(f'{x:.2f}' for x in load())}")
