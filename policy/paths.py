"""Judging a granted host path by where it leads: the one home of the rules that decide
whether a `read` or `write` hands the server the host.

A path is judged on the facts a `Host` gives (`host.py`): where it leads once every
symlink is resolved, what it is, what a folder holds beneath it, and whether another user
could make it lead elsewhere. The check pass asks `path_dangers` whether a grant needs
`insecure`, the build pass mounts the resolved path, the launcher asks `changed` right
before it creates anything, and `audit` judges running containers' mounts with
`path_dangers` too. Nothing here reads the host itself.

The rules, on the resolved path (and, so that no spelling is weaker than before, on the
path as written too):
- the sensitive paths of the baseline (`/`, `/etc`, `/proc`, the engines' folders, …; for
  a `write` also the trees a server must never change) need `insecure`, and so does a
  store of credentials (`/etc/shadow`, `/root`, any `.ssh`, `.aws`, `.netrc`, …), to
  read as well as to write;
- a Unix socket (any socket: a read-only bind does not stop `connect()`), a character or
  block device, a path in a container engine's folder, and a folder that holds any of
  those or a store of credentials, or a folder mcp-lok could not search to its end, need `insecure`;
- a path another user could change before the engine binds it needs `insecure`;
- a path that cannot be resolved (a symlink loop) is an error; a missing one a warning
  here, and an error at launch (`changed`).
Mount points beneath a granted folder are not dangers: mcp-lok's binds are non-recursive,
so they are not carried in; `explain` names them.
"""

from __future__ import annotations

import re
from posixpath import basename, normpath

from . import baseline, rules
from .diagnostics import Code, Collector, Diagnostic
from .host import Found, Host, HostPath, Inside, PathKind
from .ir import Insecurity, Mount

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# what a path or a thing beneath a folder is, in words that take "a"
_DEVICES = (PathKind.SOCKET, PathKind.CHAR_DEVICE, PathKind.BLOCK_DEVICE)
_UNSEEN = "holds more entries than mcp-lok searches for sockets and devices"


def normal(path: str) -> str:
    """An absolute `path` as the engines read it: `//etc/./x/` is `/etc/x`. (`normpath`
    keeps a leading `//`, which POSIX leaves implementation-defined; the engines do not.)"""
    return normpath("/" + path.lstrip("/"))


def askable(path: str) -> bool:
    """Whether `path` may be asked of a host: absolute, without `..` or a control
    character. The check pass refuses every other path on its text alone."""
    return path.startswith("/") and ".." not in path.split("/") and not CONTROL.search(path)


def where(rule: rules.Read | rules.Write, host: Host) -> HostPath:
    """Where `rule`'s host path leads on `host`. A path that may not be asked about is
    judged as written, leading to itself (the check pass has refused it already)."""
    if askable(rule.path):
        return host.path(normal(rule.path))
    return HostPath(rule.path, rule.path, PathKind.MISSING)


def sensitive(path: str, *, writable: bool) -> bool:
    """Whether binding the host path `path` (in normal form) hands the server the host."""
    if path in baseline.SENSITIVE_EXACT or path.rsplit("/", 1)[-1] in baseline.ENGINE_SOCKETS:
        return True
    if baseline.is_credential(path):  # read as well as write: reading is what leaks them
        return True
    trees = baseline.SENSITIVE_TREES + (baseline.WRITE_PROTECTED_TREES if writable else ())
    return any(path == tree or path.startswith(tree + "/") for tree in trees)


def path_dangers(found: HostPath, *, writable: bool) -> list[tuple[Insecurity, str]]:
    """What makes binding `found` dangerous, worst first, each with the words that say so
    (empty when nothing does)."""
    dangers: list[tuple[Insecurity, str]] = []
    special = _special(found)
    if special is not None:
        dangers.append((Insecurity.SPECIAL_MOUNT, special))
    written = normal(found.written) if found.written.startswith("/") else found.written
    if sensitive(found.resolved, writable=writable) or sensitive(written, writable=writable):
        dangers.append((Insecurity.SENSITIVE_MOUNT, _lead(found)))
    if found.replaceable is not None:
        dangers.append(
            (
                Insecurity.REPLACEABLE_MOUNT,
                f"{_lead(found)}, a path another user could change before it is mounted "
                f"({found.replaceable})",
            )
        )
    return dangers


def _special(found: HostPath) -> str | None:
    """The words for a socket, a device or an engine's folder, the path's own or the
    first one it holds; None when it is none of these."""
    if found.kind in _DEVICES:
        return f"{_lead(found)}, a {found.kind.value}"
    if found.kind is not PathKind.MISSING and baseline.is_engine_folder(found.resolved):
        return f"{_lead(found)}, in a {Inside.ENGINE_FOLDER.value}"
    beneath = first_beneath(found)
    if beneath is not None:
        return f"{_lead(found, 'holds')} `{beneath.path}`, a {beneath.what.value}"
    if found.truncated:
        return f"{_lead(found, _UNSEEN)}"
    return None


def _lead(found: HostPath, clause: str = "") -> str:
    """The path as written and where it leads, with a clause: `/tmp/l`, which leads to
    `/srv` and {clause}; without a link `/srv`, which {clause}."""
    leads = found.resolved != found.written
    head = f"`{found.written}`" + (f", which leads to `{found.resolved}`" if leads else "")
    if not clause:
        return head
    return f"{head} and {clause}" if leads else f"{head}, which {clause}"


def mounting(words: str) -> str:
    """A danger of `path_dangers` as the subject of a sentence: "mounting `/tmp/x`, which
    leads to `/run/docker.sock`, a Unix socket," (an aside is closed by a comma)."""
    return f"mounting {words}" + ("," if ", " in words else "")


def mount_kind(found: HostPath, writable: bool) -> str:
    """What a bind of `found` reaches, as the kind of its row in `explain` (and of its
    weight in `audit`): judged as the check pass judges it."""
    dangers = {what for what, _ in path_dangers(found, writable=writable)}
    names = {basename(found.resolved), basename(found.written)}
    if names & set(baseline.ENGINE_SOCKETS) and dangers:
        return "engine-socket"
    if Insecurity.SPECIAL_MOUNT in dangers:
        if found.kind in _DEVICES:
            engine = found.kind is PathKind.SOCKET and baseline.is_engine_socket(found.resolved)
            return "engine-socket" if engine else "host-socket"
        if baseline.is_engine_folder(found.resolved):
            return "engine-folder"
        return "holds-socket" if first_beneath(found) is not None else "unsearched-mount"
    if Insecurity.SENSITIVE_MOUNT in dangers:
        return "sensitive-write" if writable else "sensitive-read"
    return "write-mount" if writable else "read-mount"


def first_beneath(found: HostPath) -> Found | None:
    """The first thing beneath a folder that makes granting it more than granting files."""
    return next((f for f in found.found if f.what is not Inside.MOUNT_POINT), None)


def mount_points(found: HostPath) -> tuple[str, ...]:
    """The mount points beneath a granted folder: a non-recursive bind leaves them out."""
    return tuple(f.path for f in found.found if f.what is Inside.MOUNT_POINT)


def check_where(rule: rules.Read | rules.Write, host: Host, out: Collector) -> None:
    """A host path that leads nowhere: an error when it cannot be resolved, a warning
    when it does not exist (the launch refuses it, and says so again)."""
    if not askable(rule.path):
        return
    found = where(rule, host)
    if found.kind is PathKind.UNRESOLVABLE:
        out.error(
            Code.PATH_UNRESOLVABLE,
            f"`{found.written}` cannot be resolved on this host: a symlink loop, or a "
            "folder on the way that mcp-lok may not read",
            rule.origin,
            help="grant the path the symlinks lead to, written out in full",
        )
    elif found.kind is PathKind.MISSING:
        out.warn(
            Code.PATH_MISSING,
            f"`{found.written}` does not exist on this host",
            rule.origin,
            help="create it before launching: a launch refuses a path that does not exist",
        )


def changed(mount: Mount, now: HostPath) -> Diagnostic | None:
    """Why the launch must not bind `mount` (None when it may): its host path is missing,
    or leads elsewhere, or to another file, or to something more dangerous than when the
    policy was compiled."""
    before = mount.host
    if now.kind is PathKind.MISSING and before.kind is PathKind.MISSING:
        return Diagnostic(
            Code.PATH_MISSING,
            f"`{now.written}` does not exist on this host",
            mount.origin,
            help="create it, or remove the grant; the engine cannot bind a missing path",
        )
    why = _difference(before, now, mount.writable)
    if why is None:
        return None
    return Diagnostic(
        Code.PATH_CHANGED,
        f"`{now.written}` changed since the policy was compiled: {why}",
        mount.origin,
        help="something changed this host path between the check and the launch: find "
        "out who can, then launch again",
    )


def _difference(before: HostPath, now: HostPath, writable: bool) -> str | None:
    if now.kind is PathKind.MISSING:
        return "it no longer exists"
    if now.kind is PathKind.UNRESOLVABLE:
        return "it can no longer be resolved"
    if now.resolved != before.resolved:
        return f"it led to `{before.resolved}` and now leads to `{now.resolved}`"
    if now.kind is not before.kind:
        return f"it was a {before.kind.value} and is now a {now.kind.value}"
    if now.identity != before.identity:
        return f"`{now.resolved}` was replaced by another {now.kind.value}"
    known = {what for what, _ in path_dangers(before, writable=writable)}
    new = [words for what, words in path_dangers(now, writable=writable) if what not in known]
    if new:
        return f"{mounting(new[0])} was not dangerous then"
    return None


__all__ = [
    "askable",
    "changed",
    "check_where",
    "first_beneath",
    "mount_kind",
    "mount_points",
    "mounting",
    "normal",
    "path_dangers",
    "sensitive",
    "where",
]
