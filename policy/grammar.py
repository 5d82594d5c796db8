"""The policy language's grammar, loaded: Lark's parser for `grammar.lark`, what its
terminals are, and whether a text begins as a policy does.

The parser is `_lalr.py`, written by Lark's standalone generator (`make parser`, see
`scripts/generate_parser.py`) and committed as Lark wrote it: mcp-lok does not need Lark at
run time, nor builds LALR tables on every start. This is the one module that imports it;
`parser.py` turns what it parses into rules and its errors into diagnostics, and `kinds.py`
asks `opening` whether a file is policy text at all.
"""

from __future__ import annotations

import functools
from typing import cast

from ._lalr import (
    InteractiveParser,
    Lark,
    Lark_StandAlone,
    Token,
    Tree,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
)
from .record import record

# How grammar.lark ends a keyword's pattern (its `_WORD_END`): a keyword is a whole word.
WORD_END = r'(?![^\s",])'
# the end of a line, and the end of the text (which always follows one: see `source`)
NEWLINE = "_NL"
END = "$END"


@record
class Grammar:
    """The loaded parser, and the names of its keyword and literal terminals."""

    lark: Lark
    keywords: dict[str, str]  # keyword terminal → the keyword, such as `_OPEN_FILES` → `open-files`
    literals: dict[str, str]  # `,` and `=`, by their terminals' names


@functools.cache
def load() -> Grammar:
    """The grammar's parser, loaded once per process (a few milliseconds)."""
    lark: Lark = Lark_StandAlone()  # type: ignore[no-untyped-call]  # Lark's code is untyped
    keywords = {
        t.name: t.name.strip("_").lower().replace("_", "-")
        for t in lark.terminals
        if t.pattern.type == "re" and t.pattern.value.endswith(WORD_END)
    }
    literals = {t.name: t.pattern.value for t in lark.terminals if t.pattern.type == "str"}
    return Grammar(lark, keywords, literals)


def source(text: str) -> str:
    """`text` as the grammar reads it: an editor's byte-order mark reads as a blank, so
    that columns still match the text, and a newline ends the last line."""
    return (" " + text[1:] if text.startswith("\ufeff") else text) + "\n"


@record
class Opening:
    """Where the first statement of a text begins, and whether it begins with a keyword
    (after an optional `insecure`), as a statement does."""

    line: int
    col: int
    keyword: bool


def opening(text: str) -> Opening | None:
    """How the first statement of `text` begins; None when `text` has none.

    Only the first words are read: the lexer reads no further than the parser asks."""
    parser = load().lark.parse_interactive(source(text))
    start: tuple[int, int] | None = None
    try:
        for token in parser.iter_parse():
            if token.type == NEWLINE:  # blank lines and comments before the statement
                continue
            start = start or (cast(int, token.line), cast(int, token.column))
            if token.type != "INSECURE":  # the lexer gives nothing else but a keyword here
                return Opening(*start, keyword=True)
    except UnexpectedInput as error:  # a word that is no keyword, or a stray character
        return Opening(*(start or (error.line, error.column)), keyword=False)
    return None  # `insecure` alone is an error: only a text without a statement gets here


__all__ = [
    "END",
    "NEWLINE",
    "Grammar",
    "InteractiveParser",
    "Opening",
    "Token",
    "Tree",
    "UnexpectedCharacters",
    "UnexpectedInput",
    "UnexpectedToken",
    "load",
    "opening",
    "source",
]
