"""Lowering of the server's own container: the hardened baseline, then what the policy
grants, as one `POST /containers/create` body whose every field has an origin.

Engine differences come in as `Quirks`, made from the engine's module; the gate's body is
built in `gate.py`, the files mcp-lok binds in place of the engine's in `files.py`. Pure:
no clock, no host lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .. import baseline, layout
from ..ir import IR, NetworkMode
from ..origin import BASELINE, Argument, Default, Origin
from ..record import record
from . import files
from .payloads import ContainerCreate
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


def gate_name(target: Target) -> str:
    return f"mcp-lok-{target.name}-gate"


def network_name(target: Target) -> str:
    return f"mcp-lok-{target.name}"


def needs_gate(policy: IR, target: Target) -> bool:
    return policy.network.mode.value is NetworkMode.ALLOW_LIST or target.transport.is_http


def labels(payload: Payload, target: Target, role: str) -> None:
    payload.put("Labels", "mcp-lok", "true", BASELINE)
    payload.put("Labels", "mcp-lok-name", target.name, NAME)
    payload.put("Labels", LAUNCH_LABEL, target.launch, LAUNCH)
    payload.put("Labels", "mcp-lok-role", role, BASELINE)
    payload.put("Labels", "mcp-lok-transport", target.transport.value, TRANSPORT)


def hardening(payload: Payload, policy: IR | None) -> None:
    """What every container mcp-lok creates gets, the gate included."""
    # INVARIANT: every capability is dropped; only `CapAdd` (from rules) adds any back.
    payload.set("HostConfig.CapDrop", ["ALL"], BASELINE)
    payload.set("HostConfig.Init", True, BASELINE)
    # INVARIANT: no host IPC, PID, UTS or user namespace is ever shared.
    payload.set("HostConfig.IpcMode", "private", BASELINE)
    payload.set("HostConfig.RestartPolicy", {"Name": "no"}, BASELINE)
    payload.set(
        "HostConfig.Privileged",
        policy.privileged.value if policy else False,
        policy.privileged.origin if policy else BASELINE,
    )
    payload.set(
        "HostConfig.ReadonlyRootfs",
        policy.read_only_rootfs.value if policy else True,
        policy.read_only_rootfs.origin if policy else BASELINE,
    )
    # INVARIANT: /dev/shm is sized by the plan, never the engine's unnamed default
    payload.set("HostConfig.ShmSize", baseline.SHM_SIZE, BASELINE)


def limits(
    payload: Payload,
    memory: int,
    cpus_milli: int,
    pids: int,
    nofile: int,
    origins: tuple[Origin, Origin, Origin, Origin],
) -> None:
    payload.set("HostConfig.Memory", memory, origins[0])
    # INVARIANT: MemorySwap equals Memory, so the limit cannot be dodged through swap.
    payload.set("HostConfig.MemorySwap", memory, origins[0])
    payload.set("HostConfig.NanoCpus", cpus_milli * 1_000_000, origins[1])
    payload.set("HostConfig.PidsLimit", pids, origins[2])
    payload.add(
        "HostConfig.Ulimits", {"Name": "nofile", "Soft": nofile, "Hard": nofile}, origins[3]
    )
    payload.add(
        "HostConfig.Ulimits",
        {"Name": "nproc", "Soft": baseline.NPROC, "Hard": baseline.NPROC},
        BASELINE,
    )


def server(policy: IR, target: Target, quirks: Quirks) -> tuple[Payload, tuple[PlanFile, ...]]:
    payload = Payload()
    payload.set("Image", target.image, IMAGE)
    if target.args:
        payload.set("Cmd", list(target.args), ARGS)
    # INVARIANT: a launched server's `User` is `uid:gid` numbers (the launcher resolves a name
    # or a lone uid against the image first, `identity.resolve`, and refuses to create
    # anything otherwise): with an explicit group neither engine adds the groups the image's
    # /etc/group lists the user in (measured on Docker 20.10 and Podman 4.3: `User: "65534"`
    # on an image listing `docker:x:105:nobody` runs in the groups 105 and 65534,
    # `User: "65534:65534"` in 65534 only), and a name cannot turn out to be root unjudged.
    payload.set("User", policy.user.value, policy.user.origin)
    labels(payload, target, "server")
    if target.transport.is_http:
        payload.put("Labels", "mcp-lok-port", str(target.port), Argument("--target-port"))
    _stdio(payload, target)
    hardening(payload, policy)
    payload.set("HostConfig.CapAdd", [], BASELINE)
    for cap in policy.capabilities:
        payload.add("HostConfig.CapAdd", cap.name, cap.origin)
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
    _network_mode(payload, policy, target)
    _env(payload, policy, target)
    return payload, written


def _stdio(payload: Payload, target: Target) -> None:
    stdio = target.transport is Transport.STDIO
    # a stdio server talks through the engine's attach stream: stdin open, no TTY (a TTY
    # would mangle JSON-RPC framing); an HTTP server needs no stdin at all
    for field in ("AttachStdin", "OpenStdin", "AttachStdout", "AttachStderr"):
        payload.set(field, stdio, TRANSPORT)
    payload.set("StdinOnce", False, TRANSPORT)
    payload.set("Tty", False, BASELINE)


def _security_opt(
    payload: Payload, policy: IR, target: Target, seccomp: SeccompOption
) -> tuple[PlanFile, ...]:
    payload.set("HostConfig.SecurityOpt", [], BASELINE)
    if policy.no_new_privileges.value:
        payload.add(
            "HostConfig.SecurityOpt", "no-new-privileges:true", policy.no_new_privileges.origin
        )
    if not policy.seccomp.value:
        payload.add("HostConfig.SecurityOpt", "seccomp=unconfined", policy.seccomp.origin)
        return ()
    option, files = seccomp(policy, target)
    origin = policy.seccomp_deny[-1].origin if policy.seccomp_deny else policy.seccomp.origin
    payload.add("HostConfig.SecurityOpt", option, origin)
    return files


def _filesystem(
    payload: Payload, policy: IR, target: Target, quirks: Quirks
) -> tuple[PlanFile, ...]:
    payload.set("HostConfig.Mounts", [], BASELINE)
    for mount in policy.mounts:
        payload.mount(bind(mount.source, mount.target, read_only=not mount.writable), mount.origin)
    own = files.place(
        payload,
        policy,
        target,
        "server",
        open_resolver=quirks.open_resolver,
        extra=quirks.own_files,
    )
    payload.set("HostConfig.Tmpfs", {}, BASELINE)
    for tmpfs in policy.tmpfs:
        payload.put(
            "HostConfig.Tmpfs",
            tmpfs.target,
            f"{baseline.TMPFS_OPTIONS},size={tmpfs.size}",
            tmpfs.origin,
        )
    if not policy.masks:
        return own
    # A mask is an empty, read-only directory of mcp-lok's bound over the path. (A tmpfs
    # would be simpler, but Podman 4.3 mounts tmpfs before binds, so a tmpfs under a bind
    # mount ends up hidden beneath it and the path stays visible. Binds nest on both.)
    empty = layout.empty(target.runtime_dir)
    for mask in policy.masks:
        payload.mount(bind(empty, mask.path, read_only=True), mask.origin)
    return (*own, PlanFile(empty, "", mode=0o555, directory=True))


def _network_mode(payload: Payload, policy: IR, target: Target) -> None:
    mode = policy.network.mode
    if needs_gate(policy, target):
        # the server joins the gate's namespace: it has only `lo`, and the gate is its door
        value = f"container:{gate_name(target)}"
    elif mode.value is NetworkMode.OPEN:
        value = network_name(target)
    else:
        value = "none"
    payload.set("HostConfig.NetworkMode", value, mode.origin)


def _env(payload: Payload, policy: IR, target: Target) -> None:
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
    if policy.network.mode.value is NetworkMode.ALLOW_LIST:
        proxy = f"http://{baseline.GATE_PROXY}"
        no_proxy = "localhost,127.0.0.1,::1"
        for name, value in (
            ("HTTP_PROXY", proxy),
            ("HTTPS_PROXY", proxy),
            ("NO_PROXY", no_proxy),
            ("http_proxy", proxy),
            ("https_proxy", proxy),
            ("no_proxy", no_proxy),
            ("NODE_USE_ENV_PROXY", "1"),
        ):
            entries.append((name, value, policy.network.mode.origin))
    payload.set("Env", [], BASELINE)
    for name, value, origin in sorted(entries, key=lambda e: e[0]):
        payload.add("Env", f"{name}={value}", origin)


__all__ = ["Quirks", "container_name", "gate_name", "needs_gate", "server"]
