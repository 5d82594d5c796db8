"""Where mcp-lok keeps its files on the host: the runtime folder's layout, in one place.

    <root>/                         0700: `/run/mcp-lok` as root, else under XDG_RUNTIME_DIR
      .launcher.lock                serialises name reservation between commands
      .image-accounts/<id>.json     an image's /etc/passwd and /etc/group, read once
      seccomp/<digest>.json         Podman's seccomp profiles, shared by content
      empty/                        the read-only folder bound over a masked path
      <name>/                       0700: one server
        state.json  proxy.log  plan.json  profile.json
        egress.json                 the host's own copy of the egress rules (0600)
        etc/server/ etc/gate/       the hosts, hostname and resolv.conf each container binds
        gate/                       0700, the gate's uid: shared with the gate only
          gate.json  ingress.sock  egress.sock  ready

Inside the gate, its folder is `GATE_MOUNT`. Lowering names these paths in plans, the
launcher makes and removes them, the proxy listens on them: all three ask a `Layout`.
Pure: it computes paths and touches nothing.
"""

from __future__ import annotations

from .record import record

RUNTIME_ROOT = "/run/mcp-lok"  # as root; the launcher picks another for other users
GATE_MOUNT = "/run/mcp-lok-gate"  # the gate's folder, inside the gate only
LOCK = ".launcher.lock"
IMAGE_ACCOUNTS = ".image-accounts"
SECCOMP = "seccomp"
EMPTY = "empty"
# entries of the root that are not servers: no server may take their names
RESERVED = frozenset({SECCOMP, EMPTY})


@record
class Layout:
    """The files of the server `name` under the runtime folder `root`."""

    root: str
    name: str

    @property
    def folder(self) -> str:
        return f"{self.root}/{self.name}"

    @property
    def state(self) -> str:
        return f"{self.folder}/state.json"

    @property
    def log(self) -> str:
        return f"{self.folder}/proxy.log"

    @property
    def record(self) -> str:
        """The launch record (the plan and its trace), for `audit`."""
        return f"{self.folder}/plan.json"

    @property
    def inline_profile(self) -> str:
        """An inline profile the MCP server's run tool was given, kept for `audit`."""
        return f"{self.folder}/profile.json"

    @property
    def egress_rules(self) -> str:
        """The host's own copy of the egress rules, outside the gate's folder."""
        return f"{self.folder}/egress.json"

    def etc(self, role: str) -> str:
        """The folder of one container's own /etc files ("server" or "gate")."""
        return f"{self.folder}/etc/{role}"

    @property
    def gate(self) -> str:
        """The host folder shared with the gate only: its config and its sockets."""
        return f"{self.folder}/gate"

    @property
    def gate_config(self) -> str:
        return f"{self.gate}/gate.json"

    @property
    def ingress_socket(self) -> str:
        return f"{self.gate}/ingress.sock"

    @property
    def egress_socket(self) -> str:
        return f"{self.gate}/egress.sock"

    @property
    def ready(self) -> str:
        """The marker the gate writes once its DNS, listeners and proxy serve."""
        return f"{self.gate}/ready"


def empty(root: str) -> str:
    """The empty, read-only folder bound over a masked path (shared by every server)."""
    return f"{root}/{EMPTY}"


def seccomp(root: str, digest: str) -> str:
    """Podman's copy of a seccomp profile, named by its content (shared by content)."""
    return f"{root}/{SECCOMP}/{digest}.json"


# inside the gate, the same files under its own mount
GATE_CONFIG = f"{GATE_MOUNT}/gate.json"
GATE_INGRESS = f"{GATE_MOUNT}/ingress.sock"
GATE_EGRESS = f"{GATE_MOUNT}/egress.sock"
GATE_READY = f"{GATE_MOUNT}/ready"

__all__ = [
    "EMPTY",
    "GATE_CONFIG",
    "GATE_EGRESS",
    "GATE_INGRESS",
    "GATE_MOUNT",
    "GATE_READY",
    "IMAGE_ACCOUNTS",
    "LOCK",
    "RESERVED",
    "RUNTIME_ROOT",
    "SECCOMP",
    "Layout",
    "empty",
    "seccomp",
]
