"""The README and `docs/` stay true to the code: every `mcp-lok` command they show exists
with the options shown, every `make` target they name is in the Makefile, every relative
link (and its `#anchor`) resolves, and every repository path they name in backticks exists.

Commands are read from code spans (`` `mcp-lok …` ``), from shell lines in fenced blocks
(`$ mcp-lok …`, `mcp-lok …`, `.venv/bin/mcp-lok …`), and from the README's command table,
whose second column lists the options of the command in its first.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from mcp_lok.launcher.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
SHELL_LINE = re.compile(r"(?:^|\$ |&& |/bin/)(mcp-lok(?:[ \t].*)?)$", re.MULTILINE)
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
REPO_PATH = re.compile(
    r"^(?:tests|examples|scripts|policy|launcher|proxy|snapshots|bench|images|docs)/[^\s*<…]*$"
)
MAKE = re.compile(r"(?:^|`)make ([a-z0-9-]+)", re.MULTILINE)
# where a shell command line ends, and what a table cell writes between alternatives
ENDS = {"|", "&&", ";", ">", "2>", "#", "--"}
ALTERNATIVE = "\\|"


@dataclass(frozen=True)
class Shown:
    """One command line as a page shows it."""

    page: str
    text: str

    def __str__(self) -> str:
        return f"{self.page}: {self.text}"


def relative(page: Path) -> str:
    return str(page.relative_to(ROOT))


def fenced(text: str) -> list[str]:
    return FENCE.findall(text)


def commands(page: Path) -> list[Shown]:
    text = page.read_text(encoding="utf-8")
    found = [span for span in SPAN.findall(text) if re.match(r"mcp-lok(\s|$)", span)]
    for block in fenced(text):
        found += SHELL_LINE.findall(block)
    return [Shown(relative(page), line.strip()) for line in found]


def table_rows(page: Path) -> list[tuple[Shown, list[str]]]:
    """The README's command table: (command, the options its row lists)."""
    rows = []
    for line in page.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) < 2 or not cells[0].startswith("`mcp-lok "):
            continue
        command = SPAN.findall(cells[0])[0]
        options = [opt for span in SPAN.findall(cells[1]) for opt in OPTION.findall(span)]
        rows.append((Shown(relative(page), command), options))
    return rows


def words(command: str) -> list[str]:
    text = command.replace("…", " ")
    try:
        tokens = shlex.split(text, comments=False)
    except ValueError:  # an unbalanced quote in a shortened example
        tokens = text.split()
    return [token.strip("[]") for token in tokens[1:]]  # drop `mcp-lok` itself


def resolve(command: str, tokens: list[str]) -> tuple[list[click.Command], list[str]]:
    """The click commands a line walks through (root first), and the options it passes."""
    chain: list[click.Command] = [cli]
    options: list[str] = []
    ctx = click.Context(cli)
    for token in tokens:
        if token in ENDS or token.startswith("#"):
            break
        if not token or token == ALTERNATIVE:
            continue
        if token.startswith("-"):
            options.append(token.split("=", 1)[0])
            continue
        here = chain[-1]
        if isinstance(here, click.Group) and not options:
            sub = here.get_command(ctx, token)
            assert sub is not None, f"`{command}`: `{here.name}` has no command `{token}`"
            chain.append(sub)
    return chain, options


def variants(tokens: list[str]) -> list[list[str]]:
    """`run|start --x` is two command lines: one per alternative of a command word."""
    for i, token in enumerate(tokens[:2]):
        if "|" in token and not token.startswith("-") and token != ALTERNATIVE:
            return [
                line
                for name in token.split("|")
                for line in variants([*tokens[:i], name, *tokens[i + 1 :]])
            ]
    return [tokens]


def known_options(command: click.Command) -> set[str]:
    names = {"-h", "--help"}
    for param in command.params:
        names.update(param.opts, param.secondary_opts)
    return names


def check(shown: Shown, listed: list[str] | None = None) -> None:
    for tokens in variants(words(shown.text)):
        chain, options = resolve(shown.text, tokens)
        # an option belongs to the command it follows; the root's (-v, -q) come before any
        allowed = known_options(chain[-1]) | (known_options(cli) if len(chain) == 1 else set())
        for option in [*options, *(listed or [])]:
            for name in option.split("/"):
                if name.startswith("-"):
                    assert name in allowed, f"{shown}: `{name}` is not an option of it"


SHOWN = [shown for page in PAGES for shown in commands(page)]


def test_pages_show_commands() -> None:
    assert len(SHOWN) > 50, "the pages were not read"


@pytest.mark.parametrize("shown", SHOWN, ids=str)
def test_every_command_shown_exists_with_its_options(shown: Shown) -> None:
    check(shown)


@pytest.mark.parametrize(
    ("shown", "listed"), table_rows(ROOT / "README.md"), ids=lambda x: str(x)[:60]
)
def test_the_command_table_lists_real_options(shown: Shown, listed: list[str]) -> None:
    check(shown, listed)


def test_the_command_table_names_every_command() -> None:
    ctx = click.Context(cli)
    tabled = {shown.text.split()[1] for shown, _ in table_rows(ROOT / "README.md")}
    tabled |= {
        shown.text.split()[2]
        for shown, _ in table_rows(ROOT / "README.md")
        if shown.text.split()[1] == "policy"
    }
    policy = cli.get_command(ctx, "policy")
    assert isinstance(policy, click.Group)
    visible = {
        name
        for name in cli.list_commands(ctx)
        if not getattr(cli.get_command(ctx, name), "hidden", True)
    }
    assert visible - tabled <= {"policy"}
    assert set(policy.list_commands(ctx)) <= tabled


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(heading) for heading in HEADING.findall(text)}


LINKS = [
    (page, target)
    for page in PAGES
    for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8")))
    if not re.match(r"[a-z]+:", target)
]


@pytest.mark.parametrize(("page", "target"), LINKS, ids=lambda x: str(x).rsplit("/", 1)[-1])
def test_every_relative_link_resolves(page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    assert linked.exists(), f"{relative(page)}: `{target}` leads nowhere"
    if anchor:
        assert anchor in anchors(linked), f"{relative(page)}: no heading `#{anchor}`"


NAMED = sorted(
    {
        (relative(page), match)
        for page in PAGES
        for span in SPAN.findall(page.read_text(encoding="utf-8"))
        for match in [re.split(r"[:#]", span, maxsplit=1)[0]]
        if REPO_PATH.match(match)
    }
)


@pytest.mark.parametrize(("page", "path"), NAMED, ids=lambda x: str(x))
def test_every_repository_path_named_exists(page: str, path: str) -> None:
    assert (ROOT / path).exists(), f"{page}: `{path}` is not in the repository"


def test_every_make_target_named_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z0-9-]+):", makefile, re.MULTILINE))
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        named = set(MAKE.findall(text))
        for block in fenced(text):
            named |= set(MAKE.findall(block))
        assert named <= targets, f"{relative(page)}: no make target {sorted(named - targets)}"


def test_the_readme_is_a_door() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 300


def test_the_readmes_limits_are_the_proxys() -> None:
    """Every number the README's proxy limits state is the default the code has."""
    from mcp_lok.policy.baseline import MAX_SESSIONS, SESSION_IDLE_TIMEOUT
    from mcp_lok.proxy import held
    from mcp_lok.proxy.config import ProxyConfig
    from mcp_lok.proxy.pool import VANISHED_AFTER

    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    limits = text[text.index("**Limits**") :].split("\n## ", 1)[0]
    config = ProxyConfig(name="x", transport="stdio")
    stated = [
        f"{MAX_SESSIONS} sessions at once",
        f"A session idle {SESSION_IDLE_TIMEOUT} s is closed",
        f"its client gone {VANISHED_AFTER:g} s",
        f"A request waits {config.request_timeout:g} s",
        f"a body over {config.max_body_bytes >> 20} MiB gets 413",
        f"{held.MAX_HELD_EVENTS} events and {held.MAX_HELD_BYTES >> 20} MiB per session",
        f"{held.MAX_HELD_STREAMS} sessions, an hour at most",
    ]
    assert [claim for claim in stated if claim not in limits] == []
