"""The hardened baseline: what every container gets unless a rule says otherwise.

Each value here is a named default, so `explain` can say "default (baseline)" for it.
The table in docs/baseline.md says why each value is what it is.
"""

from __future__ import annotations

from .origin import Default

BASELINE = Default("baseline")

USER = "65534:65534"  # nobody:nogroup — numeric, so no passwd lookup in the image is needed
GATE_USER = "65533:65533"  # a different non-root uid than any server's default
MEMORY = 512 * 1024 * 1024
CPUS_MILLI = 1000
PIDS = 128
NOFILE = 1024
# INVARIANT: nproc is always set. Podman's defaults exceed the hard limits of some hosts;
# it counts every process of the uid on the host, so it stays generous: pids caps the container.
NPROC = 1024
TMP_SIZE = 64 * 1024 * 1024
TMP_TARGET = "/tmp"
TMPFS_OPTIONS = "rw,noexec,nosuid,nodev"
# `/dev/shm`, set explicitly (both engines default to 64 MiB, and name it nowhere): enough for
# POSIX semaphores, Python's multiprocessing locks and queues and a browser's small shared
# buffers; it is charged to the memory limit, and both engines mount it nosuid,nodev,noexec
SHM_SIZE = 16 * 1024 * 1024
# Files an engine writes into every container on its own; mcp-lok binds its own in their
# place (`lower/files.py`), so a policy may not mount, hide or tmpfs them. `/dev/shm` is
# mcp-lok's too: its size is the payload's `ShmSize`. Each with what mcp-lok puts there.
OWN_PATHS = {
    "/etc/hosts": "it holds only the loopback names",
    "/etc/hostname": "it holds the server's name",
    "/etc/resolv.conf": "it names the only resolver the network mode allows",
    "/run/.containerenv": "it is empty, in place of Podman's",
    "/dev/shm": "its size is the plan's `ShmSize`, charged to the memory limit",
}
# the kernel's own filesystems inside a container: no rule mounts, hides or replaces
# anything at or below them (a bind over /proc or /sys is how runtime escapes begin)
KERNEL_TARGETS = ("/proc", "/sys", "/dev")
HOME = "/tmp"  # servers that write to $HOME (caches, configs) get the scratch space

GATE_MEMORY = 64 * 1024 * 1024
GATE_CPUS_MILLI = 500
GATE_PIDS = 64
GATE_DNS = "127.0.0.53"
GATE_PROXY = "127.0.0.1:3128"
DEFAULT_TARGET_PORT = 8080
# a stdio server's proxy: client sessions open at once (per-session mode: servers), and the
# seconds an idle one lives; `--max-sessions` and `--session-idle-timeout` default to these
MAX_SESSIONS = 128
SESSION_IDLE_TIMEOUT = 3600


# The host's own system: its configuration, programs, libraries and root's home.
SYSTEM_TREES = ("/etc", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/root")
# Host paths whose bind mount hands the server the host (CIS 5.6, 5.32).
SENSITIVE_EXACT = frozenset({"/", *SYSTEM_TREES, "/var", "/run", "/var/run", "/home"})
# the last ones hold engine and session sockets (`/run/user/1000/podman/podman.sock`)
SENSITIVE_TREES = (
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/run/user",
    "/var/run/user",
    "/run/docker",
    "/var/run/docker",
    "/run/podman",
    "/var/run/podman",
    "/run/containerd",
    "/var/run/containerd",
    "/var/lib/docker",
    "/var/lib/containers",
)
# Trees a server must never write to, even below the top (cron, sudoers, binaries, keys).
WRITE_PROTECTED_TREES = (
    *SYSTEM_TREES,
    "/boot",
    "/var/lib/docker",
    "/var/lib/containers",
)
ENGINE_SOCKETS = ("docker.sock", "podman.sock", "containerd.sock", "crio.sock")
# The runtime and storage folders of Docker, Podman, containerd and CRI-O, system-wide and
# per user: whoever reaches into them reaches the engine (its sockets, its containers'
# filesystems). Matched on resolved paths by `is_engine_folder`.
ENGINE_FOLDERS = (
    "/run/docker",
    "/run/podman",
    "/run/containerd",
    "/run/containers",
    "/run/libpod",
    "/run/crio",
    "/run/runc",
    "/var/lib/docker",
    "/var/lib/containers",
    "/var/lib/containerd",
    "/var/lib/crio",
    "/etc/docker",
    "/etc/containers",
)
# below a per-user runtime folder (`/run/user/1000/podman`) or a home (`~/.local/share/…`)
USER_ENGINE_FOLDERS = ("podman", "docker", "containerd", "containers", "libpod", "crio")
_USER_RUNTIME = "/run/user/"
_USER_DATA = "/.local/share/"


def is_engine_folder(path: str) -> bool:
    """Whether the resolved `path` is an engine's folder, or lies inside one."""
    if any(path == tree or path.startswith(tree + "/") for tree in ENGINE_FOLDERS):
        return True
    for marker in (_USER_RUNTIME, _USER_DATA):
        at = path.find(marker)
        if at < 0 or (marker == _USER_RUNTIME and at != 0):
            continue
        rest = path[at + len(marker) :].split("/")
        # /run/user/<uid>/<engine>… or …/.local/share/<engine>…
        name = rest[1] if marker == _USER_RUNTIME and len(rest) > 1 else rest[0]
        if marker == _USER_RUNTIME and len(rest) > 1 and rest[1] == "docker.sock":
            return True
        if name in USER_ENGINE_FOLDERS:
            return True
    return False


# Where a host keeps credentials: password hashes, host and user keys, cloud and registry
# tokens. Reading them hands the server what they unlock, so they are sensitive to read as
# well as to write. The system's (matched on resolved paths), and any path through a folder
# or file of these names (a user's, wherever their home is).
CREDENTIAL_PATHS = (
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
    "/root",
)
CREDENTIAL_NAMES = frozenset(
    {
        ".ssh",
        ".gnupg",
        ".aws",
        ".azure",
        ".kube",
        ".docker",
        ".netrc",
        ".git-credentials",
        ".pgpass",
        ".password-store",
        ".vault-token",
        ".npmrc",
        ".pypirc",
        "gcloud",
    }
)


def is_credential(path: str) -> bool:
    """Whether the resolved `path` is a store of credentials, or lies inside one."""
    if any(path == tree or path.startswith(tree + "/") for tree in CREDENTIAL_PATHS):
        return True
    return any(part in CREDENTIAL_NAMES for part in path.split("/"))


def is_engine_socket(path: str) -> bool:
    """Whether the resolved `path` names an engine's socket (by name, or by its folder)."""
    return path.rsplit("/", 1)[-1] in ENGINE_SOCKETS or is_engine_folder(path)


# Environment variables mcp-lok sets itself; a policy may not override them.
RESERVED_ENV = frozenset(
    {
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "NODE_USE_ENV_PROXY",
        "MCP_TRANSPORT",
        "MCP_PORT",
        "FASTMCP_PORT",
        "MCP_HOST",
    }
)

# Pod Security "restricted" lets a pod add back only this one.
SAFE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
