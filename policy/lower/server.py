"""Lowering of the server's own container: the hardened baseline, then what the policy
grants, as one `POST /containers/create` body whose every field has an origin.

Engine differences come in as `Quirks`, made from the engine's module; what the network
mode causes is `network.py`'s, the gate's body `gate.py`'s, the files mcp-lok binds in
place of the engine's `files.py`'s. Pure: no clock, no host lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .. import baseline, layout
from ..ir import IR
from ..origin import BASELINE, Argument, Default, Origin
from ..record import record
from . import files, network
from .payloads import ContainerCreate, RestartPolicy, Ulimit
from .plan import LAUNCH_LABEL, EngineMount, Payload, PlanFile, Target, Transport, bind

# (policy, target) -> the SecurityOpt seccomp entry, and files the launcher must write
SeccompOption = Callable[[IR, Target], tuple[str, tuple[PlanFile, ...]]]


@record
class Quirks:
    """How one engine differs, as lowering must know it (from `docker.py`, `podman.py`)."""

    seccomp: SeccompOption
    open_resolver: str | None  # `/etc/resolv.conf` on its own bridge; None: the engine's
    own_files: Mapping[str, str]  # files it writes besides hosts, hostname, resolv.conf
    engine_mounts: Callable[[ContainerCreate], tuple[EngineMount, ...]]


IMAGE = Argument("--image")
NAME = Argument("--name")
TRANSPORT = Argument("--transport")
ARGS = Argument("-- ARGS")
DIGEST = Default("policy digest")
LAUNCH = Default("launch nonce")


def container_name(target: Target) -> str:
    return f"mcp-lok-{target.name}"


def labels(payload: Payload, target: Target, role: str) -> None:
    payload.add(BASELINE, Labels={"mcp-lok": "true"})
    payload.add(NAME, Labels={"mcp-lok-name": target.name})
    payload.add(LAUNCH, Labels={LAUNCH_LABEL: target.launch})
    payload.add(BASELINE, Labels={"mcp-lok-role": role})
    payload.add(TRANSPORT, Labels={"mcp-lok-transport": target.transport.value})


def hardening(payload: Payload, policy: IR | None) -> None:
    """What every container mcp-lok creates gets, the gate included."""
    payload.host.set(
        BASELINE,
        # INVARIANT: every capability is dropped; only `CapAdd` (from rules) adds any back.
        CapDrop=["ALL"],
        Init=True,
        # INVARIANT: no host IPC, PID, UTS or user namespace is ever shared.
        IpcMode="private",
        RestartPolicy=RestartPolicy(Name="no"),
    )
    if policy is None:
        payload.host.set(BASELINE, Privileged=False, ReadonlyRootfs=True)
    else:
        payload.host.set(policy.privileged.origin, Privileged=policy.privileged.value)
        payload.host.set(
            policy.read_only_rootfs.origin, ReadonlyRootfs=policy.read_only_rootfs.value
        )
    # INVARIANT: /dev/shm is sized by the plan, never the engine's unnamed default
    payload.host.set(BASELINE, ShmSize=baseline.SHM_SIZE)


def limits(
    payload: Payload,
    memory: int,
    cpus_milli: int,
    pids: int,
    nofile: int,
    origins: tuple[Origin, Origin, Origin, Origin],
) -> None:
    # INVARIANT: MemorySwap equals Memory, so the limit cannot be dodged through swap.
    payload.host.set(origins[0], Memory=memory, MemorySwap=memory)
    payload.host.set(origins[1], NanoCpus=cpus_milli * 1_000_000)
    payload.host.set(origins[2], PidsLimit=pids)
    payload.host.add(origins[3], Ulimits=[Ulimit(Name="nofile", Soft=nofile, Hard=nofile)])
    nproc = Ulimit(Name="nproc", Soft=baseline.NPROC, Hard=baseline.NPROC)
    payload.host.add(BASELINE, Ulimits=[nproc])


def server(policy: IR, target: Target, quirks: Quirks) -> tuple[Payload, tuple[PlanFile, ...]]:
    payload = Payload()
    payload.set(IMAGE, Image=target.image)
    if target.args:
        payload.set(ARGS, Cmd=list(target.args))
    # INVARIANT: a launched server's `User` is `uid:gid` numbers (the launcher resolves a name
    # or a lone uid against the image first, `identity.resolve`, and refuses to create
    # anything otherwise): with an explicit group neither engine adds the groups the image's
    # /etc/group lists the user in (measured on Docker 20.10 and Podman 4.3: `User: "65534"`
    # on an image listing `docker:x:105:nobody` runs in the groups 105 and 65534,
    # `User: "65534:65534"` in 65534 only), and a name cannot turn out to be root unjudged.
    payload.set(policy.user.origin, User=policy.user.value)
    labels(payload, target, "server")
    if target.transport.is_http:
        payload.add(Argument("--target-port"), Labels={"mcp-lok-port": str(target.port)})
    _stdio(payload, target)
    hardening(payload, policy)
    payload.host.set(BASELINE, CapAdd=[])
    for cap in policy.capabilities:
        payload.host.add(cap.origin, CapAdd=[cap.name])
    written = _security_opt(payload, policy, target, quirks.seccomp)
    lim = policy.limits
    limits(
        payload,
        lim.memory.value,
        lim.cpus.value,
        lim.pids.value,
        lim.nofile.value,
        (lim.memory.origin, lim.cpus.origin, lim.pids.origin, lim.nofile.origin),
    )
    written += _filesystem(payload, policy, target, quirks)
    proxy_env = network.server(payload, policy, target)
    _env(payload, policy, target, proxy_env)
    return payload, written


def _stdio(payload: Payload, target: Target) -> None:
    stdio = target.transport is Transport.STDIO
    # a stdio server talks through the engine's attach stream: stdin open, no TTY (a TTY
    # would mangle JSON-RPC framing); an HTTP server needs no stdin at all
    payload.set(
        TRANSPORT,
        AttachStdin=stdio,
        OpenStdin=stdio,
        AttachStdout=stdio,
        AttachStderr=stdio,
        StdinOnce=False,
    )
    payload.set(BASELINE, Tty=False)


def _security_opt(
    payload: Payload, policy: IR, target: Target, seccomp: SeccompOption
) -> tuple[PlanFile, ...]:
    payload.host.set(BASELINE, SecurityOpt=[])
    if policy.no_new_privileges.value:
        payload.host.add(policy.no_new_privileges.origin, SecurityOpt=["no-new-privileges:true"])
    if not policy.seccomp.value:
        payload.host.add(policy.seccomp.origin, SecurityOpt=["seccomp=unconfined"])
        return ()
    option, files = seccomp(policy, target)
    origin = policy.seccomp_deny[-1].origin if policy.seccomp_deny else policy.seccomp.origin
    payload.host.add(origin, SecurityOpt=[option])
    return files


def _filesystem(
    payload: Payload, policy: IR, target: Target, quirks: Quirks
) -> tuple[PlanFile, ...]:
    payload.host.set(BASELINE, Mounts=[])
    for mount in policy.mounts:
        spec = bind(mount.source, mount.target, read_only=not mount.writable)
        payload.host.add(mount.origin, Mounts=[spec])
    own = files.place(
        payload,
        policy,
        target,
        "server",
        open_resolver=quirks.open_resolver,
        extra=quirks.own_files,
    )
    payload.host.set(BASELINE, Tmpfs={})
    for tmpfs in policy.tmpfs:
        options = f"{baseline.TMPFS_OPTIONS},size={tmpfs.size}"
        payload.host.add(tmpfs.origin, Tmpfs={tmpfs.target: options})
    if not policy.masks:
        return own
    # A mask is an empty, read-only directory of mcp-lok's bound over the path. (A tmpfs
    # would be simpler, but Podman 4.3 mounts tmpfs before binds, so a tmpfs under a bind
    # mount ends up hidden beneath it and the path stays visible. Binds nest on both.)
    empty = layout.empty(target.runtime_dir)
    for mask in policy.masks:
        payload.host.add(mask.origin, Mounts=[bind(empty, mask.path, read_only=True)])
    return (*own, PlanFile(empty, "", mode=0o555, directory=True))


def _env(
    payload: Payload, policy: IR, target: Target, proxy_env: list[tuple[str, str, Origin]]
) -> None:
    entries: list[tuple[str, str, Origin]] = [(v.name, v.value, v.origin) for v in policy.env]
    # INVARIANT: a secret's value never enters a plan; the launcher fills the placeholder in
    entries += [(s.name, s.placeholder, s.origin) for s in policy.secrets]
    if target.transport.is_http:
        port = str(target.port)
        for name, value in (
            ("MCP_TRANSPORT", target.transport.value),
            ("MCP_PORT", port),
            ("FASTMCP_PORT", port),
            ("MCP_HOST", "127.0.0.1"),
        ):
            entries.append((name, value, TRANSPORT))
    entries += proxy_env
    payload.set(BASELINE, Env=[])
    for name, value, origin in sorted(entries, key=lambda e: e[0]):
        payload.add(origin, Env=[f"{name}={value}"])


__all__ = ["Quirks", "container_name", "server"]
