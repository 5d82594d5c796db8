"""The two kinds of file a SOURCE or an `extends` may name, and whether a file read is
policy text at all.

A policy file's name ends in `.lok`, a profile's in `.json`; no other file is read (the
name as written and the path it resolves to must both end so: `loader` asks before
reading). A file that is read may still be someone else's: a `.lok` whose first statement
does not begin with a keyword of the language, a `.json` whose top level is not an object
or holds none of the fields a profile grants with. Its text is never shown: `foreign` says
why it is not a policy, and both the loader and the renderer ask it before quoting a line.
Pure: it reads nothing.
"""

from __future__ import annotations

import functools
import json
import re

from .record import record

POLICY_SUFFIX = ".lok"
PROFILE_SUFFIX = ".json"
SUFFIXES = (POLICY_SUFFIX, PROFILE_SUFFIX)
# the profile fields that grant or acknowledge something; ToolHive's `name` alone does not
# make a file a profile (a `package.json` has one)
PROFILE_FIELDS = ("read", "write", "network", "privileged", "insecure")
_NO_STATEMENT = "its first statement does not begin with a keyword of the language"


def named_as_policy(path: str) -> bool:
    """Whether `path` is named as a policy file or a profile."""
    return path.endswith(SUFFIXES)


def is_profile(path: str, text: str) -> bool:
    """Whether `text` is read as a JSON profile (by its name, or by its first character)."""
    return path.endswith(PROFILE_SUFFIX) or text.lstrip().startswith("{")


@record
class Foreign:
    """Why a file read is not policy text, and where that shows (1-based)."""

    kind: str  # "policy" or "profile": what the file was read as
    reason: str
    line: int
    col: int


@functools.lru_cache(maxsize=16)  # the renderer asks once for each diagnostic
def foreign(path: str, text: str) -> Foreign | None:
    """Why `text`, read from `path`, is not policy text; None when it is."""
    if is_profile(path, text):
        return _not_profile(text)
    return _not_policy(text)


def _not_policy(text: str) -> Foreign | None:
    # Lark's generated parser, imported only when a policy file is read, as in `loader`
    # (which says what it saves)
    from .grammar import opening

    # the first statement must begin as one does; what follows may be wrong, and is shown:
    # it is the text of the user's own policy
    start = opening(text)
    if start is None or start.keyword:  # no statement at all is an empty policy
        return None
    return Foreign("policy", _NO_STATEMENT, start.line, start.col)


def _not_profile(text: str) -> Foreign | None:
    stripped = text.lstrip()
    start = text[: len(text) - len(stripped)]
    line = start.count("\n") + 1
    col = len(start) - (start.rfind("\n") + 1) + 1
    if not stripped.startswith("{"):
        return Foreign("profile", "its top level is not an object", line, col)
    if not _has_profile_field(stripped):
        fields = ", ".join(f"`{f}`" for f in PROFILE_FIELDS)
        return Foreign("profile", f"it has none of the fields {fields}", line, col)
    return None


def _has_profile_field(text: str) -> bool:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        # not JSON: look for a field's key anywhere, so that a profile with a typo in it
        # is still shown with its excerpt
        keys = "|".join(PROFILE_FIELDS)
        return re.search(rf'"(?:{keys})"\s*:', text) is not None
    return isinstance(data, dict) and any(field in data for field in PROFILE_FIELDS)


__all__ = ["SUFFIXES", "Foreign", "foreign", "is_profile", "named_as_policy"]
