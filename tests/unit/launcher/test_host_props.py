"""Property: whatever tree of symlinks a policy's paths go through, no compiled mount
leads anywhere dangerous unless its rule carries `insecure` — judged on the resolved path
by the compiler's own judgement (`paths.sensitive`, `paths.path_dangers`) — and every
mount binds exactly where the kernel resolves the written path.

Trees are made of real symlinks in a temp folder: links to other links (absolute,
relative, climbing with `..`), to host paths that matter (`/etc`, `/run`, a device), to a
Unix socket, loops and dangling links; paths go through them in any component.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mcp_lok.launcher.host import ThisHost
from mcp_lok.policy import PolicyError, Severity, compile_policy
from mcp_lok.policy.paths import path_dangers, sensitive

LINKS = ("l0", "l1", "l2", "l3", "l4")
# what a link may point at: each other, the tree's own folders and socket, host paths
TARGETS = st.sampled_from(
    [
        *LINKS,
        *(f"../t/{link}" for link in LINKS),
        "real",
        "real/a",
        "./real/a/b",
        "../t/real",
        "sock",
        "missing",
        "/etc",
        "/etc/ssl",
        "/var/run",
        "/run",
        "/dev/null",
        "/dev",
        "/etc/hostname",
    ]
)
ERROR = Severity.ERROR
COMPONENTS = st.sampled_from([*LINKS, "real", "a", "b", "ssl", "etc", "certs", "sock", "."])


@contextmanager
def tree(links: dict[str, str]) -> Iterator[Path]:
    """`<tmp>/t` holding `real/a/b`, a listening socket `sock`, and `links`."""
    with tempfile.TemporaryDirectory() as top:
        root = Path(top) / "t"
        (root / "real" / "a" / "b").mkdir(parents=True)
        for name, target in links.items():
            (root / name).symlink_to(target)
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(str(root / "sock"))
            yield root


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    links=st.dictionaries(st.sampled_from(LINKS), TARGETS, min_size=1, max_size=len(LINKS)),
    components=st.tuples(st.sampled_from(LINKS), st.lists(COMPONENTS, max_size=3)).map(
        lambda parts: [parts[0], *parts[1]]
    ),
    write=st.booleans(),
    marked=st.booleans(),
)
def test_no_mount_leads_anywhere_dangerous_without_insecure(
    links: dict[str, str], components: list[str], write: bool, marked: bool
) -> None:
    with tree(links) as root:
        written = "/".join([str(root), *components])
        verb = "write" if write else "read"
        statement = (
            f'insecure {verb} {written} as /data because "the test"'
            if marked
            else (f"{verb} {written} as /data")
        )
        try:
            compiled = compile_policy("p.lok", lambda _: statement + "\n", host=ThisHost())
        except PolicyError as error:
            errors = sorted({d.code.value for d in error.diagnostics if d.severity is ERROR})
            event(f"refused: {', '.join(errors)}")
            return  # refused: a dangerous grant without `insecure`, a loop, …
        (mount,) = compiled.policy.mounts
        # the engine is sent the path the kernel resolves the written one to
        assert mount.source == os.path.realpath(written)
        now = ThisHost().path(mount.written)
        dangerous = sensitive(mount.source, writable=write) or path_dangers(now, writable=write)
        event(f"compiled, {'dangerous' if dangerous else 'harmless'}")
        if dangerous:
            assert marked, (written, mount.source)
            assert compiled.policy.insecure, (written, mount.source)
