"""Rules: the common statement form that every source produces.

A JSON profile, a policy file and a built-in all become a flat, ordered list of rules
(parents first when a policy `extends` another). `check` validates them and `build`
folds them into the IR. A rule knows its origin and, when its author acknowledged that it
is dangerous, the origin of that `insecure` marker. Origins never take part in equality.
"""

from __future__ import annotations

import enum

from .origin import Origin
from .record import field, record


class IpProtocol(enum.Enum):
    TCP = "tcp"
    UDP = "udp"


class LimitKind(enum.Enum):
    MEMORY = "memory"  # bytes
    CPUS = "cpus"  # milli-CPUs (1000 = one CPU), kept integral for determinism
    PIDS = "pids"
    NOFILE = "nofile"


class SecretProvider(enum.Enum):
    ENV = "env"  # a variable in mcp-lok's own environment
    FILE = "file"  # a file on the host


@record
class Item:
    """One element of a list-valued rule (a host, a port, a transport), with its origin."""

    value: str
    origin: Origin = field(compare=False)


@record(kw_only=True)
class Rule:
    origin: Origin = field(compare=False)
    # the `insecure` marker that acknowledges a dangerous rule, when its author wrote one
    insecure: Origin | None = field(default=None, compare=False)
    # the author's stated reason (`because "…"`), required for capabilities and insecure rules
    reason: str | None = field(default=None, compare=False)


@record(kw_only=True)
class Extends(Rule):
    """Inherit a built-in (`stdio`, `none`, `network`) or another policy file."""

    target: str


@record(kw_only=True)
class Read(Rule):
    """Bind-mount a host path read-only at the same path (or at `target`)."""

    path: str
    target: str | None = None


@record(kw_only=True)
class Write(Rule):
    """Bind-mount a host path read-write at the same path (or at `target`)."""

    path: str
    target: str | None = None


@record(kw_only=True)
class Tmpfs(Rule):
    target: str
    size: int | None = None  # bytes; None means the baseline's size


@record(kw_only=True)
class Allow(Rule):
    """Egress to `hosts` × `ports` × `transports`."""

    hosts: tuple[Item, ...]
    ports: tuple[Item, ...]
    protocols: tuple[Item, ...]


@record(kw_only=True)
class NetworkOpen(Rule):
    """Unrestricted egress (dangerous: needs `insecure`)."""


@record(kw_only=True)
class NetworkNone(Rule):
    """No network at all; resets what a parent allowed."""


@record(kw_only=True)
class DenyHost(Rule):
    host: Item


@record(kw_only=True)
class DenyPort(Rule):
    port: Item


@record(kw_only=True)
class DenyPath(Rule):
    """Hide a path inside the container (masked by an empty read-only tmpfs)."""

    path: str


@record(kw_only=True)
class User(Rule):
    spec: str  # "uid", "uid:gid" or a name


@record(kw_only=True)
class Limit(Rule):
    kind: LimitKind
    value: int


@record(kw_only=True)
class Env(Rule):
    name: str
    value: str


@record(kw_only=True)
class Secret(Rule):
    """An environment variable whose value is fetched at launch, never printed."""

    name: str
    provider: SecretProvider
    ref: str


@record(kw_only=True)
class Capability(Rule):
    name: str  # without the CAP_ prefix, upper case


@record(kw_only=True)
class SeccompDeny(Rule):
    syscalls: tuple[Item, ...]


@record(kw_only=True)
class SeccompOff(Rule):
    """Run without a seccomp profile (dangerous)."""


@record(kw_only=True)
class Privileged(Rule):
    """A privileged container (dangerous: it undoes everything else)."""


@record(kw_only=True)
class AllowPrivilegeEscalation(Rule):
    """Drop `no-new-privileges` (dangerous: setuid binaries work again)."""


@record(kw_only=True)
class WritableRoot(Rule):
    """A writable root filesystem (dangerous)."""
