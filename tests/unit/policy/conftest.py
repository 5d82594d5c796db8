"""Fixtures for the compiler-pass tests: an in-memory file system for `loader.load` and
`compile_policy`, and a stand-in for the policy-file parser.

`policy/parser.py` has its own tests; the loader and the compiler are mostly tested here
against a tiny line-based stand-in (installed as `mcp_lok.policy.parser` for one test), so
those tests pin how files are found, read, spliced and checked, whatever the grammar does.
`policy_files` gives the same file system with the real parser, for end-to-end tests.
"""

from __future__ import annotations

import sys
import types

import pytest

from mcp_lok.policy import rules
from mcp_lok.policy.diagnostics import Code, Collector, Diagnostic, PolicyError
from mcp_lok.policy.origin import Span


class Files:
    """A dict-backed `Reader`: a `str` value is a file's text, an exception is raised."""

    def __init__(self) -> None:
        self.entries: dict[str, str | Exception] = {}
        self.reads: list[str] = []

    def __setitem__(self, path: str, entry: str | Exception) -> None:
        self.entries[path] = entry

    def read(self, path: str) -> str:
        self.reads.append(path)
        entry = self.entries.get(path)
        if entry is None:
            raise FileNotFoundError(2, "No such file or directory", path)
        if isinstance(entry, Exception):
            raise entry
        return entry


def parse_lines(text: str, path: str, out: Collector | None = None) -> list[rules.Rule]:
    """The stand-in parser: one statement per line, `insecure` first, `because "…"` last.
    The span of a statement covers the line without its indent; that of `insecure`, the
    word. An unknown statement is a `parse.unknown-keyword` error, into `out` as the real
    parser's are (else raised), and the other lines' rules are kept."""
    found: list[rules.Rule] = []
    problems: list[Diagnostic] = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        col = len(line) - len(line.lstrip()) + 1
        origin = Span(path, number, col, number, len(line.rstrip()) + 1)
        insecure = None
        if words[0] == "insecure":
            insecure, words = Span(path, number, col, number, col + len("insecure")), words[1:]
        reason = None
        if "because" in words:
            at = words.index("because")
            reason, words = " ".join(words[at + 1 :]).strip('"'), words[:at]
        rule = _statement(words, origin, insecure, reason)
        if rule is None:
            problems.append(
                Diagnostic(Code.PARSE_UNKNOWN_KEYWORD, f"unknown keyword `{words[0]}`", origin)
            )
        else:
            found.append(rule)
    if out is not None:
        out.extend(problems)
    elif problems:
        raise PolicyError(problems)
    return found


def _statement(
    words: list[str], origin: Span, insecure: Span | None, reason: str | None
) -> rules.Rule | None:
    common = {"origin": origin, "insecure": insecure, "reason": reason}
    match words:
        case ["extends", target]:
            return rules.Extends(target=target, **common)
        case ["read", path]:
            return rules.Read(path=path, **common)
        case ["read", path, "as", target]:
            return rules.Read(path=path, target=target, **common)
        case ["write", path]:
            return rules.Write(path=path, **common)
        case ["user", spec]:
            return rules.User(spec=spec, **common)
        case ["env", assignment]:
            name, _, value = assignment.partition("=")
            return rules.Env(name=name, value=value, **common)
        case ["network", "none"]:
            return rules.NetworkNone(**common)
        case ["network", "open"]:
            return rules.NetworkOpen(**common)
        case ["allow", host, "port", port]:
            return rules.Allow(
                hosts=(rules.Item(host, origin),),
                ports=(rules.Item(port, origin),),
                protocols=(rules.Item("tcp", origin),),
                **common,
            )
        case ["capability", name]:
            return rules.Capability(name=name, **common)
        case ["privileged"]:
            return rules.Privileged(**common)
    return None


@pytest.fixture
def policy_files() -> Files:
    """An empty in-memory file system; policy files go through the real parser."""
    return Files()


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch) -> Files:
    """An empty in-memory file system, with `parse_lines` standing in for the parser."""
    parser = types.ModuleType("mcp_lok.policy.parser")
    parser.parse = parse_lines  # type: ignore[attr-defined]  # a module built at runtime
    monkeypatch.setitem(sys.modules, "mcp_lok.policy.parser", parser)
    return Files()
