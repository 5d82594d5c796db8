"""`digest.sha256_hex` avoids `hashlib` (see its docstring) and must give hashlib's digest."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from mcp_lok.policy import digest


@given(st.binary(max_size=4096))
def test_the_digest_is_hashlibs(data: bytes) -> None:
    assert digest.sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_the_builtin_module_is_used_where_the_interpreter_has_it() -> None:
    assert digest._sha256 is not hashlib.sha256
    assert digest._sha256.__module__ in {"_sha2", "_sha256"}


def test_without_a_builtin_module_it_falls_back_to_hashlib() -> None:
    assert digest._sha256_constructor(("_no_such_module",)) is hashlib.sha256
