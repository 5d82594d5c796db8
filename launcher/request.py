"""`LaunchRequest`: what to launch, as the CLI and the MCP server are asked for it.

One frozen value, built by every front door (`mcp-lok run|start`, the `policy` commands,
the MCP server's `run_server` and `explain_policy` tools) from what it was given, and
judged by its own `problems()`, so that every door refuses the same things in the same
words. It holds what the caller gave, as given (a transport's name, `KEY=VALUE` strings);
its properties are the typed views the launch pipeline (`launch.py`) and lowering use, and
`target` is the one place a request becomes the compiler's `Target`. It talks to nothing:
no engine, no files.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from mcp_lok.policy import Engine, Target, Transport, default_name, target_problems
from mcp_lok.policy.baseline import DEFAULT_TARGET_PORT, MAX_SESSIONS, SESSION_IDLE_TIMEOUT
from mcp_lok.policy.layout import RESERVED
from mcp_lok.policy.lower import LAUNCH_PLACEHOLDER
from mcp_lok.policy.origin import Argument

from .errors import Problem
from .sockets import ENGINE_HINT, engine_problem

BASELINE = "stdio"  # the profile of a request that names none
RESTART_DEFAULT = 5  # `on-failure` without a count: at most this many restarts
RESTART_MOST = 100
MIN_TOKEN = 16  # characters of a bearer token given by the user, at least
GENERATE = "generate"  # `--auth-token generate`: a random one, as without the option
SESSIONS_MOST = 65536
IDLE_MOST = 7 * 24 * 3600  # a week: an abandoned session (a container, per session) lives no longer


class SessionMode(enum.Enum):
    """stdio servers: all client sessions on one server, or one server for each."""

    SHARED = "shared"
    PER_SESSION = "per-session"


@dataclass(frozen=True)
class LaunchRequest:
    """What to launch: the server's image and command, how it speaks, the policy it runs
    under (a SOURCE, or a profile given inline as JSON text), and how its proxy serves."""

    image: str
    name: str | None = None  # None: from the image (`default_name`)
    transport: str = Transport.STDIO.value
    profile: str | None = None  # a SOURCE: a built-in, a JSON profile or a policy file
    inline_profile: str | None = None  # a JSON profile's text, given in the request itself
    env: tuple[str, ...] = ()  # `KEY=VALUE`, as `-e` takes them
    args: tuple[str, ...] = ()  # the server's command
    port: int = 0  # the proxy's port on 127.0.0.1; 0: a free one
    target_port: int = DEFAULT_TARGET_PORT  # where an HTTP server listens, inside
    engine: str | None = None  # `docker`, `podman` or `unix:///…`; None: the one found
    session_mode: str = SessionMode.SHARED.value
    # stdio: client sessions open at once (idle ones make room for new ones), and the
    # seconds an idle one lives; None: the proxy's defaults (`session_limits`)
    max_sessions: int | None = None
    session_idle_timeout: int | None = None
    restart: str = "no"  # `no`, `on-failure` or `on-failure:N`
    auth_token: str | None = None  # the bearer token clients send; None: a random one
    no_auth: bool = False  # serve without a bearer token

    # --- what is wrong with it -------------------------------------------------------

    def problems(self) -> list[Problem]:
        """Everything wrong with the request as asked, one `Problem` per mistake, in the
        order of the fields, before an engine is asked. The spelling of the image and the
        name, and the target port, are judged by the compiler's own `target_problems`; the
        policy is left to the compiler."""
        found = [
            *self._target_problems(),
            *self._name_problems(),
            *_choice_problem("transport", self.transport, Transport),
            *self._profile_problems(),
            *(Problem("env", p) for value in self.env if (p := pair_problem(value))),
            *_port_problem("port", self.port),
            *self._engine_problems(),
            *self._session_problems(),
            *_restart_problem(self.restart),
            *self._auth_problems(),
        ]
        return found

    def _target_problems(self) -> list[Problem]:
        """What lowering would refuse in the image, the name and the target port (each
        diagnostic's origin names its option: `--target-port` is `target_port`). A package
        spec is no image: the command line builds it first (`images`), other doors do not."""
        if "://" in self.image:
            return [
                Problem(
                    "image",
                    f"`{self.image[:80]}` is a package, not an image: it must be built first",
                    hint="build it with `mcp-lok build SPEC` and give the image it prints",
                )
            ]
        target = Target(image=self.image, name=self.server_name, port=self.target_port)
        return [
            Problem(_field(d.origin), d.message, d.help)
            for d in target_problems(target)
            if isinstance(d.origin, Argument)
        ]

    def _name_problems(self) -> list[Problem]:
        if self.server_name in RESERVED:
            return [Problem("name", f"`{self.server_name}` is reserved for mcp-lok's own files")]
        return []

    def _profile_problems(self) -> list[Problem]:
        if self.profile is not None and self.inline_profile is not None:
            return [
                Problem(
                    "inline_profile",
                    "a profile is named and another is given inline",
                    hint="name a built-in or a file, or give the profile itself: not both",
                )
            ]
        return []

    def _session_problems(self) -> list[Problem]:
        found = _choice_problem("session_mode", self.session_mode, SessionMode)
        found += _range_problem("max_sessions", self.max_sessions, SESSIONS_MOST, "sessions")
        found += _range_problem(
            "session_idle_timeout", self.session_idle_timeout, IDLE_MOST, "seconds"
        )
        http = self.transport != Transport.STDIO.value
        for field in ("max_sessions", "session_idle_timeout"):
            if http and getattr(self, field) is not None:
                found.append(
                    Problem(
                        field,
                        "an HTTP server keeps its own sessions: the proxy only forwards them",
                        hint="leave the option out, or set the server's own limits",
                    )
                )
        if not found and self.per_session and self.transport != Transport.STDIO.value:
            found.append(
                Problem(
                    "session_mode",
                    "a server of its own for each session is for stdio servers",
                    hint="an HTTP server handles its own sessions: leave the option out",
                )
            )
        return found

    def _auth_problems(self) -> list[Problem]:
        token = self.auth_token
        if self.no_auth and token is not None:
            return [
                Problem(
                    "no_auth",
                    "serving without a bearer token contradicts the bearer token given",
                    hint="leave one out: by default the proxy requires a random token",
                )
            ]
        # INVARIANT: a token short enough to guess, or one that cannot travel in a header,
        # is refused rather than silently protecting nothing
        if token is not None and token != GENERATE and not _sendable(token):
            return [
                Problem(
                    "auth_token",
                    f"a bearer token must be at least {MIN_TOKEN} printable ASCII "
                    "characters, no spaces",
                    hint="or leave it out: mcp-lok then makes a random one and prints it",
                )
            ]
        return []

    def _engine_problems(self) -> list[Problem]:
        if self.engine is not None and (problem := engine_problem(self.engine)):
            return [Problem("engine", problem, hint=ENGINE_HINT)]
        return []

    # --- kept, and asked for again ----------------------------------------------------

    def record(self) -> dict[str, Any]:
        """The request as a server's state keeps it, for `mcp-lok restart`: every field
        but the bearer token, which the state keeps as `token`."""
        kept = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "auth_token"}
        return {**kept, "env": list(self.env), "args": list(self.args)}

    @classmethod
    def recorded(cls, record: Mapping[str, Any], token: str | None) -> LaunchRequest:
        """The request `record` kept, asking for `token` again (None: no token, as with
        `no_auth`). Raises `ValueError` for a record that is not one."""
        known = {f.name for f in fields(cls)} - {"auth_token"}
        values = {k: v for k, v in record.items() if k in known}
        values["env"] = tuple(values.get("env") or ())
        values["args"] = tuple(values.get("args") or ())
        try:
            request = cls(**values, auth_token=None if values.get("no_auth") else token)
        except TypeError as error:
            raise ValueError(str(error)) from error
        if not isinstance(request.image, str):
            raise ValueError("the image is not recorded")
        return request

    # --- typed views ---------------------------------------------------------------------

    @property
    def server_name(self) -> str:
        return self.name or default_name(self.image)

    @property
    def server_transport(self) -> Transport:
        return Transport(self.transport)

    @property
    def env_pairs(self) -> tuple[tuple[str, str], ...]:
        """`env` as (key, value) pairs; entries that are not `KEY=VALUE` (a problem) are
        left out."""
        pairs = (value.partition("=") for value in self.env)
        return tuple((key, value) for key, sep, value in pairs if sep and key)

    @property
    def per_session(self) -> bool:
        return self.session_mode == SessionMode.PER_SESSION.value

    @property
    def session_limits(self) -> tuple[int, int] | None:
        """A stdio server's proxy: at most how many sessions, and the seconds an idle one
        lives (the proxy's defaults where not given); None for an HTTP server."""
        if self.transport != Transport.STDIO.value:
            return None
        most = self.max_sessions if self.max_sessions is not None else MAX_SESSIONS
        idle = self.session_idle_timeout
        return most, idle if idle is not None else SESSION_IDLE_TIMEOUT

    @property
    def restarts(self) -> int:
        """How many times a stdio server that fails is started again."""
        policy, _, count = self.restart.partition(":")
        if policy != "on-failure" or _restart_problem(self.restart):
            return 0
        return int(count) if count else RESTART_DEFAULT

    def source(self, inline_path: str) -> str:
        """The policy SOURCE: the profile named, or `inline_path`, where an inline profile
        is served from (and kept, for a launch); `stdio` when neither is given."""
        if self.inline_profile is not None:
            return inline_path
        return self.profile or BASELINE

    def target(self, engine: Engine, runtime_dir: str, launch: str = LAUNCH_PLACEHOLDER) -> Target:
        """What the policy is lowered for: this request on `engine`, with the server's
        files under `runtime_dir`, carrying the launch's nonce (`policy compile` prints
        the placeholder where a launch puts its own)."""
        return Target(
            image=self.image,
            name=self.server_name,
            engine=engine,
            transport=self.server_transport,
            args=tuple(self.args),
            port=self.target_port,
            runtime_dir=runtime_dir,
            launch=launch,
        )


def _field(origin: Argument) -> str:
    return origin.name.removeprefix("--").replace("-", "_")


def pair_problem(value: str) -> str | None:
    """Why `value` is not `KEY=VALUE`, or None when it is."""
    key, sep, _ = value.partition("=")
    return None if sep and key else f"`{value}` is not KEY=VALUE"


def _choice_problem(field: str, value: str, kind: type[enum.Enum]) -> list[Problem]:
    allowed = [member.value for member in kind]
    if value in allowed:
        return []
    listed = ", ".join(f"`{a}`" for a in allowed[:-1]) + f" or `{allowed[-1]}`"
    return [Problem(field, f"`{value}` is not one of {listed}")]


def _port_problem(field: str, port: int) -> list[Problem]:
    if 0 <= port <= 65535:
        return []
    return [Problem(field, f"port `{port}` is outside 0–65535", "0 picks a free one")]


def _range_problem(field: str, value: int | None, most: int, unit: str) -> list[Problem]:
    if value is None or 1 <= value <= most:
        return []
    return [Problem(field, f"`{value}` is outside 1–{most} {unit}")]


def _restart_problem(value: str) -> list[Problem]:
    if value == "no":
        return []
    policy, _, count = value.partition(":")
    number = count.isascii() and count.isdigit() and 0 < int(count) <= RESTART_MOST
    if policy == "on-failure" and (not count or number):
        return []
    return [
        Problem(
            "restart",
            f"unknown restart policy `{value}`",
            hint=f"`no`, `on-failure` or `on-failure:N` with N from 1 to {RESTART_MOST}",
        )
    ]


def _sendable(token: str) -> bool:
    return len(token) >= MIN_TOKEN and token.isascii() and token.isprintable() and " " not in token


__all__ = ["BASELINE", "RESTART_DEFAULT", "LaunchRequest", "SessionMode", "pair_problem"]
