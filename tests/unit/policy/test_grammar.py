"""`policy/_lalr.py` is what Lark's standalone generator makes of `grammar.lark`, and the
loaded grammar is what `parser.py` and `kinds.py` take it to be."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import lark

from mcp_lok.policy import _lalr, grammar, parser

ROOT = Path(__file__).resolve().parents[3]


def generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "generate_parser", ROOT / "scripts" / "generate_parser.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def made_of(parser: Any) -> tuple[object, ...]:
    """What determines a parser's tables: its terminals, rules and options, and Lark."""
    terminals = {
        (t.name, t.pattern.type, t.pattern.value, tuple(t.pattern.flags), t.priority)
        for t in parser.terminals
    }
    rules = {
        (
            str(rule.origin.name),
            tuple((type(symbol).__name__, str(symbol.name)) for symbol in rule.expansion),
            str(rule.alias),
            rule.options.keep_all_tokens,
            rule.options.expand1,
            rule.options.priority,
            tuple(rule.options.empty_indices),
        )
        for rule in parser.rules
    }
    options = {k: v for k, v in parser.options.options.items() if k != "source_path"}
    return terminals, rules, options, parser.lexer_conf.ignore


def test_the_committed_parser_is_what_the_generator_writes() -> None:
    # Lark numbers states and tokens differently from one run to the next, so the module
    # cannot be compared byte for byte with a fresh one; what determines its tables can.
    out_of_date = "policy/_lalr.py is out of date with policy/grammar.lark: run `make parser`"
    assert made_of(grammar.load().lark) == made_of(generator().build()), out_of_date
    assert _lalr.__version__ == lark.__version__, out_of_date


def test_keywords_match_whole_words_only() -> None:
    loaded = grammar.load()
    patterns = {t.name: t.pattern.to_regexp() for t in loaded.lark.terminals}
    assert loaded.keywords["_READ"] == "read"
    assert loaded.keywords["_OPEN_FILES"] == "open-files"
    assert loaded.keywords["INSECURE"] == "insecure"
    for name, word in loaded.keywords.items():
        assert re.fullmatch(patterns[name], word), name
        for after in ("s", "-x", "/", "#", "é"):
            assert re.match(patterns[name], word + after) is None, (name, after)
        for after in (" ", "\t", '"', ",", "\n"):
            assert re.match(patterns[name], word + after), (name, after)


def test_an_error_can_name_every_terminal() -> None:
    loaded = grammar.load()
    ignored = set(loaded.lark.lexer_conf.ignore)
    named = set(parser._PHRASES) | set(loaded.keywords) | set(loaded.literals) | ignored
    assert {t.name for t in loaded.lark.terminals} <= named
    assert set(loaded.literals.values()) == {",", "="}


def test_the_policy_package_does_not_import_lark() -> None:
    code = (
        "import sys; from mcp_lok.policy import FixedHost, compile_policy; "
        "compile_policy('examples/github.lok', host=FixedHost()); "
        "print(sorted(m for m in sys.modules if m == 'lark' or m.startswith('lark.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
