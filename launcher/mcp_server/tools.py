"""The MCP server's tools, without the SDK: list, run, stop, remove, logs, explain, audit.

Each handler checks its arguments with the CLI's own functions (`name_problem`,
`env_pairs`, `prepare`, the compiler's `target_problems`), calls the same library code as
the matching command, and returns an `Outcome`: a few lines for the person or model
reading the result, and the same facts as JSON for `structuredContent`. Failures are
raised as the CLI raises them (`LokError`, `PolicyError`, click's `BadParameter`);
`failure` turns them into the error result, and `app` hands them to the SDK. A server is
launched detached, exactly like `mcp-lok start`: it outlives this MCP server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mcp_lok.launcher.errors import LokError
from mcp_lok.launcher.host import ThisHost
from mcp_lok.launcher.policy_commands import env_pairs
from mcp_lok.launcher.proxy_options import auth_token
from mcp_lok.launcher.state import PRIVATE_FILE, client_urls, name_problem, write_atomic
from mcp_lok.policy import (
    PolicyError,
    Severity,
    Transport,
    compile_policy,
    default_name,
    env_rules,
    lower,
    render_all,
    target_problems,
)
from mcp_lok.policy.baseline import DEFAULT_TARGET_PORT
from mcp_lok.policy.explain import explain, render_human

from .grants import (
    ProfileSource,
    describe,
    exposure,
    inline_name,
    own_texts,
    profile_source,
)

if TYPE_CHECKING:
    from mcp_lok.launcher.launching import Prepared
    from mcp_lok.launcher.state import ServerState

MAX_LOG_LINES = 1000
LOG_WINDOW = 256 * 1024  # bytes of a log read at most, from its end
LINE_WIDTH = 2000  # characters kept of one log line
FAILURES = (LokError, PolicyError, click.ClickException)


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
    if isinstance(error, click.ClickException):
        return Outcome(f"error: {error.format_message()}", {"error": error.format_message()})
    raise TypeError(f"not a tool failure: {error!r}")


@contextlib.contextmanager
def quoting_only(source: ProfileSource) -> Iterator[None]:
    """A `PolicyError` raised inside keeps only the texts a tool result may quote."""
    try:
        yield
    except PolicyError as error:
        raise PolicyError(error.diagnostics, own_texts(source)) from None


def _check_name(name: str) -> None:
    if problem := name_problem(name):
        raise click.BadParameter(problem, param_hint="`name`")


# --- list, stop, remove ------------------------------------------------------------------


def list_servers(include_stopped: bool = False) -> Outcome:
    """`mcp-lok list [--all]`: every server with its merged status."""
    from mcp_lok.launcher.servers import listed

    found = listed(include_stopped)
    lines = [
        f"{r['name']}: {r['status']}, {r['transport']}, {r['url'] or 'no URL'}, "
        f"{r['image']} on {r['engine']}, profile `{r['profile']}`"
        if "note" not in r
        else f"{r['name']}: {r['status']} container {r['container'][:12]} on {r['engine']}, "
        f"{r['note']}"
        for r in found
    ]
    return Outcome("\n".join(lines) or "no servers", {"servers": found})


def stop_server(name: str) -> Outcome:
    """`mcp-lok stop NAME`."""
    from mcp_lok.launcher.servers import stop_server as stopping

    _check_name(name)
    stopping(name)
    return Outcome(f"stopped `{name}`", {"name": name, "stopped": True})


def remove_server(name: str, force: bool = False) -> Outcome:
    """`mcp-lok rm [--force] NAME`."""
    from mcp_lok.launcher.servers import remove_server as removing

    _check_name(name)
    left = removing(name, force=force)
    text = f"removed `{name}`"
    if left:
        text += f"; left {_not_ours(left)}"
    return Outcome(text, {"name": name, "removed": True, "left": left})


def _not_ours(ids: list[str]) -> str:
    """What `rm` says of the look-alikes it left."""
    shown = ", ".join(i[:12] for i in ids)
    return f"containers carrying its labels that mcp-lok did not create: {shown}"


# --- run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRequest:
    """`run_server`'s arguments: what `mcp-lok start` takes on its command line."""

    image: str
    transport: str = Transport.STDIO.value
    name: str | None = None
    profile: str | None = None
    profile_json: Mapping[str, Any] | None = None
    env: Sequence[str] = ()
    args: Sequence[str] = ()
    engine: str | None = None
    target_port: int = DEFAULT_TARGET_PORT
    port: int = 0


def run_server(asked: RunRequest, dry_run: bool = False) -> Outcome:
    """`mcp-lok start`: check everything, explain what the profile grants beyond `stdio`,
    then (unless `dry_run`) launch the server detached and return its client URLs."""
    from mcp_lok.launcher.launching import prepare
    from mcp_lok.launcher.state import Store

    name = asked.name or default_name(asked.image)
    inline_path = Store().layout(name).inline_profile
    source = profile_source(asked.profile, asked.profile_json, inline_path)
    opts = {
        "image": asked.image,
        "name": asked.name,
        "transport": asked.transport,
        "profile": source.name,
        "target_port": asked.target_port,
        "port": asked.port,
        "env": env_pairs(None, None, tuple(asked.env)),
        "args": tuple(asked.args),
        "engine_choice": asked.engine,
    }
    warnings: list[str] = []
    with quoting_only(source):
        prepared = prepare(
            opts,
            source.read,
            on_warnings=lambda c: warnings.append(render_all(c.warnings, own_texts(source))),
        )
    found = exposure(explain(prepared.compiled.policy, prepared.plan), prepared.target)
    data: dict[str, Any] = {
        "name": prepared.request.name,
        "engine": prepared.engine.kind.value,
        "image": asked.image,
        "transport": asked.transport,
        "profile": source.name,
        "started": False,
        "url": None,
        "sse_url": None,
        "token": None,
        "exposure": found,
        "warnings": warnings,
    }
    where = f"`{prepared.request.name}` ({asked.image}) on {data['engine']}"
    if dry_run:
        return Outcome(f"would start {where}\n{describe(found)}", data)
    # INVARIANT: the proxy requires a bearer token; the tool's caller gets it in the
    # structured result, the one place it is shown
    token = auth_token(None)
    assert token is not None
    urls = client_urls(_launch(prepared, source, token), asked.transport)
    data.update(urls, started=True, token=token)
    sse = urls["sse_url"]
    legacy = f"\nlegacy SSE: {sse}" if sse and sse != urls["url"] else ""
    text = (
        f"started {where}\nendpoint: {urls['url']}{legacy}\nclients send "
        f"`Authorization: Bearer <token>`, the `token` of this result\n{describe(found)}"
    )
    return Outcome(text, data)


def _launch(prepared: Prepared, source: ProfileSource, token: str) -> str:
    """Provision and hand over to a detached proxy, as `start` does; its base URL. On any
    failure everything is removed, and the proxy's last log lines join the hint."""
    from mcp_lok.launcher.handoff import log_tail, spawn
    from mcp_lok.launcher.launching import provision, starter
    from mcp_lok.launcher.teardown import undo

    engine, store, request = prepared.engine, prepared.store, prepared.request
    with quoting_only(source):  # the second look at the host paths may refuse the launch
        state = provision(prepared, detached=True, token=token)
    try:
        if source.text is not None:
            state = _keep_profile(prepared, source.text)
        return spawn(store, state, request.port, token=token, on_attached=starter(engine, state))
    except BaseException as error:
        tail = log_tail(state.log_path)
        undo(engine, store, store.load(state.name) or state)
        if isinstance(error, LokError) and tail:
            hint = f"{error.hint}; " if error.hint else ""
            raise LokError(error.message, hint=f"{hint}the proxy's log ends:\n{tail}") from error
        raise


def _keep_profile(prepared: Prepared, text: str) -> ServerState:
    """Write an inline profile where its source name points (the server's folder), and
    record it, so `list` names a real file, `policy explain` can read it again, and `rm`
    removes it with the rest."""
    store, name = prepared.store, prepared.request.name
    path = Path(store.layout(name).inline_profile)
    with store.lock():
        state = store.load(name)
        assert state is not None, "provision recorded the state"
        state = replace(state, files=[*state.files, str(path)])
        store.save(state)
        write_atomic(path, text, PRIVATE_FILE)
    return state


# --- logs --------------------------------------------------------------------------------


def server_logs(name: str, lines: int = 100) -> Outcome:
    """The last `lines` of the proxy's log (which holds a stdio server's stderr) and, for
    an HTTP server, of its container's output: bounded, never followed."""
    from mcp_lok.launcher.engine import EngineClient
    from mcp_lok.launcher.servers import load
    from mcp_lok.launcher.state import Store

    _check_name(name)
    if not 1 <= lines <= MAX_LOG_LINES:
        raise click.BadParameter(f"must be 1 to {MAX_LOG_LINES}", param_hint="`lines`")
    state = load(Store(), name)
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
    engine: str = "docker",
    transport: str = Transport.STDIO.value,
    env: Sequence[str] = (),
) -> Outcome:
    """`mcp-lok policy explain`: every control, its origin and the exposure score, and what
    of it goes beyond `stdio`. Needs no engine."""
    from mcp_lok.launcher.policy_actions import Lowering
    from mcp_lok.launcher.policy_spec import default_runtime_dir

    inline = inline_name(profile_json) if profile_json is not None else ""
    source = profile_source(profile, profile_json, inline)
    pairs = env_pairs(None, None, tuple(env))
    lowering = Lowering(engine, transport, None, DEFAULT_TARGET_PORT, pairs, default_runtime_dir())
    target = lowering.target(image, "server")
    with quoting_only(source):
        compiled = compile_policy(source.name, source.read, extra=env_rules(pairs), host=ThisHost())
        if problems := target_problems(target):
            raise PolicyError(problems)
        report = explain(compiled.policy, lower(compiled.policy, target))
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
    from mcp_lok.launcher.audit.command import check_names, check_threshold, run, verdicts
    from mcp_lok.launcher.audit.report import render_human, report_json

    check_names(names, param_hint="`names`")
    limit = check_threshold(threshold, "`threshold`")
    audited = run(engine, list(names), audit_all, spell=("all", "engine"))
    found = audited.found
    data = {"engine": audited.engine, **report_json(found, limit), "elsewhere": audited.elsewhere}
    failed = verdicts(found, limit)
    above = f", no exposure above {limit:g}" if limit is not None else ""
    head = f"audit failed: {'; '.join(failed)}" if failed else f"audit passed: no drift{above}"
    lines = [f"{head} ({len(found)} server{'s' * (len(found) != 1)} on {audited.engine})"]
    if audited.elsewhere:
        lines.append(f"not audited, on another engine: {', '.join(audited.elsewhere)}")
    return Outcome("\n".join([*lines, "", render_human(found).rstrip("\n")]), data)


__all__ = [
    "FAILURES",
    "MAX_LOG_LINES",
    "Outcome",
    "RunRequest",
    "audit_servers",
    "explain_policy",
    "failure",
    "list_servers",
    "remove_server",
    "run_server",
    "server_logs",
    "stop_server",
]
