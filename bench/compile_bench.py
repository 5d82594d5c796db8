"""Compiler benchmarks. Each prints a ratio against a baseline measured in the same run.

1. In-process compile (load → check → build → lower) of a typical policy file, median
   over many runs, against a `json.loads` + `json.dumps` round trip of the plan it produces
   (the least any compiler of this output could do). Goal: median under 1 ms.
2. Cold `mcp-lok policy compile` of that policy, wall time, against `python3 -c pass`
   with the same interpreter. Goal: at most 6× (issue 12). Measured where a user runs it: a wheel
   built from this tree and installed (with click, the one library `policy` commands
   need) in a virtual environment of its own under `target/bench/` (see `wheelenv.py`).
   The development environment's editable install is no place to measure this: its `.pth`
   finder makes every Python start there, the baseline's too, import pathlib and more
   (about 10 ms), which flatters the ratio. Both run with PYTHONDONTWRITEBYTECODE unset
   after one unmeasured run of each, so modules load from .pyc files, and the runs
   alternate, so a change of load hits both alike. `--importtime` also prints the
   modules that cost most to import in the cold command (`python -X importtime`).

Run: `make bench` (or `.venv/bin/python bench/compile_bench.py [--importtime]
[--max-load L --max-wait S]`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

from benchlib import (
    MCP_LOK,
    REPO,
    bench_env,
    goal,
    print_load_after,
    print_machine,
    settle,
)
from wheelenv import wheel_venv

from mcp_lok.policy import Target, compile_plan
from mcp_lok.policy.host import FixedHost

POLICY = REPO / "examples" / "github.lok"
ARGS = ["policy", "compile", str(POLICY), "--image", "example/github:1.0"]


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
        return compile_plan(str(POLICY), target, host=FixedHost())

    # the first compile loads the parser and builds its lexers
    output = compile_plan(str(POLICY), target, host=FixedHost()).to_json()
    baseline = median_seconds(lambda: json.dumps(json.loads(output)), runs)
    measured = median_seconds(compile_once, runs)
    printed = median_seconds(
        lambda: compile_plan(str(POLICY), target, host=FixedHost()).to_json(), runs
    )
    return measured, printed, baseline


# What the command cannot go below while it is a click CLI with Lark's standalone parser
# used untouched (as issue 12 asks): those two imported, nothing of mcp-lok's run.
FLOOR = "import click, mcp_lok.policy._lalr"


def cold(bindir: Path, runs: int = 21) -> tuple[float, float, float]:
    """Median wall seconds of the cold command, of `python3 -c pass` and of the floor
    (`FLOOR`), in rotating order, all from the environment in `bindir`."""
    commands = [
        [str(bindir / "mcp-lok"), *ARGS],
        [str(bindir / "python"), "-c", "pass"],
        [str(bindir / "python"), "-c", FLOOR],
    ]
    env = bench_env()

    def run(cmd: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=60)
        return time.perf_counter() - start

    for cmd in commands:
        run(cmd)  # writes the .pyc files, warms the page cache
    samples: list[list[float]] = [[], [], []]
    for i in range(runs):
        for k in range(3):
            which = (i + k) % 3
            samples[which].append(run(commands[which]))
    measured, baseline, floor = (statistics.median(s) for s in samples)
    return measured, baseline, floor


def import_profile(bindir: Path, top: int = 15) -> None:
    """The modules with the most import time (own, not their imports') in the command."""
    code = "import sys; sys.argv[0] = 'mcp-lok'; from mcp_lok.launcher.cli import main; main()"
    done = subprocess.run(
        [str(bindir / "python"), "-X", "importtime", "-c", code, *ARGS],
        capture_output=True,
        text=True,
        env=bench_env(),
        timeout=60,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            own, total, module = line.removeprefix("import time:").split("|")
            rows.append((int(own), int(total), module.strip()))
    print(
        f"  imports of the cold command: {sum(r[0] for r in rows) / 1e3:.1f} ms in total; "
        f"the {top} with most own time (ms own / with their imports):"
    )
    for own_us, total_us, module in sorted(rows, reverse=True)[:top]:
        print(f"    {own_us / 1e3:6.1f} {total_us / 1e3:7.1f}  {module}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--editable", action="store_true", help="also in the dev install")
    parser.add_argument("--max-load", type=float, default=None)
    parser.add_argument("--max-wait", type=float, default=1200.0)
    args = parser.parse_args()
    settle(args)
    print_machine(f"compile: policy {POLICY.relative_to(REPO)}")
    measured, printed, baseline = in_process()
    print(
        f"  in-process compile to a plan: median {measured * 1e3:.3f} ms "
        f"({1 / measured:,.0f} policies/s); goal < 1 ms: {goal(measured < 1e-3)}"
    )
    print(
        f"    and printed as JSON: {printed * 1e3:.3f} ms; a json round trip of that output "
        f"alone: {baseline * 1e3:.3f} ms (ratio {printed / baseline:.1f}x)"
    )
    bindir = wheel_venv()
    measured, baseline, floor = cold(bindir)
    print(
        f"  cold `mcp-lok policy compile` (wheel install): median {measured * 1e3:.1f} ms; "
        f"`python3 -c pass` {baseline * 1e3:.1f} ms; ratio {measured / baseline:.2f}x; "
        f"goal <= 6x: {goal(measured <= 6 * baseline)}"
    )
    print(
        f"    its floor, `python3 -c '{FLOOR}'`: {floor * 1e3:.1f} ms, "
        f"{floor / baseline:.2f}x; mcp-lok's own part: {(measured - floor) * 1e3:.1f} ms"
    )
    print("    (PYTHONDONTWRITEBYTECODE unset for both, after one warm-up run: .pyc present)")
    if args.editable:
        measured, baseline, _ = cold(Path(MCP_LOK).parent)
        print(
            f"    the same in the editable development install: {measured * 1e3:.1f} ms; "
            f"`python3 -c pass` {baseline * 1e3:.1f} ms; ratio {measured / baseline:.2f}x "
            "(not the goal's measure: its .pth finder slows every start there)"
        )
    if args.importtime:
        import_profile(bindir)
    print_load_after()


if __name__ == "__main__":
    main()
