"""The check pass: validate rules from any source before they are built into the IR.

Checks what both sources share — paths, host patterns, ports, names, limits. Collects
every problem; never stops at the first. Whether a rule is dangerous and carries the
`insecure` marker it then needs is `dangers.py`'s part of the pass; statements that repeat
or contradict one another are `duplicates.py`'s; what the addresses of `allow` rules
cover, together, is `addresses.py`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from posixpath import normpath

from . import addresses, baseline, hosts, identity, malformed, names, rules
from .dangers import LITERAL, check_insecure, check_profile_markers
from .diagnostics import Code, Collector, Diagnostic, did_you_mean
from .duplicates import check_duplicates
from .host import Host
from .origin import Origin, Pointer
from .paths import CONTROL, check_where

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ID = rf"(?:[0-9]{{1,10}}|{identity.NAME})"  # a numeric id or a user/group name
_USER = re.compile(rf"^{_ID}(?::{_ID})?$")
_PORT = re.compile(r"[0-9]{1,5}")  # ASCII only: `int()` also reads other scripts' digits

# Bounds that keep a container usable and the host safe.
LIMIT_RANGES: dict[rules.LimitKind, tuple[int, int, str]] = {
    rules.LimitKind.MEMORY: (6 * 1024 * 1024, 1024**4, "between 6M and 1T"),
    rules.LimitKind.CPUS: (10, 1_024_000, "between 0.01 and 1024"),
    rules.LimitKind.PIDS: (8, 1_000_000, "between 8 and 1000000"),
    rules.LimitKind.NOFILE: (64, 1_048_576, "between 64 and 1048576"),
}


def check(
    ruleset: Sequence[rules.Rule], host: Host = LITERAL, *, whole: bool = True
) -> list[Diagnostic]:
    """Every problem in `ruleset` (errors and warnings), in source order. Grants are
    judged by where they lead on `host`. `whole`: whether `ruleset` holds every rule of
    its source; when some could not be read, a profile's `insecure` is not called unused,
    as one of those may have needed it."""
    out = Collector()
    reached = addresses.reach(ruleset, host)  # address rules are judged together
    for index, rule in enumerate(ruleset):
        _CHECKS.get(type(rule), _no_check)(rule, out)
        check_insecure(rule, out, host, reached.get(index))
        if isinstance(rule, rules.Read | rules.Write):
            check_where(rule, host, out)
    if whole:
        check_profile_markers(ruleset, out, host, reached)
    check_duplicates(ruleset, out, host)
    return out.diagnostics


def _no_check(rule: rules.Rule, out: Collector) -> None:
    del rule, out


def check_path(path: str, origin: Origin, out: Collector, *, what: str = "path") -> None:
    """An absolute, normal path without control characters (host or container side)."""
    if CONTROL.search(path):
        out.error(
            Code.PATH_CONTROL_CHAR,
            f"the {what} contains a control character",
            origin,
            help="paths may not contain NUL, newlines or other control characters",
        )
    elif not path.startswith("/"):
        code = Code.PATH_TARGET_RELATIVE if what == "container path" else Code.PATH_RELATIVE
        out.error(
            code,
            f"the {what} `{path}` is relative",
            origin,
            help=malformed.relative_path(path),
        )
    elif ".." in path.split("/"):
        out.error(
            Code.PATH_PARENT,
            f"the {what} `{path}` contains `..`",
            origin,
            help=f"write the path it means: `{normpath(path)}`",
        )


def _check_mount(rule: rules.Read | rules.Write, out: Collector) -> None:
    check_path(rule.path, rule.origin, out, what="host path")
    if rule.target is not None:
        check_path(rule.target, rule.origin, out, what="container path")


def _check_tmpfs(rule: rules.Tmpfs, out: Collector) -> None:
    check_path(rule.target, rule.origin, out, what="container path")
    if rule.size is not None and not 4096 <= rule.size <= 64 * 1024**3:
        out.error(Code.LIMIT_INVALID, "a tmpfs size must be between 4K and 64G", rule.origin)


def _check_deny_path(rule: rules.DenyPath, out: Collector) -> None:
    check_path(rule.path, rule.origin, out, what="container path")


def check_host(item: rules.Item, out: Collector, port: str) -> None:
    """A well-formed host pattern; `port` says what to do with a port written in it
    (`malformed.host`)."""
    if hosts.classify(hosts.normalise(item.value)) is None:
        message, advice = malformed.host(item.value, port)
        out.error(Code.HOST_MALFORMED, message, item.origin, help=advice)


def check_port(item: rules.Item, out: Collector) -> None:
    if not _PORT.fullmatch(item.value) or not 1 <= int(item.value) <= 65535:
        out.error(Code.PORT_RANGE, f"port `{item.value}` is outside 1–65535", item.origin)


def _check_deny_host(rule: rules.DenyHost, out: Collector) -> None:
    check_host(
        rule.host, out, "drop the port `{port}` (`deny host` refuses the host on every port)"
    )


def _check_transport(item: rules.Item, out: Collector) -> None:
    known = {t.value for t in rules.IpProtocol}
    if item.value not in known:
        out.error(
            Code.TRANSPORT_UNKNOWN,
            f"unknown transport `{item.value}`",
            item.origin,
            help=did_you_mean(item.value, known) or "use `tcp` or `udp`",
        )


def _check_allow(rule: rules.Allow, out: Collector) -> None:
    where = "in `allow_port`" if isinstance(rule.origin, Pointer) else "after `port`"
    for host in rule.hosts:
        check_host(host, out, f"the port `{{port}}` goes {where}")
        addresses.check_destination(host, out)
    for port in rule.ports:
        check_port(port, out)
    for transport in rule.protocols:
        _check_transport(transport, out)
    for items, code, what in (
        (rule.hosts, Code.HOST_DUPLICATE, "host"),
        (rule.ports, Code.PORT_DUPLICATE, "port"),
        (rule.protocols, Code.DUPLICATE, "transport"),
    ):
        _report_repeats(items, _item_key, code, what, out)


def _item_key(item: rules.Item) -> str:
    """Equal entries compare equal: `0443` is port 443, `[::1]` is `::1`."""
    if _PORT.fullmatch(item.value):
        return str(int(item.value))
    return hosts.normalise(item.value)


def _report_repeats(
    items: Iterable[rules.Item],
    key: Callable[[rules.Item], str],
    code: Code,
    what: str,
    out: Collector,
) -> None:
    seen: set[str] = set()
    for item in items:
        k = key(item)
        if k in seen:
            out.error(
                code,
                f"{what} `{item.value}` is listed twice",
                item.origin,
                help="remove the repeated entry",
            )
        seen.add(k)


def _check_user(rule: rules.User, out: Collector) -> None:
    if not _USER.fullmatch(rule.spec):
        out.error(
            Code.USER_MALFORMED,
            f"`{rule.spec}` is not a user",
            rule.origin,
            help="write a numeric `uid` or `uid:gid` (e.g. `1000:1000`), or a user name",
        )
        return
    uid, gid = identity.spelled(rule.spec)
    if any(n is not None and n > identity.MAX_ID for n in (uid, gid)):
        out.error(
            Code.USER_MALFORMED,
            f"`{rule.spec}` names an id above {identity.MAX_ID}",
            rule.origin,
            help=f"uids and gids go from 0 to {identity.MAX_ID}; the engines refuse larger ones",
        )
    elif why := identity.reserved(uid, gid):
        out.error(
            Code.USER_RESERVED,
            f"`{rule.spec}` cannot be a server's user: {why}",
            rule.origin,
            help="choose another user; the gate's ids are reserved so that no server can "
            "pass for the gate",
        )


def _check_limit(rule: rules.Limit, out: Collector) -> None:
    low, high, words = LIMIT_RANGES[rule.kind]
    if not low <= rule.value <= high:
        out.error(Code.LIMIT_INVALID, f"the {rule.kind.value} limit must be {words}", rule.origin)


def _check_env_name(name: str, origin: Origin, out: Collector) -> None:
    if not _ENV_NAME.fullmatch(name):
        out.error(
            Code.ENV_INVALID,
            f"`{name}` is not a valid environment variable name",
            origin,
            help="use letters, digits and `_`, not starting with a digit",
        )
    elif name in baseline.RESERVED_ENV:
        out.error(
            Code.ENV_INVALID,
            f"`{name}` is set by mcp-lok itself",
            origin,
            help="mcp-lok sets the proxy and transport variables; remove this one",
        )


def _check_env(rule: rules.Env, out: Collector) -> None:
    _check_env_name(rule.name, rule.origin, out)
    if "\x00" in rule.value:
        out.error(Code.ENV_INVALID, f"the value of `{rule.name}` contains a NUL", rule.origin)


def _check_secret(rule: rules.Secret, out: Collector) -> None:
    _check_env_name(rule.name, rule.origin, out)
    if rule.provider is rules.SecretProvider.FILE:
        check_path(rule.ref, rule.origin, out, what="secret file")
    elif not _ENV_NAME.fullmatch(rule.ref):
        out.error(
            Code.SECRET_INVALID,
            f"`{rule.ref}` is not a valid environment variable name",
            rule.origin,
        )


def _check_capability(rule: rules.Capability, out: Collector) -> None:
    if rule.name not in names.CAPABILITIES:
        out.error(
            Code.CAPABILITY_UNKNOWN,
            f"unknown capability `{rule.name}`",
            rule.origin,
            help=did_you_mean(rule.name, names.CAPABILITIES),
        )
    if not rule.reason:
        out.error(
            Code.CAPABILITY_REASON,
            f"adding `{rule.name}` needs a stated reason",
            rule.origin,
            help='add `because "…"` saying why the server needs it',
        )


def _check_seccomp(rule: rules.SeccompDeny, out: Collector) -> None:
    for item in rule.syscalls:
        if item.value not in names.SYSCALLS:
            out.error(
                Code.SYSCALL_UNKNOWN,
                f"unknown system call `{item.value}`",
                item.origin,
                help=did_you_mean(item.value, names.SYSCALLS),
            )


def _check_extends(rule: rules.Extends, out: Collector) -> None:
    del rule, out  # resolved (and checked) by the loader


_CHECKS: dict[type[rules.Rule], Callable[[rules.Rule, Collector], None]] = {
    rules.Read: _check_mount,  # type: ignore[dict-item]  # keyed by the rule's own type
    rules.Write: _check_mount,  # type: ignore[dict-item]
    rules.Tmpfs: _check_tmpfs,  # type: ignore[dict-item]
    rules.DenyPath: _check_deny_path,  # type: ignore[dict-item]
    rules.Allow: _check_allow,  # type: ignore[dict-item]
    rules.DenyHost: _check_deny_host,  # type: ignore[dict-item]
    rules.DenyPort: lambda r, out: check_port(r.port, out),  # type: ignore[attr-defined]
    rules.User: _check_user,  # type: ignore[dict-item]
    rules.Limit: _check_limit,  # type: ignore[dict-item]
    rules.Env: _check_env,  # type: ignore[dict-item]
    rules.Secret: _check_secret,  # type: ignore[dict-item]
    rules.Capability: _check_capability,  # type: ignore[dict-item]
    rules.SeccompDeny: _check_seccomp,  # type: ignore[dict-item]
    rules.Extends: _check_extends,  # type: ignore[dict-item]
}
