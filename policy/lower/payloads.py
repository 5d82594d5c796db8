"""The Engine API bodies a plan holds, as `TypedDict`s with the API's own field names:
`POST /containers/create` and `POST /networks/create`.

This module, unlike the rest of the package, does not use `from __future__ import
annotations`, and must not: with it every annotation is a string, and `TypedDict` turns
each one into a `typing.ForwardRef`, which compiles it — about 40 us a key, over a
millisecond of every cold `mcp-lok policy compile` for these classes. Evaluated
annotations cost a tenth of that. Every name used here must therefore exist when its
class is defined (a body refers only to the bodies above it).
"""

from typing import TypedDict


class Ulimit(TypedDict):
    Name: str
    Soft: int
    Hard: int


class BindOptions(TypedDict):
    Propagation: str
    NonRecursive: bool  # mounts beneath the source on the host are not carried in


class MountSpec(TypedDict):
    Type: str
    Source: str
    Target: str
    ReadOnly: bool
    BindOptions: BindOptions


class RestartPolicy(TypedDict):
    Name: str


# The Engine API takes every field of these two as optional, and so do their types
# (`total=False`): `Payload` fills them by keyword, a few fields at a time. Which fields
# every plan sets is pinned by tests/unit/policy/test_lower.py and the snapshots.


class HostConfig(TypedDict, total=False):
    CapAdd: list[str]
    CapDrop: list[str]
    Init: bool
    IpcMode: str
    Memory: int
    MemorySwap: int
    Mounts: list[MountSpec]
    NanoCpus: int
    NetworkMode: str
    PidsLimit: int
    Privileged: bool
    ReadonlyRootfs: bool
    RestartPolicy: RestartPolicy
    SecurityOpt: list[str]
    ShmSize: int
    Tmpfs: dict[str, str]
    Ulimits: list[Ulimit]
    Sysctls: dict[str, str]


class ContainerConfig(TypedDict, total=False):
    """The container's own fields of `POST /containers/create` (the API's `Config`)."""

    Image: str
    Cmd: list[str]
    User: str
    Env: list[str]
    Labels: dict[str, str]
    AttachStdin: bool
    AttachStdout: bool
    AttachStderr: bool
    OpenStdin: bool
    StdinOnce: bool
    Tty: bool


class ContainerCreate(ContainerConfig, total=False):
    """The body of `POST /containers/create`."""

    HostConfig: HostConfig


class NetworkCreate(TypedDict):
    """The body of `POST /networks/create`."""

    Name: str
    Driver: str
    Internal: bool
    Labels: dict[str, str]
