"""A request's policy chain: compile its SOURCE with its `-e` rules, turn a user only the
image can give numbers to into those numbers, and lower for its target.

Shared by the launch (`launch.prepare`, which must resolve the user) and the commands that
only print a plan (`policy compile|explain|diff`, the MCP server's `explain_policy`, which
resolve it when an engine answers and has the image, and say so when not). Grants are
judged on this machine (`ThisHost`) unless a caller says otherwise. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable

from mcp_lok.policy import (
    Compiled,
    Engine,
    Host,
    LaunchPlan,
    PolicyError,
    Target,
    compile_policy,
    env_rules,
    lower,
    resolve_user,
    target_problems,
)
from mcp_lok.policy.identity import Accounts, needs_image
from mcp_lok.policy.layout import RUNTIME_ROOT
from mcp_lok.policy.loader import Reader, read_text

from . import paths
from .errors import LokError
from .host import ThisHost
from .request import LaunchRequest

IMAGE_PLACEHOLDER = "IMAGE"  # `policy explain|diff` without `--image`: no image was named


def compile_request(
    request: LaunchRequest, source: str, read: Reader = read_text, host: Host | None = None
) -> Compiled:
    """SOURCE's IR, with the request's `-e KEY=VALUE` as `Env` rules (an argument origin)
    after the source's own, so they override its values and are checked like any rule;
    without them this is exactly `policy compile`'s chain. `read` reads the source's files
    (an inline profile is served through it)."""
    extra = env_rules(request.env_pairs)
    return compile_policy(
        source, reader(request, source, read), extra=extra, host=host or ThisHost()
    )


def with_accounts(
    compiled: Compiled, image_accounts: Callable[[], Accounts], host: Host
) -> Compiled:
    """`compiled` with its user as the numbers the image's accounts give it, judged on
    `host` (a name the image maps to root is refused: `PolicyError`). The accounts are
    asked for only when the user is one that only the image can turn into numbers."""
    if not needs_image(compiled.policy.user):
        return compiled
    return resolve_user(compiled, image_accounts(), host=host)


def reader(request: LaunchRequest, source: str, read: Reader = read_text) -> Reader:
    """What reads the request's SOURCE: `read`, serving a profile given inline as the
    file `source` names."""
    text = request.inline_profile
    if text is None:
        return read

    def inline(path: str) -> str:
        return text if path == source else read(path)

    return inline


def check_target(target: Target) -> None:
    """Raise `PolicyError` when the target's name, image or port cannot be lowered."""
    if problems := target_problems(target):
        raise PolicyError(problems)


def plan(compiled: Compiled, target: Target) -> LaunchPlan:
    """The payloads `compiled` lowers to for `target`, checked first."""
    check_target(target)
    return lower(compiled.policy, target)


def image_user(
    compiled: Compiled, request: LaunchRequest, host: Host
) -> tuple[Compiled, str | None]:
    """For a plan that is only printed: `compiled` with its user as the numbers the image
    gives it, as a launch would send them, when the request's engine answers and has its
    image; else `compiled` as written, and why the numbers are left to the launch. A
    refusal (a name the image maps to root) raises `PolicyError` here too."""
    if not needs_image(compiled.policy.user):
        return compiled, None
    if request.image == IMAGE_PLACEHOLDER:
        return compiled, "name the image with `--image`"
    try:
        found = _read_accounts(request)
    except LokError as error:
        return compiled, error.message
    return resolve_user(compiled, found, host=host), None


def _read_accounts(request: LaunchRequest) -> Accounts:
    # the engine adapter loads the docker SDK (~50 ms), and the accounts' cache the state
    # module with `tempfile` (~15 ms): a `policy` command pays for them only when its user
    # is a name that only the image can turn into numbers
    from . import accounts
    from .engine import discover

    engine = discover(request.engine)
    try:
        root = paths.default_root()
    except LokError:
        root = None
    return accounts.read(engine, request.image, root)


def runtime_dir() -> str:
    """Where a launch keeps per-server files, so that a printed plan names the same paths
    a launch would (`/run/mcp-lok` as root, else `$XDG_RUNTIME_DIR/mcp-lok`; the former
    when neither can be told)."""
    try:
        return str(paths.default_root())
    except LokError:
        return RUNTIME_ROOT


def printed_plan(
    request: LaunchRequest,
    source: str,
    engine: Engine,
    runtime: str,
    read: Reader = read_text,
) -> tuple[Compiled, LaunchPlan]:
    """The chain of a plan that is only shown, with no engine asked and the user as
    written: the MCP server's `explain_policy`."""
    compiled = compile_request(request, source, read)
    return compiled, plan(compiled, request.target(engine, runtime))


__all__ = [
    "IMAGE_PLACEHOLDER",
    "check_target",
    "compile_request",
    "image_user",
    "plan",
    "printed_plan",
    "reader",
    "runtime_dir",
    "with_accounts",
]
