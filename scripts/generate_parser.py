"""Write `policy/_lalr.py`, the policy language's parser, from `policy/grammar.lark`.

Lark's standalone generator writes a grammar's LALR tables, with the part of Lark that
parses with them, into one module; `policy/grammar.py` loads it, so that mcp-lok does not
need Lark at run time, nor builds the tables on every start. The module is Lark's output
as it is, under the Mozilla Public License 2.0 as its own notice says: nothing edits it.

Run `make parser` after changing the grammar or upgrading Lark;
`tests/unit/policy/test_grammar.py` fails while `_lalr.py` holds another grammar, other
options or another Lark version than this would write. (Lark numbers states and tokens in
an order that changes from run to run, so the test compares those, not bytes.)
"""

from __future__ import annotations

import io
from pathlib import Path

from lark import Lark
from lark.tools.standalone import gen_standalone

POLICY = Path(__file__).resolve().parent.parent / "policy"
GRAMMAR = POLICY / "grammar.lark"
OUTPUT = POLICY / "_lalr.py"


def build() -> Lark:
    """The parser that `_lalr.py` holds, as `policy/grammar.py` runs it."""
    return Lark(
        GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        maybe_placeholders=True,  # an optional part left out is a None in the tree
        propagate_positions=True,  # a statement's tree knows its line and columns
    )


def generate() -> str:
    """The text of `_lalr.py`, exactly as Lark's standalone generator writes it."""
    out = io.StringIO()
    gen_standalone(build(), out=out)
    return out.getvalue()


def main() -> None:
    OUTPUT.write_text(generate(), encoding="utf-8")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
