"""SHA-256 hex digests without loading OpenSSL.

`hashlib` loads OpenSSL's `_hashlib` when imported, about 2.5 ms of every cold `mcp-lok
policy compile`, to hash a few kilobytes (the policy fingerprint, Podman's seccomp file
name). CPython's own SHA-256 module (`_sha2` from 3.12, `_sha256` in 3.11) gives the same
digest and loads in a tenth of a millisecond, so it is used when the interpreter has it,
and `hashlib` only when it was built without it. Do not replace this with `hashlib`
without measuring the cold start; tests/unit/policy/test_digest.py checks that both agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast


class _Hash(Protocol):
    def hexdigest(self) -> str: ...


def _sha256_constructor(
    builtin: tuple[str, ...] = ("_sha2", "_sha256"),
) -> Callable[[bytes], _Hash]:
    for name in builtin:
        try:
            module = __import__(name)
        except ImportError:
            continue
        return cast(Callable[[bytes], _Hash], module.sha256)
    import hashlib

    return hashlib.sha256


_sha256 = _sha256_constructor()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 digest of `data` in lower-case hex, as `hashlib.sha256(data).hexdigest()`."""
    return _sha256(data).hexdigest()
