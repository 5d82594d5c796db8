"""Compiler benchmarks. Each prints a ratio against a baseline measured in the same run.

1. In-process compile (load → check → build → lower) of a typical policy file, median
   over many runs, against a `json.loads` + `json.dumps` round trip of the plan it produces
   (the least any compiler of this output could do). Goal: median under 1 ms.
2. Cold `mcp-lok policy compile` of that policy, wall time, against `python3 -c pass`
   with the same interpreter. Goal: at most 4×.

Run: `make bench` (or `.venv/bin/python bench/compile_bench.py`).
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mcp_lok.policy import Target, compile_plan

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "examples" / "github.lok"
MCP_LOK = str(Path(sys.executable).parent / "mcp-lok")


def median_seconds(func: object, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def in_process(runs: int = 2000) -> tuple[float, float, float]:
    """Median seconds to compile (to a LaunchPlan), to compile and print it as JSON, and
    the json round trip of that output."""
    target = Target(image="example/github:1.0", name="github")

    def compile_once() -> object:
        # reads the policy and the base it extends from disk each time, as the CLI does
        return compile_plan(str(POLICY), target)

    output = compile_plan(str(POLICY), target).to_json()  # builds the parser tables
    baseline = median_seconds(lambda: json.dumps(json.loads(output)), runs)
    measured = median_seconds(compile_once, runs)
    printed = median_seconds(lambda: compile_plan(str(POLICY), target).to_json(), runs)
    return measured, printed, baseline


def cold(runs: int = 20) -> tuple[float, float]:
    command = [MCP_LOK, "policy", "compile", str(POLICY), "--image", "example/github:1.0"]
    bare = [sys.executable, "-c", "pass"]
    subprocess.run(command, check=True, capture_output=True)  # warm the page cache

    def run(cmd: list[str]) -> None:
        subprocess.run(cmd, check=True, capture_output=True)

    measured = median_seconds(lambda: run(command), runs)
    baseline = median_seconds(lambda: run(bare), runs)
    return measured, baseline


def main() -> None:
    print(
        f"machine: {platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, policy {POLICY.relative_to(REPO)}"
    )
    measured, printed, baseline = in_process()
    print(
        f"in-process compile to a plan: median {measured * 1e3:.3f} ms "
        f"({1 / measured:,.0f} policies/s); goal < 1 ms: "
        f"{'met' if measured < 1e-3 else 'NOT met'}"
    )
    print(
        f"  and printed as JSON: {printed * 1e3:.3f} ms; a json round trip of that output "
        f"alone: {baseline * 1e3:.3f} ms (ratio {printed / baseline:.1f}x)"
    )
    measured, baseline = cold()
    print(
        f"cold `mcp-lok policy compile`: median {measured * 1e3:.1f} ms; "
        f"`python3 -c pass` {baseline * 1e3:.1f} ms; ratio {measured / baseline:.2f}x; "
        f"goal <= 4x: {'met' if measured <= 4 * baseline else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
