"""Where `mcp-lok run`'s startup time goes: runs `mcp-lok run` once in this process with
its phases timestamped (interpreter start, imports, engine discovery and reaping, compile,
each engine API call, attach, bind, the container start), POSTs `initialize` to the proxy
the moment it reports ready, and prints the timeline. A diagnostic for `startup_bench.py`
(not a benchmark: no baseline, one run; wrapping adds a few microseconds per call).

Run: `.venv/bin/python bench/startup_timeline.py [--engine docker|podman]` (with
PYTHONDONTWRITEBYTECODE unset, after a warm-up, as the benchmark runs).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from benchlib import initialize

T0 = time.perf_counter()
EVENTS: list[tuple[float, float, str]] = []  # (start, end, label), seconds since T0


def _now() -> float:
    return time.perf_counter() - T0


def _process_age() -> float:
    """Seconds this process had been alive when T0 was taken (interpreter start-up)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{os.getpid()}/stat") as stat:
        started = int(stat.read().rsplit(")", 1)[1].split()[19]) / ticks
    with open("/proc/uptime") as uptime:
        return float(uptime.read().split()[0]) - started


def timed(owner: Any, name: str, label: str | None = None) -> None:
    original = getattr(owner, name)
    text = label or f"{getattr(owner, '__name__', owner)}.{name}"

    if _is_coroutine(original):

        @functools.wraps(original)
        async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
            start = _now()
            try:
                return await original(*args, **kwargs)
            finally:
                EVENTS.append((start, _now(), text))

        setattr(owner, name, wrapper_async)
        return

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = _now()
        try:
            return original(*args, **kwargs)
        finally:
            EVENTS.append((start, _now(), text))

    setattr(owner, name, wrapper)


def _is_coroutine(func: Callable[..., Any]) -> bool:
    import inspect

    return inspect.iscoroutinefunction(func)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", default="docker", choices=["docker", "podman"])
    args = parser.parse_args()
    age = _process_age()

    start = _now()
    from mcp_lok.launcher import cli
    from mcp_lok.launcher.cli import launch as commands

    EVENTS.append((start, _now(), "import mcp_lok.launcher.cli (click, policy, the launch)"))
    start = _now()
    from mcp_lok.launcher import engine

    EVENTS.append((start, _now(), "import mcp_lok.launcher.engine (docker SDK, requests)"))
    start = _now()
    import mcp_lok.proxy
    from mcp_lok.proxy import server

    EVENTS.append((start, _now(), "import mcp_lok.proxy (aiohttp)"))
    start = _now()
    from mcp_lok.launcher import creation, handoff, launch, state

    EVENTS.append((start, _now(), "import creation, handoff, launch, state"))

    for method in (
        "connect",
        "create_container",
        "create_network",
        "start",
        "stop",
        "remove_container",
        "inspect",
        "containers",
        "networks",
        "require_image",
    ):
        timed(engine.EngineClient, method, f"engine {method}")
    timed(engine, "discover", "discover the engine (GET /_ping)")
    timed(commands, "prepare", "prepare (discover, reap, compile, check images)")
    timed(launch, "reap", "reap crash leftovers")
    timed(launch, "plan_launch", "compile the policy")
    timed(launch, "teardown", "teardown (after SIGINT)")
    timed(creation.InProgress, "write_files", "write the plan's files")
    timed(state.Store, "save", "state save")
    timed(server, "attach", "proxy attach (POST /attach, upgrade)")
    timed(server, "_listen", "proxy bind")
    timed(commands, "provision", "provision (reserve, files, create)")
    timed(mcp_lok.proxy, "run", "proxy run (until SIGINT)")

    name = f"bench-timeline-{uuid.uuid4().hex[:8]}"
    answered: list[float] = []

    def announce_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def serve(
            eng: Any,
            store: Any,
            st: Any,
            port: int,
            announce: Callable[[str], None],
            **options: Any,
        ) -> None:
            def on_url(url: str) -> None:
                EVENTS.append((_now(), _now(), "ready: proxy listens, container started"))
                announce(url)
                token = options.get("token")  # the proxy requires it (no `--no-auth` here)
                threading.Thread(target=ask, args=(url, token), daemon=True).start()

            original(eng, store, st, port, on_url, **options)

        return serve

    def ask(url: str, token: str | None) -> None:
        body = json.dumps(initialize("timeline")).encode()
        request = urllib.request.Request(
            f"{url}/mcp",
            data=body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        start = _now()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
            answered.append(_now())
            EVENTS.append((start, _now(), "initialize through the proxy (server starting)"))
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    handoff.serve = announce_wrapper(handoff.serve)
    sys.argv = ["mcp-lok"]
    try:
        cli.main(["-q", "run", "--name", name, "--engine", args.engine, "mcp-lok/mcp-server-time"])
    except SystemExit:
        pass
    finally:
        print(f"interpreter start-up before this script's first line: ~{age * 1e3:.0f} ms")
        print(f"{'start':>8s} {'end':>8s} {'took':>8s}  (ms since the script's first line)")
        for begin, end, label in sorted(EVENTS):
            print(f"{begin * 1e3:8.1f} {end * 1e3:8.1f} {(end - begin) * 1e3:8.1f}  {label}")
        if answered:
            print(f"initialize answered at {answered[0] * 1e3:.0f} ms (+ ~{age * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
