"""The mounts every engine adds to a container on its own, as `EngineMount`s: the kernel's
filesystems, the container's own `/dev`, the init binary, the kernel paths it masks or
makes read-only. Each engine's module (`docker.py`, `podman.py`) lists its own with these
builders; the launcher adds none, `audit` and the e2e checks compare a running container's
mount table with the plan's mounts, tmpfs and these.

Measured from `/proc/<pid>/mountinfo` of servers and gates on Docker 20.10 and Podman 4.3
(cgroup v1 here; v2 is one `cgroup2` mount). Paths the kernel lacks are not mounted, so the
masked and read-only ones are `optional`. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator

from .payloads import ContainerCreate
from .plan import EngineMount

# the engine's private /dev (a tmpfs), 64 MiB on both engines
DEV_SIZE = 64 * 1024 * 1024
NO_EXEC = ("nosuid", "nodev", "noexec")
READ_ONLY = ("ro", *NO_EXEC)
# the kernel files both engines hide behind /dev/null (the folders they hide differ)
MASKED_FILES = (
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/timer_list",
    "/proc/timer_stats",
)


def kernel(body: ContainerCreate, dev_options: tuple[str, ...]) -> Iterator[EngineMount]:
    """What both engines mount: the root, /proc, /dev, /dev/pts, /sys, the cgroup tree,
    /dev/mqueue and /dev/shm."""
    host = body["HostConfig"]
    free = host["Privileged"]
    yield EngineMount(
        "/",
        (),
        ("ro",) if host["ReadonlyRootfs"] else (),
        "the image's filesystem (the engine's storage driver), "
        + ("read-only (`ReadonlyRootfs`)" if host["ReadonlyRootfs"] else "writable"),
    )
    yield EngineMount(
        "/proc", ("proc",), NO_EXEC, "the processes of the container's own PID namespace"
    )
    yield EngineMount(
        "/dev",
        ("tmpfs",),
        dev_options,
        "the container's own /dev: only the engine's default device nodes",
        size=DEV_SIZE,
    )
    yield EngineMount(
        "/dev/pts", ("devpts",), ("nosuid", "noexec"), "the container's own pseudo-terminals"
    )
    yield EngineMount(
        "/sys",
        ("sysfs",),
        NO_EXEC if free else READ_ONLY,
        "the kernel's sysfs, " + ("writable (privileged)" if free else "read-only"),
    )
    yield EngineMount(
        "/sys/fs/cgroup",
        ("cgroup2", "tmpfs"),
        NO_EXEC,
        "the container's own cgroup: one read-only `cgroup2` mount on cgroup v2; on v1 a "
        "tmpfs holding one mount per controller",
    )
    yield EngineMount(
        "/sys/fs/cgroup",
        ("cgroup",),
        NO_EXEC if free else READ_ONLY,
        "on cgroup v1, each controller of the container's own cgroup, "
        + ("writable (privileged)" if free else "read-only"),
        beneath=True,
        optional=True,
    )
    yield EngineMount(
        "/dev/mqueue",
        ("mqueue",),
        NO_EXEC,
        "the POSIX message queues of the container's own IPC namespace",
    )
    yield EngineMount(
        "/dev/shm",
        ("tmpfs",),
        NO_EXEC,
        "private shared memory of the container's own IPC namespace (`ShmSize`), charged "
        "to the memory limit, not executable",
        size=host["ShmSize"],
    )


def init(body: ContainerCreate, path: str, name: str) -> Iterator[EngineMount]:
    if body["HostConfig"]["Init"]:
        yield EngineMount(path, (), ("ro",), f"the init process (`Init`): the host's {name}")


def hidden(
    body: ContainerCreate, folders: tuple[str, ...], files: tuple[str, ...]
) -> Iterator[EngineMount]:
    """The kernel paths the engine masks (none in a privileged container)."""
    if body["HostConfig"]["Privileged"]:
        return
    for path in folders:
        yield EngineMount(
            path, ("tmpfs",), ("ro",), "a kernel path hidden behind an empty read-only tmpfs",
            optional=True,
        )  # fmt: skip
    for path in files:
        # the container's own /dev/null, on its /dev tmpfs
        yield EngineMount(
            path, ("tmpfs",), (), "a kernel file hidden behind /dev/null", optional=True
        )


def read_only(body: ContainerCreate, paths: tuple[str, ...]) -> Iterator[EngineMount]:
    """The kernel paths the engine makes read-only (none in a privileged container)."""
    if body["HostConfig"]["Privileged"]:
        return
    for path in paths:
        yield EngineMount(path, ("proc",), READ_ONLY, "a kernel path made read-only", optional=True)


__all__ = ["DEV_SIZE", "MASKED_FILES", "hidden", "init", "kernel", "read_only"]
