"""`policy/_lalr.py` is the parser that `grammar.lark` describes, and the policy package
runs without Lark installed.

Lark numbers states and tokens differently from one run to the next, so the generated
module cannot be compared byte for byte with a fresh one. Its grammar can: the same
terminals (name, pattern as edited for whole-word keywords, flags, priority) and the same
rules determine the same LALR tables.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from mcp_lok.policy import _lalr

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


def grammar_of(parser: Any) -> tuple[set[tuple[object, ...]], set[tuple[object, ...]]]:
    terminals = {
        (t.name, type(t.pattern).__name__, t.pattern.value, tuple(t.pattern.flags), t.priority)
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
    return terminals, rules


def test_the_generated_parser_is_the_grammar_files() -> None:
    fresh = generator().build()
    assert grammar_of(_lalr.Lark_StandAlone()) == grammar_of(fresh), (
        "policy/_lalr.py is out of date with policy/grammar.lark: run `make parser`"
    )
    # what the lexer would otherwise work out at run time from the terminals
    assert generator().embedded(fresh) == _lalr._EMBEDDED


def test_keywords_match_whole_words_only() -> None:
    patterns = {t.name: t.pattern for t in _lalr.Lark_StandAlone().terminals}
    read = patterns["READ"]
    assert read.raw == '"read"'  # errors still name the keyword as written
    assert type(read).__name__ == "PatternRE"
    assert read.value.endswith(generator().KEYWORD_END)


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


def test_the_precompiled_lexer_patterns_are_what_re_compiles() -> None:
    # Pattern equality compares flags, text and compiled code; on an interpreter other than
    # the generator's, `_compile` is `re.compile` itself and this holds trivially.
    for pattern, entry in _lalr._PRECOMPILED.items():
        flags = entry[0]
        ours, theirs = _lalr._compile(re, pattern, flags), re.compile(pattern, flags)
        assert ours == theirs, pattern
        assert (ours.groups, ours.groupindex) == (theirs.groups, theirs.groupindex)


def test_every_pattern_the_lexer_compiles_is_precompiled() -> None:
    module = (ROOT / "policy" / "_lalr.py").read_text(encoding="utf-8")
    assert generator().lexer_patterns(module) == set(_lalr._PRECOMPILED)


def test_the_precompiled_patterns_are_used_on_the_python_that_made_them() -> None:
    import _sre

    made_here = (*sys.version_info[:2], _sre.MAGIC, _sre.CODESIZE) == _lalr._PRECOMPILED_FOR
    assert made_here == _lalr._PRECOMPILED_ON
    pattern = next(iter(_lalr._PRECOMPILED))
    compiled = _lalr._compile(re, pattern, 0)
    # the precompiled path keeps what it makes in `_COMPILED`; `re.compile` in its own cache
    assert (compiled is _lalr._COMPILED.get(pattern)) == made_here
