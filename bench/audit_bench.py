"""Audit benchmark: what `mcp-lok audit` costs on top of reading the engine.

1. In-process: normalising one recorded server (its plan and its inspect output, from the
   unit tests' recordings), comparing them, running the 32 checks and scoring, median over
   many runs, against `json.loads` of that inspect output (the least any reader of it
   does). No goal was set; printed as a ratio.
2. Cold CLI on a real engine: `mcp-lok audit NAME --format json` of a server this script
   starts (the stdio built-in), against `mcp-lok list --all --format json` (the same
   interpreter start and state reading, one engine list call). Alternating runs, ratio of
   the medians. Both run with PYTHONDONTWRITEBYTECODE unset after one unmeasured run of
   each (see `benchlib.bench_env`). The server is removed afterwards.

Run: `.venv/bin/python bench/audit_bench.py [--engine docker|podman] [--runs N]
[--max-load L --max-wait S]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchlib import (
    IMAGE,
    MCP_LOK,
    REPO,
    bench_env,
    cleanup_name,
    engine_arguments,
    print_load_after,
    print_machine,
    require_image,
    settle,
)

from mcp_lok.launcher.audit import cis, drift, normalise, score

RECORDED = REPO / "tests" / "unit" / "launcher" / "audit" / "data"


def median_seconds(func: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def in_process(case: str, runs: int = 2000) -> tuple[float, float]:
    data: dict[str, Any] = json.loads((RECORDED / f"{case}.json").read_text())
    engine, record = data["engine"], data["record"]
    body, trace = record["plan"]["container"], record["trace"]["server"]
    raw = json.dumps(data["server"])

    def audit_once() -> object:
        inspect = json.loads(raw)
        observed = normalise.inspect_view(inspect, engine, image=data["image"])
        expected = normalise.plan_view(body, engine)
        found = drift.compare(expected, observed, drift.origins(body, trace))
        return found, cis.check(observed), score.score(score.rows(observed, engine))

    audit_once()
    return median_seconds(audit_once, runs), median_seconds(lambda: json.loads(raw), runs)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, timeout=120, check=False, env=bench_env())
    return time.perf_counter() - start


def cold(engine: str, runs: int) -> tuple[float, float]:
    name = f"bench-audit-{uuid.uuid4().hex[:8]}"
    start = [MCP_LOK, "start", "--engine", engine, "--name", name, IMAGE]
    try:
        subprocess.run(start, capture_output=True, timeout=120, check=True, env=bench_env())
        audit = [MCP_LOK, "audit", "--engine", engine, "--format", "json", name]
        listing = [MCP_LOK, "list", "--all", "--format", "json"]
        timed(audit), timed(listing)  # warm-up: .pyc files, engine caches
        audits, lists = [], []
        for i in range(runs):
            pair = (audit, listing) if i % 2 == 0 else (listing, audit)
            first, second = timed(pair[0]), timed(pair[1])
            audits.append(first if pair[0] is audit else second)
            lists.append(second if pair[0] is audit else first)
        return statistics.median(audits), statistics.median(lists)
    finally:
        cleanup_name(engine, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    engine_arguments(parser)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    settle(args)
    print_machine("audit benchmark")
    for case in ("docker-http", "podman-http"):
        took, baseline = in_process(case)
        print(
            f"  in-process audit of one server ({case}): {took * 1e3:.3f} ms median; "
            f"json.loads of its inspect {baseline * 1e3:.3f} ms; ratio {took / baseline:.1f}x"
        )
    for engine in args.engine or ["docker", "podman"]:
        require_image(engine)
        took, baseline = cold(engine, args.runs)
        print(
            f"  {engine}: `mcp-lok audit NAME` {took * 1e3:.0f} ms median; "
            f"`mcp-lok list` {baseline * 1e3:.0f} ms; ratio {took / baseline:.2f}x"
        )
    print_load_after()


if __name__ == "__main__":
    main()
