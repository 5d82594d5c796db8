"""The `policy` commands' arguments and options, declared once and without click.

Two readers: `policy_commands` builds the click commands from these declarations (so help,
usage errors and every unusual command line stay click's), and `fastpath` parses the
ordinary, well-formed command line against the same declarations without importing click.

Why a declaration of our own rather than click decorators: `mcp-lok policy compile` should
start in a few times the time of a bare Python (issue 2), and importing click costs ~9 ms
with the stdlib it pulls in (datetime, uuid, platform, gettext, inspect). So this module
imports neither click nor logging, dataclasses or typing at run time; keep it that way
(tests/unit/launcher/test_fastpath_process.py checks the modules a command loads).
"""

from __future__ import annotations

from mcp_lok.policy import Engine, Transport
from mcp_lok.policy.baseline import DEFAULT_TARGET_PORT
from mcp_lok.policy.layout import RUNTIME_ROOT

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable

# what an option's value is (click's type in brackets)
TEXT = "text"  # any string (STRING)
INT = "int"  # an integer (INT)
FLOAT = "float"  # a number from `low` to `high` inclusive (FloatRange)
CHOICE = "choice"  # one of `choices`, exactly (Choice)
PAIRS = "pairs"  # KEY=VALUE, repeatable: a tuple of (key, value) pairs (multiple + callback)


class Missing:
    """The default of an option that has none: click's own default applies (None, or ()
    for a repeatable option)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()


class Option:
    """One option: its flags, the parameter its value is passed as (`dest`), its kind."""

    __slots__ = (
        "choices",
        "default",
        "dest",
        "flags",
        "help",
        "high",
        "kind",
        "low",
        "metavar",
        "required",
        "show_default",
    )

    def __init__(
        self,
        *flags: str,
        dest: str,
        help: str | None = None,
        kind: str = TEXT,
        choices: tuple[str, ...] = (),
        low: float = 0.0,
        high: float = 0.0,
        default: str | int | Callable[[], str] | Missing = MISSING,
        show_default: bool | str | None = None,
        required: bool = False,
        metavar: str | None = None,
    ) -> None:
        self.flags = flags
        self.dest = dest
        self.help = help
        self.kind = kind
        self.choices = choices
        self.low = low
        self.high = high
        self.default = default
        self.show_default = show_default
        self.required = required
        self.metavar = metavar


class Argument:
    """One positional argument; `many` takes all that are left (click's `nargs=-1`), `raw`
    passes them unprocessed (options after `--` included)."""

    __slots__ = ("dest", "many", "raw", "required")

    def __init__(
        self, dest: str, *, many: bool = False, required: bool = False, raw: bool = False
    ) -> None:
        self.dest = dest
        self.many = many
        self.required = required or not many  # a single argument is always required
        self.raw = raw


class Command:
    """One `policy` subcommand: its name, its help (click's, verbatim), its parameters in
    the order help lists them."""

    __slots__ = ("help", "name", "params")

    def __init__(self, name: str, help: str, params: tuple[Argument | Option, ...]) -> None:
        self.name = name
        self.help = help
        self.params = params


def default_runtime_dir() -> str:
    """Where the launcher keeps per-server files, so that a compiled plan names the same
    paths a launch would (`/run/mcp-lok` as root)."""
    from .errors import LokError
    from .paths import default_root_name

    try:
        return default_root_name()
    except LokError:
        return RUNTIME_ROOT


def pair_problem(value: str) -> str | None:
    """Why `value` is not KEY=VALUE, or None when it is."""
    key, sep, _ = value.partition("=")
    return None if sep and key else f"`{value}` is not KEY=VALUE"


def split_pairs(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """KEY=VALUE strings already checked by `pair_problem`, as (key, value) pairs."""
    pairs = []
    for value in values:
        key, _, val = value.partition("=")
        pairs.append((key, val))
    return tuple(pairs)


# shared with the lifecycle commands, so `policy compile` and `run` read the same way
TRANSPORT = Option(
    "--transport",
    dest="transport",
    kind=CHOICE,
    choices=tuple(t.value for t in Transport),
    default="stdio",
    show_default=True,
    help="How the server speaks MCP.",
)
NAME = Option("--name", dest="name", help="The server's name (default: from the image).")
ENV = Option(
    "-e",
    "--env",
    dest="env",
    kind=PAIRS,
    metavar="KEY=VALUE",
    help="Set an environment variable in the server.",
)

# what a policy is lowered for (`policy_actions.Lowering`)
TARGET = (
    Option(
        "--engine",
        dest="engine",
        kind=CHOICE,
        choices=tuple(e.value for e in Engine),
        default="docker",
        show_default=True,
        help="Which engine's payloads to produce.",
    ),
    TRANSPORT,
    NAME,
    ENV,
    Option(
        "--runtime-dir",
        dest="runtime_dir",
        default=default_runtime_dir,
        show_default="/run/mcp-lok as root, else $XDG_RUNTIME_DIR/mcp-lok",
        help="Where the launcher keeps per-server files (seccomp for Podman, the gate's).",
    ),
    Option(
        "--target-port",
        dest="target_port",
        kind=INT,
        default=DEFAULT_TARGET_PORT,
        show_default=True,
        help="The port an HTTP server listens on inside its container.",
    ),
)
IMAGE = Option(
    "--image", dest="image", default="IMAGE", show_default=True, help="The server's image."
)
FORMAT = Option("--format", dest="fmt", kind=CHOICE, choices=("human", "json"), default="human")

COMMANDS = {
    command.name: command
    for command in (
        Command(
            "compile",
            "Print the exact payloads the engine would receive for SOURCE.\n\n"
            "SOURCE is a built-in (stdio, none, network), a JSON profile or a policy file.\n"
            "Arguments after `--` become the server's command.",
            (
                Argument("source"),
                Option("--image", dest="image", required=True, help="The server's image."),
                *TARGET,
                Argument("args", many=True, raw=True),
            ),
        ),
        Command(
            "explain",
            "Explain every control SOURCE sets, where it came from, and an exposure score.",
            (
                Argument("source"),
                IMAGE,
                *TARGET,
                FORMAT,
                Option(
                    "--threshold",
                    dest="threshold",
                    kind=FLOAT,
                    low=0,
                    high=10,
                    help="Exit 3 when the exposure score is above this (0–10).",
                ),
            ),
        ),
        Command(
            "validate",
            "Check one or more SOURCES; report every problem in each.",
            (Argument("sources", many=True, required=True), FORMAT),
        ),
        Command(
            "diff",
            "Show which payload fields change from A to B, and the rule behind each change.",
            (Argument("a"), Argument("b"), IMAGE, *TARGET, FORMAT),
        ),
    )
}
