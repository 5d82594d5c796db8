"""The one rule that makes the policy language safe to use: a dangerous rule needs an
`insecure` marker (and, in a policy file, a reason). What makes a rule dangerous is judged
by where it leads on the host (`paths.py`, `identity.py`, `addresses.py`), never by its
spelling alone; `explain` and the IR's `insecure` list say it in the same words.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import addresses, baseline, identity, rules
from .diagnostics import Code, Collector
from .host import FixedHost, Host
from .ir import Insecurity
from .origin import Pointer, Span
from .paths import askable, mounting, normal, path_dangers, where

# a host on which every path leads to itself (for tests of the passes on their own)
LITERAL = FixedHost()


def check_profile_markers(
    ruleset: Sequence[rules.Rule], out: Collector, host: Host, reached: dict[int, addresses.Reach]
) -> None:
    """A profile's `"insecure": true` covers the whole file; warn when nothing needed it."""
    markers = {r.insecure for r in ruleset if isinstance(r.insecure, Pointer)}
    used = {
        r.insecure
        for i, r in enumerate(ruleset)
        if isinstance(r.insecure, Pointer) and dangers(r, host, reached.get(i))
    }
    for marker in sorted(markers - used, key=lambda m: (m.file, m.pointer)):
        out.warn(
            Code.INSECURE_UNUSED,
            "nothing in this profile is dangerous; `insecure` has no effect",
            marker,
            help='remove `"insecure": true` so that real exceptions stand out',
        )


def dangers(
    rule: rules.Rule, host: Host = LITERAL, reached: addresses.Reach | None = None
) -> list[tuple[Insecurity, str]]:
    """What makes a rule dangerous on `host` (empty when it is not). `reached`: what an
    `allow` rule's patterns cover among the policy's rules (`addresses.reach`); without
    it, the rule is judged alone."""
    match rule:
        case rules.Allow():
            covered = reached if reached is not None else addresses.reach([rule], host)[0]
            subject = addresses.danger(rule, covered)
            if subject:
                return [(Insecurity.SPECIAL_ADDRESSES, subject)]
        case rules.Secret(provider=rules.SecretProvider.FILE, ref=ref) if askable(ref):
            # INVARIANT: a secret's file is judged like a `read` of it: its content is
            # handed to the server, so a store of credentials or a socket needs `insecure`
            secret_file = host.path(normal(ref))
            judged = path_dangers(secret_file, writable=False)
            return [(Insecurity.SENSITIVE_SECRET, words) for _, words in judged[:1]]
        case rules.Read() | rules.Write():
            # INVARIANT: a host path is judged by where it leads on the host, every symlink
            # resolved, and by what it holds (`paths.py`), never by its spelling alone
            return path_dangers(where(rule, host), writable=isinstance(rule, rules.Write))
        case rules.NetworkOpen():
            return [(Insecurity.NETWORK_OPEN, "egress to any host")]
        case rules.Privileged():
            return [(Insecurity.PRIVILEGED, "all devices and capabilities")]
        case rules.SeccompOff():
            return [(Insecurity.SECCOMP_OFF, "no system call filter")]
        case rules.AllowPrivilegeEscalation():
            return [(Insecurity.PRIVILEGE_ESCALATION, "setuid binaries work")]
        case rules.WritableRoot():
            return [(Insecurity.WRITABLE_ROOT, "the image can be modified")]
        case rules.Capability(name=name) if name not in baseline.SAFE_CAPABILITIES:
            return [(Insecurity.DANGEROUS_CAPABILITY, name)]
        case rules.User(spec=spec):
            # uid 0 and gid 0 however written (`00`, `root`, `0:0`, `65534:root`), and a
            # group that may open an engine socket or a device node on `host`; a name the
            # image resolves is judged the same way at launch (`identity.resolve`)
            uid, gid = identity.spelled(spec)
            found = identity.judge(uid, [] if gid is None else [gid], host.privileged_groups())
            return [(p.what, spec if p.what is Insecurity.ROOT_USER else p.words()) for p in found]
    return []


def danger_words(what: Insecurity, subject: str) -> str:
    """A dangerous rule in words: "mounting `/tmp/x`, which leads to `/run/docker.sock`, a
    Unix socket", "an open network"."""
    match what:
        case Insecurity.SENSITIVE_MOUNT | Insecurity.SPECIAL_MOUNT | Insecurity.REPLACEABLE_MOUNT:
            return mounting(subject)
        case Insecurity.DANGEROUS_CAPABILITY:
            return f"adding the capability `{subject}`"
        case Insecurity.ROOT_USER:
            return f"running as `{subject}`"
        case Insecurity.PRIVILEGED_GROUP:
            return f"running in a privileged group ({subject})"
        case Insecurity.SENSITIVE_SECRET:
            return f"reading the secret file {subject}" + ("," if ", " in subject else "")
        case Insecurity.SPECIAL_ADDRESSES:
            return f"allowing {subject},"
    return f"{_ARTICLE.get(what, 'a')} {what.value} ({subject})"


_ARTICLE = {Insecurity.NETWORK_OPEN: "an", Insecurity.SECCOMP_OFF: "running with"}


def check_insecure(
    rule: rules.Rule, out: Collector, host: Host, reached: addresses.Reach | None
) -> None:
    found = dangers(rule, host, reached)
    # a user only the image can turn into numbers may turn out to be root: its marker counts
    maybe = bool(found) or (isinstance(rule, rules.User) and identity.numeric(rule.spec) is None)
    if found and rule.insecure is None:
        what, subject = found[0]
        out.error(
            Code.INSECURE_REQUIRED,
            f"{danger_words(what, subject)} is dangerous and needs an `insecure` marker",
            rule.origin,
            help=_insecure_help(rule),
        )
    elif (
        maybe
        and isinstance(rule.insecure, Span)
        and not rule.reason
        and not isinstance(rule, rules.Capability)  # `_check_capability` already asks
    ):
        out.error(
            Code.CAPABILITY_REASON,
            "an `insecure` statement needs a reason",
            rule.origin,
            help='add `because "…"` saying why the server needs it',
        )
    elif not maybe and isinstance(rule.insecure, Span):
        out.warn(
            Code.INSECURE_UNUSED,
            "this statement is not dangerous; `insecure` has no effect",
            rule.insecure,
            help="remove `insecure` so that real exceptions stand out",
        )


def _insecure_help(rule: rules.Rule) -> str:
    if isinstance(rule.origin, Pointer):
        return 'set `"insecure": true` at the top of the profile to accept the risk'
    return 'remove it, or write `insecure` before it with `because "…"` to accept the risk'
