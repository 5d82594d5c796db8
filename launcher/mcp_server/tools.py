"""The MCP server's tools, without the SDK: list, run, stop, remove, logs, explain, audit.

Each handler builds what the matching command builds (for `run_server` and
`explain_policy`, a `LaunchRequest`), calls the same library code, and returns an
`Outcome`: a few lines for the person or model reading the result, and the same facts as
JSON for `structuredContent`. Failures are the library's own (`LokError`, `PolicyError`,
`UsageError` with one problem per wrong argument); `failure` turns them into the error
result, one sentence each, and `app` hands them to the SDK. A server is launched
detached, exactly like `mcp-lok start`: it outlives this MCP server.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_lok.launcher import servers
from mcp_lok.launcher.audit.report import render_human as audit_human
from mcp_lok.launcher.audit.report import report_json
from mcp_lok.launcher.audit.survey import run as run_audit
from mcp_lok.launcher.audit.survey import verdicts
from mcp_lok.launcher.audit.threshold import threshold_problem
from mcp_lok.launcher.engine import EngineClient
from mcp_lok.launcher.errors import LokError, Problem, UsageError
from mcp_lok.launcher.launch import prepare, provision, start_detached
from mcp_lok.launcher.planning import printed_plan, runtime_dir
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.launcher.state import Store, client_urls, name_problem
from mcp_lok.policy import Engine, PolicyError, Severity, Transport, render_all
from mcp_lok.policy.explain import explain, render_human

from .grants import check_host_file, describe, exposure, inline_name

MAX_LOG_LINES = 1000
LOG_WINDOW = 256 * 1024  # bytes of a log read at most, from its end
LINE_WIDTH = 2000  # characters kept of one log line
FAILURES = (LokError, PolicyError, UsageError)
# a request's fields as the tools' arguments spell them, where they differ
ARGUMENTS = {"inline_profile": "profile_json"}


@dataclass(frozen=True)
class Outcome:
    """A tool's answer: `text` for people and models, `data` for programs."""

    text: str
    data: dict[str, Any]


def failure(error: Exception) -> Outcome:
    """One of `FAILURES` as an error result, with the CLI's wording and hint."""
    if isinstance(error, PolicyError):
        errors = [d for d in error.diagnostics if d.severity is Severity.ERROR]
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
        text = f"{render_all(error.diagnostics, error.sources)}\n\n{count}: policy rejected"
        diagnostics = [d.to_json() for d in error.diagnostics]
        return Outcome(text, {"error": "policy rejected", "diagnostics": diagnostics})
    if isinstance(error, LokError):
        hint = f"\n  = hint: {error.hint}" if error.hint else ""
        data = {"error": error.message, "hint": error.hint}
        return Outcome(f"error: {error.message}{hint}", data)
    if isinstance(error, UsageError):
        lines = [_sentence(p) for p in error.problems]
        hints = [p.hint for p in error.problems if p.hint]
        text = "\n".join(f"error: {line}" for line in lines)
        text += "".join(f"\n  = hint: {hint}" for hint in hints)
        return Outcome(text, {"error": "; ".join(lines), "hint": "; ".join(hints) or None})
    raise TypeError(f"not a tool failure: {error!r}")


def _sentence(problem: Problem) -> str:
    """A problem in one sentence, naming the argument it is about."""
    if not problem.field:
        return problem.message
    return f"`{ARGUMENTS.get(problem.field, problem.field)}`: {problem.message}"


@contextlib.contextmanager
def quoting_only(texts: Mapping[str, str]) -> Iterator[None]:
    """A `PolicyError` raised inside keeps only `texts`: what a tool result may quote (the
    caller's own inline profile; never a host file's lines, see `grants`)."""
    try:
        yield
    except PolicyError as error:
        raise PolicyError(error.diagnostics, dict(texts)) from None


def _check_names(names: Iterable[str], argument: str) -> None:
    problems = [Problem(argument, p) for name in names if (p := name_problem(name))]
    if problems:
        raise UsageError(problems)


# --- list, stop, remove ------------------------------------------------------------------


def list_servers(include_stopped: bool = False) -> Outcome:
    """`mcp-lok list [--all]`: every server with its merged status, on every engine."""
    seen = servers.engines()
    found = servers.listed(include_stopped, seen)
    lines = [
        f"{r['name']}: {r['status']}, {r['transport']}, {r['url'] or 'no URL'}, "
        f"{r['image']} on {r['engine']}, profile `{r['profile']}`"
        if "note" not in r
        else f"{r['name']}: {r['status']} container {r['container'][:12]} on {r['engine']}, "
        f"{r['note']}"
        for r in found
    ]
    silent = [str(s) for s in seen.silent]
    lines += [f"warning: {s}" for s in silent]
    return Outcome("\n".join(lines) or "no servers", {"servers": found, "not_answering": silent})


def stop_server(name: str) -> Outcome:
    """`mcp-lok stop NAME`."""
    _check_names([name], "name")
    servers.stop_server(name)
    return Outcome(f"stopped `{name}`", {"name": name, "stopped": True})


def remove_server(name: str, force: bool = False) -> Outcome:
    """`mcp-lok rm [--force] NAME`."""
    _check_names([name], "name")
    left = servers.remove_server(name, force=force)
    text = f"removed `{name}`"
    if left:
        text += f"; left {_not_ours(left)}"
    return Outcome(text, {"name": name, "removed": True, "left": left})


def _not_ours(ids: list[str]) -> str:
    """What `rm` says of the look-alikes it left."""
    shown = ", ".join(i[:12] for i in ids)
    return f"containers carrying its labels that mcp-lok did not create: {shown}"


# --- run ---------------------------------------------------------------------------------


def launch_request(
    image: str,
    profile: str | None = None,
    profile_json: Mapping[str, Any] | None = None,
    env: Sequence[str] = (),
    **fields: Any,
) -> LaunchRequest:
    """The request a tool call describes: `profile` (a built-in, or a `.json`/`.lok` file
    on the host) or `profile_json`, an inline JSON profile; the rest as `LaunchRequest`
    names them."""
    if profile is not None:
        check_host_file(profile)
    inline = None
    if profile_json is not None:
        inline = json.dumps(profile_json, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return LaunchRequest(image, profile=profile, inline_profile=inline, env=tuple(env), **fields)


def _own_texts(request: LaunchRequest, source: str) -> dict[str, str]:
    """The file texts a result may quote: only the caller's own inline profile."""
    return {source: request.inline_profile} if request.inline_profile is not None else {}


def run_server(request: LaunchRequest, dry_run: bool = False) -> Outcome:
    """`mcp-lok start`: check everything, explain what the profile grants beyond `stdio`,
    then (unless `dry_run`) launch the server detached and return its client URLs."""
    source = request.source(Store().layout(request.server_name).inline_profile)
    warnings: list[str] = []
    with quoting_only(_own_texts(request, source)):
        prepared = prepare(
            request,
            on_warnings=lambda c: warnings.append(
                render_all(c.warnings, _own_texts(request, source))
            ),
        )
    found = exposure(explain(prepared.compiled.policy, prepared.plan), prepared.target)
    data: dict[str, Any] = {
        "name": prepared.name,
        "engine": prepared.engine.kind.value,
        "image": request.image,
        "transport": request.transport,
        "profile": prepared.source,
        "started": False,
        "url": None,
        "sse_url": None,
        "token": None,
        "exposure": found,
        "warnings": warnings,
    }
    where = f"`{prepared.name}` ({request.image}) on {data['engine']}"
    if dry_run:
        return Outcome(f"would start {where}\n{describe(found)}", data)
    with quoting_only(_own_texts(request, source)):  # the second look at the host paths
        state = provision(prepared, detached=True)
    urls = client_urls(start_detached(prepared, state), request.transport)
    # INVARIANT: the proxy requires a bearer token; the tool's caller gets it in the
    # structured result, the one place it is shown
    data.update(urls, started=True, token=prepared.token)
    sse = urls["sse_url"]
    legacy = f"\nlegacy SSE: {sse}" if sse and sse != urls["url"] else ""
    text = (
        f"started {where}\nendpoint: {urls['url']}{legacy}\nclients send "
        f"`Authorization: Bearer <token>`, the `token` of this result\n{describe(found)}"
    )
    return Outcome(text, data)


# --- logs --------------------------------------------------------------------------------


def server_logs(name: str, lines: int = 100) -> Outcome:
    """The last `lines` of the proxy's log (which holds a stdio server's stderr) and, for
    an HTTP server, of its container's output: bounded, never followed."""
    _check_names([name], "name")
    if not 1 <= lines <= MAX_LOG_LINES:
        raise UsageError.of("lines", f"`{lines}` is not a number from 1 to {MAX_LOG_LINES}")
    state = servers.load(Store(), name)
    proxy = _last_lines(_file_tail(Path(state.log_path)), lines)
    server: list[str] = []
    if state.transport != Transport.STDIO.value and state.container_id:
        engine = EngineClient.connect(state.engine_url)
        server = _last_lines(_bounded(engine.logs(state.container_id, tail=lines)), lines)
    text = "\n".join(
        [f"== proxy log of `{name}` ==", *proxy]
        + ([f"== output of `{name}`'s container ==", *server] if server else [])
    )
    return Outcome(text, {"name": name, "proxy_log": proxy, "server_log": server})


def _file_tail(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - LOG_WINDOW))
            return handle.read(LOG_WINDOW)
    except OSError:
        return b""


def _bounded(chunks: Any) -> bytes:
    """At most the last `LOG_WINDOW` bytes of `chunks`."""
    data = b""
    for chunk in chunks:
        data = (data + chunk)[-LOG_WINDOW:]
    return data


def _last_lines(data: bytes, count: int) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    return [line[:LINE_WIDTH] for line in text.splitlines()[-count:]]


# --- explain -----------------------------------------------------------------------------


def explain_policy(
    profile: str | None = None,
    profile_json: Mapping[str, Any] | None = None,
    image: str = "IMAGE",
    engine: str = Engine.DOCKER.value,
    transport: str = Transport.STDIO.value,
    env: Sequence[str] = (),
) -> Outcome:
    """`mcp-lok policy explain`: every control, its origin and the exposure score, and what
    of it goes beyond `stdio`. Needs no engine."""
    request = launch_request(
        image, profile, profile_json, env, name="server", transport=transport, engine=engine
    )
    problems = request.problems()
    if engine not in {e.value for e in Engine}:
        problems.append(Problem("engine", f"`{engine}` is not one of `docker` or `podman`"))
    if problems:
        raise UsageError(problems)
    inline = inline_name(profile_json) if profile_json is not None else ""
    source = request.source(inline)
    with quoting_only(_own_texts(request, source)):
        compiled, plan = printed_plan(request, source, Engine(engine), runtime_dir())
        report = explain(compiled.policy, plan)
    target = request.target(Engine(engine), runtime_dir())
    found = {**exposure(report, target), "controls": [c.to_json() for c in report.controls]}
    return Outcome(f"{render_human(report)}\n{describe(found)}", found)


# --- audit -------------------------------------------------------------------------------


def audit_servers(
    names: Sequence[str] = (),
    audit_all: bool = False,
    threshold: float | None = None,
    engine: str | None = None,
) -> Outcome:
    """`mcp-lok audit [NAME... | --all] [--threshold N]`: each server compared with the plan
    it was launched from, checked against the benchmarks, and scored. Drift and a score
    above `threshold` are what an audit is for, so they are an ordinary result (where the
    CLI exits 3), stated in its first line; only a request the CLI refuses is a failure."""
    _check_names(names, "names")
    if threshold is not None and (problem := threshold_problem(threshold)):
        raise UsageError.of("threshold", problem)
    limit = threshold
    audited = run_audit(engine, list(names), audit_all, spell_all="all")
    found = audited.found
    silent = [str(s) for s in audited.silent]
    data = {
        "engines": audited.engines,
        **report_json(found, limit),
        "elsewhere": audited.elsewhere,
        "not_answering": silent,
    }
    failed = verdicts(found, limit)
    above = f", no exposure above {limit:g}" if limit is not None else ""
    head = f"audit failed: {'; '.join(failed)}" if failed else f"audit passed: no drift{above}"
    on = " and ".join(audited.engines)
    lines = [f"{head} ({len(found)} server{'s' * (len(found) != 1)} on {on})"]
    lines += [f"not audited: {s}" for s in silent]
    if audited.elsewhere:
        lines.append(f"not audited, on another engine: {', '.join(audited.elsewhere)}")
    return Outcome("\n".join([*lines, "", audit_human(found).rstrip("\n")]), data)


__all__ = [
    "FAILURES",
    "MAX_LOG_LINES",
    "Outcome",
    "audit_servers",
    "explain_policy",
    "failure",
    "launch_request",
    "list_servers",
    "remove_server",
    "run_server",
    "server_logs",
    "stop_server",
]
