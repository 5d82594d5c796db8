"""The IR: one frozen, typed description of everything a server's container may do.

`build` produces it from rules; `lower` turns it into engine payloads; `explain`,
`diff` and `audit` read it. Every value carries the origin of the rule (or default) that
set it, and origins are excluded from equality, so two IRs compare by what they allow.
"""

from __future__ import annotations

import enum
import functools
import json
from typing import Generic, TypeVar, cast

from .addresses import AddressClass
from .digest import sha256_hex
from .host import HostPath
from .origin import Origin
from .record import field, fields, record
from .rules import IpProtocol, SecretProvider

T = TypeVar("T")


@record
class Value(Generic[T]):
    value: T
    origin: Origin = field(compare=False)


class NetworkMode(enum.Enum):
    NONE = "none"  # only loopback
    ALLOW_LIST = "allow-list"  # only loopback, egress through the gate
    OPEN = "open"  # a private bridge network, unrestricted egress


@record
class Mount:
    """A bind mount. `source` is where it leads on the host, every symlink resolved: what
    the engine is sent and what the mount is compared by. `host` is what the host said of
    the path as the rule wrote it when the policy was compiled (what it holds, who could
    change it, its identity), for `explain` and for the launch's second look; it is not
    part of what the mount reaches."""

    source: str
    target: str
    writable: bool
    origin: Origin = field(compare=False)
    host: HostPath = field(compare=False)

    @property
    def written(self) -> str:
        """The host path as the rule wrote it (normalised)."""
        return self.host.written


@record
class Tmpfs:
    target: str
    size: int  # bytes
    origin: Origin = field(compare=False)


@record
class Mask:
    """A path hidden by an explicit `deny`."""

    path: str
    origin: Origin = field(compare=False)


@record
class EgressRule:
    hosts: tuple[Value[str], ...]
    ports: tuple[Value[int], ...]
    protocols: tuple[Value[IpProtocol], ...]
    origin: Origin = field(compare=False)
    # the address classes each host pattern covers on the host compiled for, in the order
    # of `hosts` (a name covers none: what it resolves to is judged when it is dialled)
    covers: tuple[tuple[AddressClass, ...], ...] = ()
    # the classes this rule's `insecure` marker acknowledged: mcp-lok on the host dials
    # the host's own, link-local and metadata addresses only through a rule that did
    acknowledged: tuple[AddressClass, ...] = ()


@record
class Network:
    mode: Value[NetworkMode]
    rules: tuple[EgressRule, ...] = ()
    deny_hosts: tuple[Value[str], ...] = ()
    deny_ports: tuple[Value[int], ...] = ()


@record
class Capability:
    name: str
    reason: str | None
    origin: Origin = field(compare=False)


@record
class Limits:
    memory: Value[int]  # bytes; swap is never added
    cpus: Value[int]  # milli-CPUs
    pids: Value[int]
    nofile: Value[int]


@record
class EnvVar:
    name: str
    value: str
    origin: Origin = field(compare=False)


@record
class SecretRef:
    name: str
    provider: SecretProvider
    ref: str
    origin: Origin = field(compare=False)

    @property
    def placeholder(self) -> str:
        """What stands in the payload instead of the value (filled in at launch only)."""
        return f"${{secret:{self.provider.value}:{self.ref}}}"


class Insecurity(enum.Enum):
    """Dangerous things a policy may ask for, each only behind an `insecure` marker."""

    NETWORK_OPEN = "open network"
    PRIVILEGED = "privileged container"
    SENSITIVE_MOUNT = "sensitive mount"
    SPECIAL_MOUNT = "mount of a socket, device or engine folder"
    REPLACEABLE_MOUNT = "replaceable mount"
    DANGEROUS_CAPABILITY = "dangerous capability"
    SECCOMP_OFF = "seccomp disabled"
    PRIVILEGE_ESCALATION = "privilege escalation allowed"
    WRITABLE_ROOT = "writable root filesystem"
    ROOT_USER = "runs as root"
    PRIVILEGED_GROUP = "privileged group"
    SPECIAL_ADDRESSES = "egress to special addresses"
    SENSITIVE_SECRET = "a secret read from a sensitive file"  # noqa: S105 (a reason's words)


@record
class User:
    """Who the server runs as. `value` is what the create body's `User` carries: `uid:gid`
    numbers, or, until the image resolves them (a name, or a uid without a group), the
    policy's words (`identity.resolve` turns them into numbers before a launch). Only
    `value` is what the policy allows; the rest says where it came from and what it means
    on the host, and, like an origin, takes no part in equality."""

    value: str
    origin: Origin = field(compare=False)
    # the policy's words, when `value` was resolved from them against the image
    written: str | None = field(default=None, compare=False)
    # where in the image the numbers were found ("`app` and its group in the image's …")
    found: str | None = field(default=None, compare=False)
    # why the group is root by another name on the host ("may open `/run/docker.sock`")
    privileged: str | None = field(default=None, compare=False)
    # the `insecure` marker of the rule that named the user: a name may turn out to be root
    insecure: Origin | None = field(default=None, compare=False)


@record
class Acknowledged:
    """An insecure marker and what it allowed."""

    what: Insecurity
    subject: str
    origin: Origin = field(compare=False)


@record
class IR:
    """The compiled policy for one server."""

    compiled_from: str  # the SOURCE: the built-in name or file it was compiled from
    user: User
    mounts: tuple[Mount, ...]
    tmpfs: tuple[Tmpfs, ...]
    masks: tuple[Mask, ...]
    network: Network
    capabilities: tuple[Capability, ...]
    seccomp: Value[bool]
    seccomp_deny: tuple[Value[str], ...]
    no_new_privileges: Value[bool]
    privileged: Value[bool]
    read_only_rootfs: Value[bool]
    limits: Limits
    env: tuple[EnvVar, ...]
    secrets: tuple[SecretRef, ...]
    insecure: tuple[Acknowledged, ...]


def fingerprint(policy: IR) -> str:
    """A digest of what the policy allows (origins and the source name left out)."""
    return sha256_hex(canonical(_plain(policy)).encode())


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_LEAVES = frozenset({str, int, bool, float, type(None)})


def _plain(value: object) -> object:
    """`value` as JSON data. Never called with a leaf: most values are leaves, and testing
    them before the call saves most calls (the fingerprint is part of every compile)."""
    kind: type = type(value)
    if kind is tuple:
        return [v if type(v) in _LEAVES else _plain(v) for v in cast(tuple[object, ...], value)]
    if isinstance(value, enum.Enum):
        return value.value
    # the IR holds nothing else: any other type is a record, or `fields` raises
    plain = {}
    for name in _compared(kind):
        v = getattr(value, name)
        plain[name] = v if type(v) in _LEAVES else _plain(v)
    return plain


@functools.cache
def _compared(cls: type) -> tuple[str, ...]:
    """The fields that make up a value of `cls` (origins are not compared)."""
    return tuple(
        f.name
        for f in fields(cls)
        # only what the IR was compiled from (its file name) is left out
        if f.compare and not (f.name == "compiled_from" and cls is IR)
    )
