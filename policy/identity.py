"""Identity: who a server runs as, judged by the numbers it means, not by how it is spelled.

A policy's `user` is words (`1000:1000`, `app`, `1000`, `app:staff`); what the kernel checks
is a uid, a gid and supplementary groups, and a group can be root by another name (the one
that may open `/var/run/docker.sock`). This module is the one home of that judgement:

- `spelled`: the numbers a `user` names without the image (digits, and `root`);
- `judge`: uid 0, gid 0 and groups that are privileged on the host need `insecure`;
  `reserved`: the gate's ids belong to the gate — for check, the launch and audit alike;
- `Accounts`: an image's /etc/passwd and /etc/group, parsed within bounds;
- `resolve`: the pass between build and lower that turns a `user` the image must resolve
  into `uid:gid` numbers, judged like numbers written in the policy. The create body then
  always names the user by numbers, and an explicit group keeps the engines from adding
  the image's supplementary groups.

Reading the image's files is the launcher's business (through the engine); no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

from . import baseline
from .diagnostics import Code, Collector, did_you_mean
from .ir import IR, Acknowledged, Insecurity, User
from .origin import Origin
from .record import record, replace

# The ids both engines accept: a larger one (or a negative one) is refused when the
# container starts, "uids and gids must be in range 0-2147483647" (measured on Docker 20.10
# and Podman 4.3), after the container was created.
MAX_ID: Final = 2**31 - 1
NAME: Final = r"[a-z_][a-z0-9_-]{0,31}"  # a user or group name a policy can write
_NAME = re.compile(NAME)
_DIGITS = re.compile(r"[0-9]{1,10}")  # ASCII only: `int()` also reads other scripts' digits
_NUMERIC = re.compile(r"([0-9]{1,10}):([0-9]{1,10})")
GATE_UID, GATE_GID = (int(part) for part in baseline.GATE_USER.split(":"))
ROOT_GROUP: Final = "is root's group"

# What is read of an image's /etc/passwd or /etc/group: far more than any real image has
# (a line is ~40 bytes); beyond it, entries are not seen, so a name there is unknown.
MAX_FILE: Final = 1024 * 1024
PASSWD: Final = "/etc/passwd"  # noqa: S105 (the account database's path)
GROUP: Final = "/etc/group"


# --- the judgement -----------------------------------------------------------------------


@record
class Privilege:
    """One reason an identity is dangerous: uid 0, or a group privileged on the host."""

    what: Insecurity  # ROOT_USER or PRIVILEGED_GROUP
    id: int
    why: str  # "is root", "is root's group", "may open `/run/docker.sock`"

    def words(self) -> str:
        """ "uid 0 is root", "the group 105 may open `/run/docker.sock`"."""
        if self.what is Insecurity.ROOT_USER:
            return f"uid {self.id} {self.why}"
        return f"the group {self.id} {self.why}"


def judge(uid: int | None, gids: Iterable[int], groups: Mapping[int, str]) -> list[Privilege]:
    """What makes running as `uid` in `gids` dangerous on a host whose privileged groups are
    `groups` (gid → why, `Host.privileged_groups`). gid 0 is root's group on every host.
    Root's own group adds nothing to root, so `0:0` is one privilege, not two."""
    found = []
    if uid == 0:
        found.append(Privilege(Insecurity.ROOT_USER, 0, "is root"))
    for gid in sorted(set(gids)):
        why = groups.get(gid) or (ROOT_GROUP if gid == 0 else None)
        if why is not None and not (uid == 0 and gid == 0):
            found.append(Privilege(Insecurity.PRIVILEGED_GROUP, gid, why))
    return found


def group_privilege(uid: int, gid: int, groups: Mapping[int, str]) -> str | None:
    """Why running as `uid` in the group `gid` is root by another name (None: it is not)."""
    return next((p.why for p in judge(uid, [gid], groups) if p.what is _GROUP), None)


_GROUP: Final = Insecurity.PRIVILEGED_GROUP


def reserved(uid: int | None, gid: int | None) -> str | None:
    """Why an identity may not be used by a server (None when it may): the gate's uid and
    gid are the gate's alone. The host side of egress trusts the peer uid of its socket,
    so a server running as the gate's uid could pass for the gate."""
    if uid == GATE_UID:
        return f"uid {uid} is the gate's"
    if gid == GATE_GID:
        return f"the group {gid} is the gate's"
    return None


def spelled(spec: str) -> tuple[int | None, int | None]:
    """The uid and gid a `user` names without the image: digits, and `root` (0) however it
    is placed. None where the image decides (a name, or no group written)."""
    user, _, group = spec.partition(":")
    return _number(user), (_number(group) if group else None)


def _number(word: str) -> int | None:
    return _digits(word) if word != "root" else 0


def _digits(word: str) -> int | None:
    return int(word) if _DIGITS.fullmatch(word) else None


def numeric(value: str) -> tuple[int, int] | None:
    """`(uid, gid)` when `value` is already `uid:gid` numbers (no image needed)."""
    match = _NUMERIC.fullmatch(value)
    return (int(match[1]), int(match[2])) if match else None


def needs_image(user: User) -> bool:
    """Whether the server's user is words only the image can turn into numbers."""
    return numeric(user.value) is None


# --- the image's accounts ----------------------------------------------------------------


@record
class Account:
    """One line of /etc/passwd, as far as identity needs it."""

    name: str
    uid: int
    gid: int


@record
class Group:
    """One line of /etc/group, as far as identity needs it (members are not needed: the
    create body's explicit group keeps the engines from adding supplementary groups)."""

    name: str
    gid: int


@record
class Accounts:
    """An image's /etc/passwd and /etc/group. `truncated` names a file that was longer than
    `MAX_FILE`, read only that far."""

    users: tuple[Account, ...] = ()
    groups: tuple[Group, ...] = ()
    truncated: tuple[str, ...] = ()


def parse(passwd: str, group: str) -> Accounts:
    """The accounts in the text of an image's /etc/passwd and /etc/group (either may be
    empty: a missing file has no entries)."""
    cut = tuple(path for path, text in ((PASSWD, passwd), (GROUP, group)) if len(text) > MAX_FILE)
    users = tuple(Account(n, a, b) for n, a, b in _entries(passwd, 4, 2, 3))
    groups = tuple(Group(n, a) for n, a, _ in _entries(group, 3, 2, 2))
    return Accounts(users, groups, cut)


def _entries(text: str, width: int, first: int, second: int) -> Iterable[tuple[str, int, int]]:
    """(name, field `first`, field `second`) of each line with at least `width` fields.
    Lines that are comments, NIS references (`+name`, `-name`), or whose name no policy
    can write or whose ids are not numbers in range, are skipped: they name nothing a policy
    could resolve to. Duplicates are kept: the first one wins, as in the engines' lookup."""
    if len(text) > MAX_FILE:
        text = text[:MAX_FILE].rpartition("\n")[0]  # a partial last line means nothing
    for line in text.split("\n"):
        fields = line.rstrip("\r").split(":")
        if len(fields) < width or not _NAME.fullmatch(fields[0]):
            continue
        ids = (fields[first], fields[second])
        if all(_DIGITS.fullmatch(i) and int(i) <= MAX_ID for i in ids):
            yield fields[0], int(ids[0]), int(ids[1])


# --- the resolution pass -----------------------------------------------------------------


@record
class Resolved:
    uid: int
    gid: int
    found: str  # where in the image the numbers were found, in words


def resolve(policy: IR, accounts: Accounts, groups: Mapping[int, str]) -> IR:
    """`policy` with its user as `uid:gid` numbers found in the image's `accounts`, judged on
    a host whose privileged groups are `groups`. A user already written as numbers is
    returned as it is. Raises `PolicyError` (at the `user` rule) for a name the image does
    not have, a uid the image would run in group 0, the gate's ids, and for root, root's
    group or a privileged group that the rule did not mark `insecure`."""
    user = policy.user
    if not needs_image(user):
        return policy
    out = Collector()
    found = _lookup(user.value, accounts, user.origin, out)
    out.raise_if_errors()
    assert found is not None  # a lookup that finds nothing reports an error
    acknowledged = [
        a
        for a in _judge(user, found, groups, out)
        # `build` already acknowledged what the words alone said (`root`, `app:0`)
        if not any(b.what is a.what and b.origin == a.origin for b in policy.insecure)
    ]
    out.raise_if_errors()
    privileged = group_privilege(found.uid, found.gid, groups)
    resolved = User(
        f"{found.uid}:{found.gid}",
        user.origin,
        written=user.value,
        found=found.found,
        privileged=privileged,
        insecure=user.insecure,
    )
    return replace(policy, user=resolved, insecure=(*policy.insecure, *acknowledged))


def _lookup(spec: str, accounts: Accounts, origin: Origin, out: Collector) -> Resolved | None:
    name, _, group = spec.partition(":")
    uid_number = _digits(name)  # `root` is looked up like any name
    account = _account(name, uid_number, accounts)
    if account is None and uid_number is None:
        names = [a.name for a in accounts.users]
        out.error(
            Code.USER_UNKNOWN,
            f"the image has no user `{name}`",
            origin,
            help=_missing_help(
                name, names, PASSWD, accounts, "write numbers, e.g. `user 1000:1000`"
            ),
        )
        return None
    uid = account.uid if account is not None else uid_number
    assert uid is not None
    if group:
        gid = _group(group, accounts, origin, out)
        if gid is None:
            return None
    elif account is not None:
        gid = account.gid
    else:
        # INVARIANT: a uid the image does not list, without a group, is refused: both
        # engines would run it in group 0 (measured: `User: "4000"` runs with gid 0 and the
        # groups `0` on Docker 20.10 and Podman 4.3).
        out.error(
            Code.USER_NO_GROUP,
            f"uid {uid} is not in the image's {PASSWD}, so the engine would run it in the "
            "group 0 (root's)",
            origin,
            help=f"write the group too, e.g. `user {uid}:{uid}`",
        )
        return None
    return Resolved(uid, gid, _where(spec))


def _account(name: str, uid: int | None, accounts: Accounts) -> Account | None:
    """The first entry for `name`: by number when it is digits (as the engines look a
    numeric user up), else by name."""
    if uid is not None:
        return next((a for a in accounts.users if a.uid == uid), None)
    return next((a for a in accounts.users if a.name == name), None)


def _where(spec: str) -> str:
    """Where in the image the numbers of `spec` come from, in words."""
    name, _, group = spec.partition(":")
    if not group:
        if _digits(name) is None:
            return f"`{name}` and its group in the image's {PASSWD}"
        return f"the group of uid {name} in the image's {PASSWD}"
    words = [] if _digits(name) is not None else [f"`{name}` in the image's {PASSWD}"]
    if _digits(group) is None:
        whose = "its" if words else "the image's"
        words.append(f"`{group}` in {whose} {GROUP}")
    return ", ".join(words)


def _group(group: str, accounts: Accounts, origin: Origin, out: Collector) -> int | None:
    if (gid := _digits(group)) is not None:
        return gid
    found = next((g.gid for g in accounts.groups if g.name == group), None)
    if found is None:
        out.error(
            Code.GROUP_UNKNOWN,
            f"the image has no group `{group}`",
            origin,
            help=_missing_help(
                group, [g.name for g in accounts.groups], GROUP, accounts, "write the gid"
            ),
        )
    return found


def _missing_help(word: str, names: list[str], path: str, accounts: Accounts, instead: str) -> str:
    hint = did_you_mean(word, names)
    text = f"{hint} or {instead}" if hint else f"use a name from the image's {path}, or {instead}"
    if path in accounts.truncated:
        text += f" (only the first {MAX_FILE // 1024} KiB of the image's {path} were read)"
    return text


def _judge(
    user: User, found: Resolved, groups: Mapping[int, str], out: Collector
) -> list[Acknowledged]:
    """Errors for what `found` may not be; the acknowledgements for what it may."""
    if why := reserved(found.uid, found.gid):
        out.error(
            Code.USER_RESERVED,
            f"`{user.value}` is {found.uid}:{found.gid} in the image: {why}",
            user.origin,
            help="choose another user; the gate's ids are reserved so that no server can "
            "pass for the gate",
        )
        return []
    privileges = judge(found.uid, [found.gid], groups)
    if privileges and user.insecure is None:
        first = privileges[0]
        out.error(
            Code.INSECURE_REQUIRED,
            f"`{user.value}` is {found.uid}:{found.gid} in the image, and {first.words()}: "
            "this is dangerous and needs an `insecure` marker",
            user.origin,
            help='write `insecure` before it with `because "…"` to accept the risk, or '
            "choose a user the image maps to other numbers",
        )
        return []
    return [
        Acknowledged(p.what, _subject(user.value, p), user.insecure or user.origin)
        for p in privileges
    ]


def _subject(spec: str, privilege: Privilege) -> str:
    if privilege.what is Insecurity.ROOT_USER:
        return spec
    return privilege.words()


__all__ = [
    "GATE_GID",
    "GATE_UID",
    "MAX_FILE",
    "MAX_ID",
    "Account",
    "Accounts",
    "Group",
    "Privilege",
    "judge",
    "needs_image",
    "numeric",
    "parse",
    "reserved",
    "resolve",
    "spelled",
]
