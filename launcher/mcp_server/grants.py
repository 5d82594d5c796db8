"""What a tool call would grant: the profile it names, explained by `policy explain`, and
the rows of that explanation that go beyond the built-in `stdio` profile.

An MCP client asks a person to approve each tool call, and that person sees only the call's
arguments. So `run_server` and `explain_policy` state in their result, in the words of
`policy explain`, every control that differs from `stdio` — the baseline nobody has to
think about — and both exposure scores. Nothing here talks to an engine or prints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.host import ThisHost
from mcp_lok.launcher.request import BASELINE
from mcp_lok.policy import BUILTINS, Target, compile_policy, lower
from mcp_lok.policy.explain import Control, Report, explain
from mcp_lok.policy.kinds import SUFFIXES

HOST_FILE_SUFFIXES = SUFFIXES  # `.json`, `.lok`: what the compiler itself reads


def check_host_file(profile: str) -> None:
    """Refuse a `profile` that is neither a built-in nor a profile or policy file."""
    # INVARIANT: a tool reads only profile and policy files from the host. The CLI reads
    # any SOURCE for the person typing it; a model calling a tool could otherwise have a
    # key or a credentials file parsed and a line of it quoted back in a diagnostic.
    if profile not in BUILTINS and not profile.endswith(HOST_FILE_SUFFIXES):
        raise LokError(
            f"`profile` is neither a built-in nor a `.json` or `.lok` file: `{profile}`",
            hint=f"name a built-in ({', '.join(BUILTINS)}), a profile or policy file, "
            "or pass the profile itself as `profile_json`",
        )


def inline_name(profile_json: Mapping[str, Any]) -> str:
    """A name for an inline profile that is not stored anywhere, by its content."""
    text = json.dumps(profile_json, sort_keys=True, ensure_ascii=False)
    return f"inline-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"


def baseline_report(target: Target) -> Report:
    """`policy explain stdio` for the same image, engine, transport and name."""
    compiled = compile_policy(BASELINE, host=ThisHost())
    return explain(compiled.policy, lower(compiled.policy, target))


def beyond_baseline(report: Report, baseline: Report) -> list[Control]:
    """The rows of `report` that `stdio` does not have. Rows are compared by kind and
    sentence, not by field: an added security option shifts `SecurityOpt[n]` indexes
    without changing what the seccomp row says."""
    known = {(c.kind, c.description) for c in baseline.controls}
    return [c for c in report.controls if (c.kind, c.description) not in known]


def exposure(report: Report, target: Target) -> dict[str, Any]:
    """`report`'s score and what of it goes beyond `stdio` on the same `target`, as JSON."""
    baseline = baseline_report(target)
    return {
        "source": report.source,
        "engine": report.engine.value,
        "score": report.score,
        "level": report.level,
        "stdio_score": baseline.score,
        "beyond_stdio": [c.to_json() for c in beyond_baseline(report, baseline)],
        "risks": list(report.risks),
    }


def describe(found: dict[str, Any]) -> str:
    """`exposure`'s answer in a few lines a person approving the call can read."""
    head = f"profile `{found['source']}`: exposure {found['score']:.1f} {found['level']}"
    extra = found["beyond_stdio"]
    if not extra:
        return f"{head}; nothing beyond the built-in `stdio` profile"
    lines = [f"{head} (`stdio` scores {found['stdio_score']:.1f}); beyond `stdio` it grants:"]
    lines += [f"  {c['mark']} {c['description']} ({c['origin']})" for c in extra]
    return "\n".join(lines)


__all__ = [
    "BASELINE",
    "baseline_report",
    "beyond_baseline",
    "check_host_file",
    "describe",
    "exposure",
    "inline_name",
]
