"""The files mcp-lok puts where an engine would write its own: `/etc/hosts`,
`/etc/hostname`, `/etc/resolv.conf` and, on Podman, `/run/.containerenv`.

Left alone, the engines write these into every container, and not from the plan (measured
on Docker 20.10 and Podman 4.3): Podman copies the host's `/etc/hosts`, so the host's names
leak and a listed name bypasses the gate's resolver; Docker writes the host's nameservers
into `resolv.conf` even with no network; `/etc/hostname` is a random container id. A
read-only bind mount at each path replaces the engine's file on both engines, for the gate
and for a server that joins the gate's namespace (where Docker would otherwise point it at
the gate's files). So each container gets exactly the files named here.

What `/etc/resolv.conf` says is a consequence of the network mode, decided in `network.py`
(`resolver`). The kernel's hostname (`uname -n`) stays the engine's, the container's
own id (Docker gives a server that joins the gate the gate's), which names nothing of the
host: Docker refuses `Hostname` in `container:` mode, and the containers of a per-session
server, made from one payload, would all share one name. Pure: the files are `PlanFile`s
the launcher writes before creating anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..ir import IR
from ..origin import BASELINE, Origin
from . import network
from .plan import Payload, PlanFile, Target, bind

# only the loopback names: nothing of the host's, not even the server's own name
HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def place(
    payload: Payload,
    policy: IR,
    target: Target,
    role: str,
    *,
    open_resolver: str | None,
    extra: Mapping[str, str],
) -> tuple[PlanFile, ...]:
    """Bind mcp-lok's own files into the `role` container's payload (after its other
    mounts) and return them for the launcher to write. `extra`: the engine's own files
    besides the three every engine writes (Podman's `/run/.containerenv`)."""
    wanted: dict[str, tuple[str | None, Origin]] = {
        "/etc/hosts": (HOSTS, BASELINE),
        "/etc/hostname": (f"{target.name}\n", BASELINE),
        "/etc/resolv.conf": network.resolver(policy, role, open_resolver),
    }
    wanted |= {path: (content, BASELINE) for path, content in extra.items()}
    files: list[PlanFile] = []
    for path, (content, origin) in sorted(wanted.items()):
        if content is None:
            continue
        source = f"{target.layout.etc(role)}/{path.rsplit('/', 1)[1].lstrip('.')}"
        # INVARIANT: mcp-lok's own files are read-only inside, and propagate nothing
        payload.host.add(origin, Mounts=[bind(source, path, read_only=True)])
        # 0644 whatever the runtime folder's mode: the server reads it as its own uid, and
        # a bind mount carries the host file's mode and owner into the container
        files.append(PlanFile(source, content, mode=0o644))
    return tuple(files)


__all__ = ["HOSTS", "place"]
