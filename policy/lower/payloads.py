"""The Engine API bodies a plan holds, as `TypedDict`s with the API's own field names:
`POST /containers/create` and `POST /networks/create`.

This module, unlike the rest of the package, does not use `from __future__ import
annotations`, and must not: with it every annotation is a string, and `TypedDict` turns
each one into a `typing.ForwardRef`, which compiles it — about 40 us a key, over a
millisecond of every cold `mcp-lok policy compile` for these classes. Evaluated
annotations cost a tenth of that. Every name used here must therefore exist when its
class is defined (a body refers only to the bodies above it).
"""

from typing import NotRequired, TypedDict


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


class HostConfig(TypedDict):
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
    RestartPolicy: dict[str, str]
    SecurityOpt: list[str]
    ShmSize: int
    Tmpfs: dict[str, str]
    Ulimits: list[Ulimit]
    Sysctls: NotRequired[dict[str, str]]


class ContainerCreate(TypedDict):
    """The body of `POST /containers/create`."""

    Image: str
    Cmd: NotRequired[list[str]]
    User: str
    Env: list[str]
    Labels: dict[str, str]
    AttachStdin: bool
    AttachStdout: bool
    AttachStderr: bool
    OpenStdin: bool
    StdinOnce: bool
    Tty: bool
    HostConfig: HostConfig


class NetworkCreate(TypedDict):
    """The body of `POST /networks/create`."""

    Name: str
    Driver: str
    Internal: bool
    Labels: dict[str, str]
