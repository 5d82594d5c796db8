"""The edits `generate_parser.py` makes to the module Lark's standalone tool writes.

Lark's standalone module is written for every way Lark can load a parser. Each module it
imports, each pattern it compiles and each table it walks at load is paid for by every
cold `mcp-lok policy compile`, so the generator removes what a parse here never uses and
does ahead of time what it can. Each edit must find Lark's text exactly once, so that an
upgrade of Lark that changes the text fails `make parser` instead of leaving the cost in.
"""

from __future__ import annotations

# A keyword must not run on into a word: `reads` is one unknown word, not `read` + `s`.
KEYWORD_END = r'(?![^\s",])'

# (what Lark wrote, what the module holds instead, why). A cold `mcp-lok policy compile`
# imports this module, so every module it imports is start-up time paid by every command.
TRIMS: list[tuple[str, str, str]] = [
    (
        """import logging
from dataclasses import dataclass
from typing import Generic, AnyStr

logger: logging.Logger = logging.getLogger("lark")
logger.addHandler(logging.StreamHandler())
##

##

logger.setLevel(logging.CRITICAL)
""",
        """from typing import Generic, AnyStr


class _Silent:
    def _ignore(self, *args, **kwargs):
        pass

    debug = info = warning = error = exception = _ignore


logger = _Silent()
""",
        "Lark's logger is set to CRITICAL and logs nothing above warning; `logging` costs"
        " about 4 ms to import",
    ),
    (
        """@dataclass(frozen=True)
class TextSlice(Generic[AnyStr]):
    #--
    text: AnyStr
    start: int
    end: int

    def __post_init__(self):""",
        """class TextSlice(Generic[AnyStr]):
    #--
    text: AnyStr
    start: int
    end: int

    def __init__(self, text, start, end):
        self.text = text
        self.start = start
        self.end = end
        self.__post_init__()

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.text, self.start, self.end) == (other.text, other.start, other.end)

    def __hash__(self):
        return hash((self.text, self.start, self.end))

    def __post_init__(self):""",
        "the one dataclass: `dataclasses` imports `inspect`, several ms; the class keeps"
        " the dataclass's fields, __init__, __eq__ and __hash__, but not its repr or its"
        " refusal to assign a field (Lark never assigns one after __post_init__)",
    ),
    (
        "from inspect import getmembers, getmro\n",
        """def getmembers(object):
    from inspect import getmembers

    return getmembers(object)


def getmro(cls):
    return cls.__mro__
""",
        "`inspect` (several ms) serves only transformers' `v_args`, which a parse never uses",
    ),
    (
        """try:
    import regex
    _has_regex = True
except ImportError:
    _has_regex = False
""",
        "_has_regex = False\n",
        "the parser is loaded with the `re` module (option regex=False); looking for `regex`"
        " costs a search of sys.path, and importing it where it is installed much more",
    ),
    (
        """        mres = []
        while terminals:
"""
        "            pattern = u'|'.join(u'(?P<%s>%s)' % (t.name, t.pattern.to_regexp())"
        " for t in terminals[:max_size])\n"
        """            if self.use_bytes:
                pattern = pattern.encode('latin-1')
            try:
                mre = self.re_.compile(pattern, self.g_regex_flags)
            except AssertionError:  ##

                return self._build_mres(terminals, max_size // 2)

            mres.append(mre)
            terminals = terminals[max_size:]
        return mres

    def match(self, text: TextSlice, pos):
        for mre in self._mres:
            m = mre.match(text.text, pos, text.end)
            if m:
                return m.group(0), m.lastgroup


    def fullmatch(self, text: str) -> Optional[str]:
        for mre in self._mres:
            m = mre.fullmatch(text)
            if m:
                return m.lastgroup
        return None
""",
        """        mres = []
        while terminals:
            chunk = terminals[:max_size]
            pattern = _alternation([t.pattern.to_regexp() for t in chunk])
            if self.use_bytes:
                pattern = pattern.encode('latin-1')
            try:
                mre = _compile(self.re_, pattern, self.g_regex_flags)
            except AssertionError:  ##

                return self._build_mres(terminals, max_size // 2)

            mres.append((mre, {'t%d' % i: t.name for i, t in enumerate(chunk)}))
            terminals = terminals[max_size:]
        return mres

    def match(self, text: TextSlice, pos):
        for mre, names in self._mres:
            m = mre.match(text.text, pos, text.end)
            if m:
                return m.group(0), names[m.lastgroup]


    def fullmatch(self, text: str) -> Optional[str]:
        for mre, names in self._mres:
            m = mre.fullmatch(text)
            if m:
                return names[m.lastgroup]
        return None


_KEYWORD_END = {KEYWORD_END!r}


def _alternation(regexps):
    # One lexer state's terminals, in order, as one regular expression. A group is named
    # by its position, not its terminal, so that states whose terminals have the same
    # patterns (a host, a user, a system call) share one compiled expression through the
    # `re` module's cache. A run of keywords (each ending with _KEYWORD_END) is written
    # `(?:(?P<t1>read)|(?P<t2>write))(?!...)` instead of `(?P<t1>read(?!...))|...`: it
    # matches the same text with the same group, and `re` parses the lookahead once.
    parts = []
    i = 0
    while i < len(regexps):
        j = i
        while j < len(regexps) and regexps[j].endswith(_KEYWORD_END):
            j += 1
        if j - i > 1:
            keywords = [regexps[k][:-len(_KEYWORD_END)] for k in range(i, j)]
            run = '|'.join('(?P<t%d>%s)' % (i + n, k) for n, k in enumerate(keywords))
            parts.append('(?:%s)%s' % (run, _KEYWORD_END))
            i = j
        else:
            parts.append('(?P<t%d>%s)' % (i, regexps[i]))
            i += 1
    return '|'.join(parts)
""".replace("{KEYWORD_END!r}", repr(KEYWORD_END)),
        "not an import: the contextual lexer compiles one expression per state on first use,"
        " a few ms of the first compile; this makes states with the same patterns share one"
        " and keywords cheaper to compile",
    ),
    (
        """            if s == _get_match(re_, retok.pattern.to_regexp(), s, g_regex_flags):""",
        """            if (retok.name, strtok.name) in _EMBEDDED:""",
        "not an import: each lexer state compiled every pattern that could also match a"
        " literal (`,` `=`) to ask whether it does; `embedded` asks once, here",
    ),
    (
        """        lexer_by_tokens: Dict[FrozenSet[str], AbstractBasicLexer] = {}
        self.lexers = {}
        for state, accepts in states.items():
            key = frozenset(accepts)
            try:
                lexer = lexer_by_tokens[key]
            except KeyError:
                accepts = set(accepts) | set(conf.ignore) | set(always_accept)
                lexer_conf = copy(trad_conf)
                lexer_conf.terminals = [terminals_by_name[n] for n in accepts if n in terminals_by_name]
                lexer = self.BasicLexer(lexer_conf, comparator)
                lexer_by_tokens[key] = lexer

            self.lexers[state] = lexer
""",  # noqa: E501 (Lark's text)
        """        lexer_by_tokens: Dict[FrozenSet[str], AbstractBasicLexer] = {}
        state_conf = copy(trad_conf)  # as trad_conf is now; it changes below

        def build(accepts):
            key = frozenset(accepts)
            try:
                return lexer_by_tokens[key]
            except KeyError:
                accepts = set(accepts) | set(conf.ignore) | set(always_accept)
                lexer_conf = copy(state_conf)
                lexer_conf.terminals = [terminals_by_name[n] for n in accepts if n in terminals_by_name]
                lexer = self.BasicLexer(lexer_conf, comparator)
                lexer_by_tokens[key] = lexer
                return lexer

        self.lexers = _StateLexers(states, build)
""",  # noqa: E501 (Lark's text)
        "not an import: Lark made the lexers of all of the parser's states when it loaded"
        " (0.6 ms); `_StateLexers` makes a state's lexer the first time a parse reaches it",
    ),
    (
        """class ContextualLexer(Lexer):
""",
        """class _StateLexers(dict):
    # The lexer of each parser state, made when the state is first looked up.
    def __init__(self, states, build):
        super().__init__()
        self._states = states
        self._build = build

    def __missing__(self, state):
        lexer = self[state] = self._build(self._states[state])
        return lexer


class ContextualLexer(Lexer):
""",
        "see the previous edit",
    ),
    (
        "from copy import deepcopy\n",
        """def deepcopy(x, memo=None):
    from copy import deepcopy

    return deepcopy(x, memo)
""",
        "`copy` (with `weakref`, nearly 1 ms) serves a good parse only to copy the lexer's"
        " settings (see the next edit); a deep copy is made only by an error's diagnosis",
    ),
    (
        "\nfrom copy import copy\n",  # at the start of a line: a method imports it too
        """
def copy(x):
    # What copy.copy makes of a LexerConf, a plain object (no __slots__, __copy__ or
    # __reduce__): a new one with the same attributes. Anything else is copied by `copy`.
    if type(x) is LexerConf:
        new = LexerConf.__new__(LexerConf)
        new.__dict__.update(x.__dict__)
        return new
    from copy import copy

    return copy(x)
""",
        "see the previous edit",
    ),
    (
        "categ_pattern = re.compile(r'\\\\p{[A-Za-z_]+}')\n",
        "categ_pattern = r'\\\\p{[A-Za-z_]+}'  # `re` compiles it if a grammar is built\n",
        "not an import: a pattern compiled at import (0.1 ms) that only building a grammar"
        " uses; `re.sub` and `re.search` take it as text",
    ),
    (
        "{tokens[token]: ((Reduce, Rule.deserialize(arg, memo)) if action==1 else (Shift, arg))",
        "{tokens[token]: ((Reduce, memo[arg['@']] if '@' in arg else Rule.deserialize(arg, memo))"
        " if action==1 else (Shift, arg))",
        "not an import: a rule in the parse table is a reference to the memo, which"
        " `Rule.deserialize` looks up after building a dictionary of its namespace, a few"
        " hundred times per load",
    ),
    (
        "import pickle, zlib, base64\n",
        "",
        "the tables are written as Python literals (compress=False), so only Lark's cache,"
        " `save` and `load`, never called here, would need pickle; zlib and base64 none",
    ),
]
