"""A launch's second look at the host paths its plan mounts.

The compile judged every granted host path by where it led then (`mcp_lok.policy.paths`);
the engine binds it later. In between, a symlink can be swapped, a folder replaced, a
socket put inside one. So right before a launch creates anything, and again right before
it creates the server's container, each mount's path as written is resolved afresh on this
machine and compared with what the compile saw (`paths.changed`); any difference, or a
path that does not exist, refuses the launch with a `PolicyError` (exit 3), and whatever
the launch created is undone by its caller. What is left is the moment between the last
look and the engine's bind: only root and the user running mcp-lok can change a path then,
unless the policy acknowledged with `insecure` that someone else could.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mcp_lok.policy import Compiled, PolicyError
from mcp_lok.policy.ir import Mount
from mcp_lok.policy.paths import changed

from .host import ThisHost


class PathCheck:
    """The mounts of one compiled policy, with what the host said of each at compile time;
    calling it looks again, and raises `PolicyError` when anything changed."""

    def __init__(self, mounts: Sequence[Mount], texts: Mapping[str, str]) -> None:
        self.mounts = tuple(mounts)
        self.texts = dict(texts)  # to render a refusal's source line

    @classmethod
    def of(cls, compiled: Compiled) -> PathCheck:
        return cls(compiled.policy.mounts, compiled.texts)

    def __call__(self) -> None:
        host = ThisHost()  # new facts: nothing kept from the compile's look
        # INVARIANT: every mount's path is resolved again, as written, and must lead where
        # it led at compile time, to the same file, holding nothing more dangerous
        problems = [
            problem
            for mount in self.mounts
            if (problem := changed(mount, host.path(mount.host.written))) is not None
        ]
        if problems:
            raise PolicyError(problems, self.texts)


__all__ = ["PathCheck"]
