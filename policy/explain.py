"""Explain a plan: one row per security control, and an overall exposure score.

Reads like `systemd-analyze security`. Each row has a mark (✓ the control holds, ✗ an
exposure, ! a deliberate opening or an acknowledged `insecure`), the payload field it is
about, one sentence for a security reviewer, where the value came from, and a weight. What is
there, and in which state, is read by `controls`; this module judges it (the mark, the
weight and the sentence of each kind of finding, in `_TABLE`), scores and renders it.
Printing and exit codes are the CLI's; this module returns strings.

Scoring. A row's weight in [0, 1] estimates how much that control alone exposes the host,
or the data the server can reach, once the server is compromised. Rows compound like
independent chances of escape:

    score = 10 * (1 - product(1 - weight)), rounded to one decimal

so one wide-open door (`privileged`, 0.95) is enough for ~10, small openings add up, and
the score never passes 10. Levels: OK < 2.5 <= MEDIUM < 5 <= EXPOSED < 7.5 <= UNSAFE.
Every kind of row, with its mark, weight and sentence, is in `_TABLE`; added capabilities
weigh what `CAPABILITY_WEIGHTS` says, allowed destinations that cover special addresses
what `ADDRESS_WEIGHTS` says of the worst class they cover. The `stdio` baseline scores 1.0
on Docker, not 0, because a container is not a VM: the server shares the host's kernel and
the seccomp filter is a deny list, so calls it does not name reach that kernel (0.05);
without user-namespace remapping its uid is a host uid (0.03); `/tmp` and `/dev/shm` are
writable (0.01 each). The `network` built-in adds unrestricted egress (0.5) and scores
5.5; a privileged container scores 9.9.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from typing import Final

from .addresses import AddressClass
from .controls import Finding, collect
from .ir import IR
from .lower.plan import Engine, LaunchPlan, canonical_json
from .origin import Origin
from .record import record


class Mark(enum.Enum):
    OK = "✓"  # the control holds
    EXPOSED = "✗"  # an exposure
    NOTABLE = "!"  # a deliberate, bounded opening, or an acknowledged `insecure`


# kind             mark weight sentence (`{name}` filled in per row; indented lines continue it)
_TABLE: Final = """
insecure           !  0     INSECURE, acknowledged: {what} ({subject})
root               ✗  0.30  the server runs as root, `{user}`{found}; no supplementary groups are
                            added
uid                ✓  0.03  the server runs as uid {uid}, gid {gid}{found}, not root, and no
                            supplementary groups are added (still a host uid unless the engine
                            remaps users)
named-user         !  0.10  the server runs as `{user}`, which the image's /etc/passwd and
                            /etc/group turn into numbers at launch, judged then like numbers
                            written here; no supplementary groups are added
root-group         ✗  0.30  the server runs in root's group (gid {gid}): it may use every file
                            and device that group may
privileged-group   ✗  0.90  the server runs in the group {gid}, which {why} on the host: that
                            group is root by another name
privileged         ✗  0.95  the container is privileged: every host device, every capability, no
                            seccomp filter, no masked kernel paths
unprivileged       ✓  0     the container is not privileged: no host devices
privileged-caps    ✗  0.50  a privileged container gets every capability; `CapDrop` is ignored
default-caps       ✗  0.50  the engine's default capabilities are kept (`CapDrop` lacks `ALL`)
no-caps            ✓  0     all capabilities are dropped
capability         ✗  0.15  capability `{name}` is added back{because}
safe-capability    !  0.01  capability `{name}` is added back{because}
security-opt       !  0     `{option}` is passed to the engine
no-new-privileges  ✓  0     no process can gain privileges through setuid binaries or file
                            capabilities (no-new-privileges)
escalation         ✗  0.25  setuid binaries and file capabilities in the image can raise
                            privileges (no `no-new-privileges`)
privileged-seccomp ✗  0.45  the engine runs a privileged container without seccomp
engine-seccomp     ✗  0.10  no seccomp option: the engine's default profile applies
unconfined         ✗  0.45  no seccomp filter: every system call reaches the host's kernel
seccomp            ✓  0.05  a seccomp filter refuses {count} system calls and namespace-creating
                            `clone` flags; other calls reach the shared kernel
seccomp-deny       ✓  0     `{call}` is refused too
writable-root      ✗  0.15  the server can change the image's files (writable root filesystem)
read-only-root     ✓  0     the image's filesystem is read-only
podman-tmpfs       !  0.02  Podman's compat API mounts its own writable, executable tmpfs on
                            `/run`, `/tmp` and `/var/tmp` where the payload names none
host-namespace     ✗  0.90  the server shares the host's {names} namespace
own-namespaces     ✓  0     no host namespace is shared: PID, IPC, UTS, user and cgroup are the
                            container's own
host-network       ✗  0.90  the server shares the host's network stack
open-network       ✗  0.50  the server is on its own bridge network {names} with unrestricted
                            egress to any host and port
allow-list         ✓  0.02  the server has no network interface but loopback; egress goes only
                            through the gate, to the destinations below
gate-only          ✓  0     the server has no network interface but loopback, shared with the
                            gate; no egress
no-network         ✓  0     the server has no network interface but loopback
loopback           ✓  0     `{host}` is the server's own loopback, shared with the gate and
                            always reachable: this grants nothing outside
egress-host        !  0.03  egress only to `{host}` on {ports}, through the gate
egress-wildcard    !  0.06  egress only to names under `{suffix}` on {ports}, through the gate
egress-network     !  0.10  egress only to addresses in `{host}` on {ports}, through the gate
egress-private     !  0.15  egress to `{host}` on {ports}, through the gate, which covers
                            {classes}
egress-special     ✗  0.10  egress to `{host}` on {ports}, through the gate, which covers
                            {classes}{note}
deny               ✓  0     egress to {what} is refused, even where a rule allows it
deny-unenforced    !  0     {what} is listed as denied, but an open network enforces no deny rule
deny-moot          ✓  0     {what} is denied (there is no egress at all)
gate               ✓  0     the gate `{name}` (uid {uid}) {duties}
published          ✗  0.30  {ports} published on the host
unpublished        ✓  0     no port is published on the host
engine-socket      ✗  0.95  the engine socket {path} is reachable{where}: control of the engine is
                            control of the host
engine-folder      ✗  0.95  the container engine's folder {path} is reachable{where}: control of
                            the engine is control of the host
host-socket        ✗  0.95  the host's {what} {path} is reachable{where}: what listens on it or
                            drives it acts outside the container
holds-socket       ✗  0.80  {path} holds `{found}`, a {holds}, reachable from the
                            container{where}{nested}
unsearched-mount   ✗  0.80  {path} holds more than mcp-lok searches, so a socket or device in it
                            would be reachable from the container{where}{nested}
sensitive-write    ✗  0.80  the host's {path} is writable from the container{where}{nested}
sensitive-read     ✗  0.50  the host's {path} is readable from the container{where}{nested}
write-mount        ✗  0.10  {path} is writable from the container{where}{nested}
read-mount         !  0.02  {path} is readable from the container{where}{nested}
replaceable-mount  ✗  0.30  another user could make {path} lead elsewhere before the engine
                            binds it ({why})
mask               ✓  0     `{target}` is hidden behind an empty read-only directory
scratch            ✓  0.01  `{target}` is a private {size}scratch space{noexec}
own-files          ✓  0     {files} are mcp-lok's own read-only files, not the engine's
resolver-none      ✓  0     `/etc/resolv.conf` names no nameserver: the server resolves no name
resolver-gate      ✓  0     `/etc/resolv.conf` names only the gate's resolver, which answers allowed
                            names only
resolver-engine    !  0     `/etc/resolv.conf` names {engine}'s resolver on the server's
                            bridge{more}
shm                ✓  0.01  `/dev/shm` is a private {size} scratch space, not executable, charged to
                            the memory limit
engine-mounts      ✓  0     the engine adds up to {count} mounts of its own, each named in the plan
                            (`engine_mounts`): the image's root, `/proc`, `/sys` and the cgroup
                            tree, a private `/dev` with `/dev/pts`, `/dev/mqueue` and `/dev/shm`,
                            the init binary, and {kernel} kernel paths hidden or made read-only
memory             ✓  0     memory is capped at {size}
no-memory-limit    ✗  0.05  memory is not limited
swap               ✓  0     no swap beyond the memory limit
more-swap          ✗  0.02  swap is not capped at the memory limit (`MemorySwap` is {swap})
cpus               ✓  0     CPU time is capped at {cpus}
no-cpu-limit       ✗  0.02  CPU time is not limited
pids               ✓  0     at most {pids} processes and threads
no-pids-limit      ✗  0.05  the number of processes is not limited
nofile             ✓  0     at most {n} open files per process
nproc              ✓  0     at most {n} processes for the server's uid
ulimit             ✓  0     `{name}` is limited to {n}
env                ✓  0     `{name}` is set (value not shown)
own-env            ✓  0     mcp-lok sets {names} itself
secret             !  0     `{name}` is a secret, filled in at launch from {source}; no value is
                            in the plan
init               ✓  0     an init process reaps zombies and forwards signals
no-init            !  0     no init process: zombies are not reaped
"""


def _parse_table(text: str) -> dict[str, tuple[Mark, float, str]]:
    rows: dict[str, tuple[Mark, float, str]] = {}
    kind = ""
    for line in text.strip("\n").splitlines():
        if line.startswith(" "):
            mark, weight, sentence = rows[kind]
            rows[kind] = (mark, weight, f"{sentence} {line.strip()}")
        else:
            kind, mark_text, weight_text, sentence = line.split(maxsplit=3)
            rows[kind] = (Mark(mark_text), float(weight_text), sentence)
    return rows


ROWS: Final = _parse_table(_TABLE)
WEIGHTS: Final = {kind: weight for kind, (_, weight, _) in ROWS.items()}
# An added capability weighs what it gives a process; unlisted ones weigh what `capability`
# does, and `NET_BIND_SERVICE` (`safe-capability`) what that kind does.
CAPABILITY_WEIGHTS: Final[Mapping[str, float]] = {
    **dict.fromkeys(("SYS_MODULE",), 0.9),
    **dict.fromkeys(("SYS_RAWIO", "SYS_ADMIN"), 0.8),
    **dict.fromkeys(("DAC_READ_SEARCH",), 0.6),
    **dict.fromkeys(("BPF", "MAC_ADMIN", "MAC_OVERRIDE", "SYS_BOOT"), 0.5),
    **dict.fromkeys(("SYS_PTRACE",), 0.4),
    **dict.fromkeys(("DAC_OVERRIDE", "NET_ADMIN", "PERFMON", "SETFCAP", "SYS_TIME"), 0.3),
}
# An allowed destination that covers special addresses weighs what the worst class it
# covers does (and at least what `egress-special` does): the host's own addresses and the
# metadata service are ways to the host and to the cloud's credentials, a catch-all range
# is most of the Internet on the allowed ports (an open network weighs 0.5 too).
ADDRESS_WEIGHTS: Final[Mapping[AddressClass, float]] = {
    AddressClass.CATCH_ALL: 0.5,
    AddressClass.HOST: 0.5,
    AddressClass.METADATA: 0.5,
    AddressClass.LINK_LOCAL: 0.4,
    AddressClass.PRIVATE: 0.15,
    AddressClass.LOOPBACK: 0.02,  # never dialled on the host: the server's own
    AddressClass.UNSPECIFIED: 0.02,  # never dialled on the host
}
# kinds that are risks even when not marked ✗
_RISKY: Final = frozenset({"insecure", "safe-capability", "deny-unenforced"})


@record
class Control:
    kind: str  # a key of `ROWS`
    mark: Mark
    field: str  # the payload field, in the trace's notation
    description: str
    origin: Origin
    weight: float = 0.0

    @property
    def ok(self) -> bool:
        return self.mark is Mark.OK

    @property
    def risk(self) -> bool:
        return self.mark is Mark.EXPOSED or self.kind in _RISKY

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "mark": self.mark.value,
            "field": self.field,
            "description": self.description,
            "origin": self.origin.render(),
            "weight": self.weight,
        }


LEVELS: Final = ((2.5, "OK"), (5.0, "MEDIUM"), (7.5, "EXPOSED"))


def exposure(weights: Iterable[float]) -> float:
    """The exposure score of rows with these weights (see the module docstring), for a
    plan here and for a running container in `audit` alike."""
    # sorted, so the float product does not depend on the order of the rows
    clamped = sorted(min(max(w, 0.0), 1.0) for w in weights)
    return round(10.0 * (1.0 - math.prod(1.0 - w for w in clamped)), 1)


def level(score: float) -> str:
    """The word for a score: OK, MEDIUM, EXPOSED or UNSAFE."""
    return next((word for bound, word in LEVELS if score < bound), "UNSAFE")


_COLORS: Final = {"✓": "32", "✗": "31", "!": "33"}
_LEVEL_COLORS: Final = {"OK": "32", "MEDIUM": "33", "EXPOSED": "31", "UNSAFE": "1;31"}


@record
class Report:
    source: str
    engine: Engine
    controls: tuple[Control, ...]

    @property
    def score(self) -> float:
        return exposure(c.weight for c in self.controls)

    @property
    def level(self) -> str:
        return level(self.score)

    @property
    def risks(self) -> tuple[str, ...]:
        return tuple(f"{c.description} ({c.origin.render()})" for c in self.controls if c.risk)

    def to_json(self) -> dict[str, object]:
        controls = [c.to_json() for c in self.controls]
        return {
            "source": self.source,
            "engine": self.engine.value,
            "score": self.score,
            "level": self.level,
            "controls": controls,
            "risks": list(self.risks),
        }


def explain(policy: IR, plan: LaunchPlan) -> Report:
    """The controls of `plan`, which must be what `lower` made of `policy`."""
    controls = tuple(_judge(finding) for finding in collect(policy, plan))
    return Report(policy.compiled_from, plan.engine, controls)


def _judge(finding: Finding) -> Control:
    mark, weight, sentence = ROWS[finding.kind]
    if finding.kind == "capability":
        weight = CAPABILITY_WEIGHTS.get(str(finding.words["name"]), weight)
    elif finding.kind == "egress-special":
        covered: tuple[AddressClass, ...] = finding.words["covered"]  # type: ignore[assignment]
        weight = max(weight, *(ADDRESS_WEIGHTS[c] for c in covered))
    description = sentence.format(**finding.words)
    return Control(finding.kind, mark, finding.field, description, finding.origin, weight)


def exceeds(report: Report, threshold: float) -> bool:
    return report.score > threshold


def render_json(report: Report) -> str:
    """Deterministic JSON (sorted keys), ending with a newline."""
    return canonical_json(report.to_json(), indent=2) + "\n"


def render_human(report: Report, color: bool = False) -> str:
    """Aligned rows, then the overall exposure; ANSI colours on request."""

    def paint(text: str) -> str:
        code = _COLORS.get(text) or _LEVEL_COLORS[text]
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    rows = [("", "FIELD", "EXPOSURE", "ORIGIN", "DESCRIPTION")]
    for c in report.controls:
        weight = f"{c.weight:.2f}" if c.weight else ""
        rows.append((c.mark.value, c.field, weight, c.origin.render(), c.description))
    field_w, origin_w = (max(len(row[k]) for row in rows) for k in (1, 3))
    lines = [f"Security controls of {report.source} on {report.engine.value}", ""]
    lines += [
        f"{paint(m) if m else ' '} {f:<{field_w}}  {w:>8}  {o:<{origin_w}}  {d}"
        for m, f, w, o, d in rows
    ]
    acknowledged = sum(c.kind == "insecure" for c in report.controls)
    if acknowledged:
        noun = "setting is" if acknowledged == 1 else "settings are"
        lines += ["", f"{paint('!')} {acknowledged} insecure {noun} acknowledged: see INSECURE"]
    score = f"{report.score:.1f} {paint(report.level)}"
    lines += ["", f"→ Overall exposure level for {report.source}: {score}"]
    return "\n".join(line.rstrip() for line in lines) + "\n"


__all__ = [
    "ADDRESS_WEIGHTS",
    "CAPABILITY_WEIGHTS",
    "ROWS",
    "WEIGHTS",
    "Control",
    "Finding",
    "Mark",
    "Report",
    "exceeds",
    "explain",
    "exposure",
    "level",
    "render_human",
    "render_json",
]
