"""Load a JSON permission profile into rules.

This is the JSON edge of the compiler: decode the text (`jsontext`), check the shape (known
fields, JSON types, how the network entries combine) and turn each entry into a rule whose
origin is a JSON pointer carrying the span of the value it came from. Checks shared with
the policy language (paths, mounts, hosts, port ranges, transports, duplicates, which
rules need an `insecure` marker) belong to `check`, which runs on the rules afterwards.
No I/O: the caller reads the file and hands over its text.

Accepted: the permission profile format (`read`, `write`, `network.outbound` with
`insecure_allow_all`, `allow_transport`, `allow_host`, `allow_port`), mcp-lok's top-level
`insecure` (acknowledges the profile's dangerous entries), and ToolHive's additions where
they mean the same thing: `name` (checked, then ignored), `"host:/container"` mount
strings, `privileged`, and `network.mode`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from .diagnostics import Code, Collector, Diagnostic, PolicyError, did_you_mean
from .jsonspan import SpanMap
from .jsontext import decode, quote
from .origin import Pointer, join_pointer, position
from .rules import Allow, Item, NetworkNone, NetworkOpen, Privileged, Read, Rule, Write

_TOP: Final = ("name", "read", "write", "network", "privileged", "insecure")
_NETWORK: Final = ("mode", "outbound")
_OUTBOUND: Final = ("insecure_allow_all", "allow_transport", "allow_host", "allow_port")
_LISTS: Final = ("allow_host", "allow_port", "allow_transport")
_OUTBOUND_AT: Final = "/network/outbound"
# the Docker network modes that mean "a normal network", i.e. open egress
_OPEN_MODES: Final = ("bridge", "default")
_DEFAULT_TRANSPORT: Final = "tcp"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*://")

# ToolHive fields that mcp-lok knows but refuses, with the reason
_UNSUPPORTED: Final = {
    "/network/inbound": (
        "`network.inbound` is not supported",
        "mcp-lok publishes no ports: clients reach the server only through mcp-lok's own "
        "proxy; remove `inbound`",
    ),
}

# an allow list that allows nothing without the others: what is wrong, and what to add
_ALONE: Final = {
    "allow_host": (
        "`allow_host` without `allow_port` allows nothing",
        'add `allow_port` with the ports to reach on these hosts, e.g. `"allow_port": [443]`',
    ),
    "allow_port": (
        "`allow_port` without `allow_host` allows nothing",
        'add `allow_host` with the hosts to reach on these ports, e.g. `"allow_host": '
        '["api.example.com"]`',
    ),
    "allow_transport": (
        "`allow_transport` without `allow_host` and `allow_port` allows nothing",
        "add `allow_host` and `allow_port` with the destinations to reach, "
        "or remove `allow_transport`",
    ),
}


def load_profile(text: str, file: str, out: Collector | None = None) -> list[Rule]:
    """Read a profile's `text` (from `file`) into rules.

    Every problem goes to `out`, in the order they appear in the text, and the rules are
    those of the entries that could be read (so that the check pass can judge them);
    without `out`, a problem raises one `PolicyError` with all of them.
    """
    collector = Collector()
    decoded = decode(text, file, collector)
    rules = _Reader(decoded[1], collector).profile(decoded[0]) if decoded else []
    found = sorted(collector.diagnostics, key=_position)
    if out is not None:
        out.extend(found)
    elif collector.has_errors:
        raise PolicyError(found)
    return rules


class _Reader:
    """Walks a decoded profile, reporting shape problems and building rules."""

    def __init__(self, spans: SpanMap, collector: Collector) -> None:
        self.spans = spans
        self.collector = collector
        self.insecure: Pointer | None = None

    def at(self, pointer: str) -> Pointer:
        return Pointer(self.spans.file, pointer, self.spans.value(pointer))

    def profile(self, data: Any) -> list[Rule]:
        if not isinstance(data, dict):
            self.wrong_type("", "an object of permissions", data)
            return []
        self.fields(data, "", _TOP, "the profile")
        self.string(data, "", "name")  # ToolHive's label: checked, then ignored
        written = "insecure" in data and not isinstance(data["insecure"], bool)
        if self.boolean(data, "", "insecure") or written:
            # INVARIANT: only an explicit `"insecure": true` acknowledges dangerous rules.
            # One of another type is an error, so the profile is rejected; it still counts
            # as written, so that no entry is reported as needing it: a consequence of
            # the error, not another problem
            self.insecure = self.at("/insecure")
        rules = self.mounts(data, "read") + self.mounts(data, "write") + self.network(data)
        if self.boolean(data, "", "privileged"):
            rules.append(Privileged(origin=self.at("/privileged"), insecure=self.insecure))
        return rules

    def mounts(self, data: Mapping[str, Any], name: str) -> list[Rule]:
        """`read`/`write` entries: a path, or ToolHive's `host:/container`."""
        kind = Read if name == "read" else Write
        rules: list[Rule] = []
        for entry, pointer in self.strings(data, "", name, "path"):
            if _SCHEME.match(entry):
                self.collector.error(
                    Code.PROFILE_UNSUPPORTED,
                    f"`{quote(entry)}` is not a host path: named volumes are not supported",
                    self.at(pointer),
                    'mount a host directory instead, e.g. `"/srv/data:/data"`',
                )
                continue
            path, target = _split_mount(entry)
            origin = self.at(pointer)
            rules.append(kind(origin=origin, insecure=self.insecure, path=path, target=target))
        return rules

    def network(self, data: Mapping[str, Any]) -> list[Rule]:
        network = self.section(data, "", "network")
        if network is None:
            return []
        self.fields(network, "/network", _NETWORK, "`network`")
        outbound = self.section(network, "/network", "outbound") or {}
        rules = self.outbound(outbound)
        mode = self.string(network, "/network", "mode")
        if mode is None:
            return rules
        wants_network = any(outbound.get(name) not in (None, False, []) for name in _OUTBOUND)
        return self.mode(mode, wants_network, rules)

    def outbound(self, outbound: Mapping[str, Any]) -> list[Rule]:
        """`network.outbound`: open egress, one allow-list rule, or nothing."""
        base = _OUTBOUND_AT
        self.fields(outbound, base, _OUTBOUND, "`network.outbound`")
        allow_all = self.boolean(outbound, base, "insecure_allow_all")
        hosts = self.items(self.strings(outbound, base, "allow_host", "host"))
        ports = self.items(self.ports(outbound))
        protocols = self.items(self.strings(outbound, base, "allow_transport", "transport"))
        present = [name for name in _LISTS if outbound.get(name, []) != []]
        if not present:
            if not allow_all:
                return []
            # INVARIANT: the field's own name is the insecure marker of open egress
            marker = self.at(f"{base}/insecure_allow_all")
            return [NetworkOpen(origin=marker, insecure=marker)]
        if allow_all:
            self.conflict(self.at(f"{base}/insecure_allow_all"), present)
        else:
            self.complete(present)
        # after either error the lists' entries are still judged, so that one run reports
        # every bad host and port; the profile is rejected, so the rule is never built
        if not protocols:
            default_at = f"{base}/allow_transport" if "allow_transport" in outbound else base
            protocols = (Item(_DEFAULT_TRANSPORT, self.at(default_at)),)
        rule = Allow(
            origin=self.at(base),
            insecure=self.insecure,
            hosts=hosts,
            ports=ports,
            protocols=protocols,
        )
        return [rule]

    def conflict(self, marker: Pointer, present: list[str]) -> None:
        names = ", ".join(f"`{name}`" for name in present)
        self.collector.error(
            Code.NETWORK_CONFLICT,
            f"`insecure_allow_all` allows all egress, which conflicts with {names}",
            marker,
            f"remove `insecure_allow_all` to allow only what {names} lists, "
            "or remove the lists to allow all egress",
        )

    def complete(self, present: list[str]) -> None:
        """Report the allow list that says nothing without a partner, if one does."""
        if "allow_host" in present and "allow_port" in present:
            return
        # in `_LISTS` order, so the list named is the one short of a partner
        message, advice = _ALONE[present[0]]
        origin = self.at(f"{_OUTBOUND_AT}/{present[0]}")
        self.collector.error(Code.NETWORK_INCOMPLETE, message, origin, advice)

    def mode(self, mode: str, wants_network: bool, rules: list[Rule]) -> list[Rule]:
        """ToolHive's `network.mode`, read as mcp-lok's network rules."""
        origin = self.at("/network/mode")
        if mode in _OPEN_MODES and wants_network:
            return rules  # a normal network, limited to what `outbound` says it may reach
        if mode == "none" and not wants_network:
            return [NetworkNone(origin=origin, insecure=self.insecure)]
        code, message, advice = _mode_problem(mode)
        self.collector.error(code, message, origin, advice)
        return rules  # judged all the same; the profile is rejected, so never built

    # -- shapes and types --------------------------------------------------------------

    def fields(
        self, obj: Mapping[str, Any], base: str, allowed: tuple[str, ...], where: str
    ) -> None:
        """Report every key of `obj` that is not in `allowed`, pointing at the key."""
        for name in obj:
            if name in allowed:
                continue
            pointer = join_pointer(base, name)
            origin = Pointer(self.spans.file, pointer, self.spans.key(pointer))
            if pointer in _UNSUPPORTED:
                message, advice = _UNSUPPORTED[pointer]
                self.collector.error(Code.PROFILE_UNSUPPORTED, message, origin, advice)
                continue
            listed = "fields allowed here: " + ", ".join(f"`{f}`" for f in allowed)
            advice = did_you_mean(name, allowed) or listed
            message = f"unknown field `{quote(name)}` in {where}"
            self.collector.error(Code.PROFILE_UNKNOWN_FIELD, message, origin, advice)

    def section(self, obj: Mapping[str, Any], base: str, name: str) -> dict[str, Any] | None:
        if name not in obj:
            return None
        value = obj[name]
        if isinstance(value, dict):
            return value
        self.wrong_type(join_pointer(base, name), "an object", value)
        return None

    def boolean(self, obj: Mapping[str, Any], base: str, name: str) -> bool:
        if name not in obj:
            return False
        value = obj[name]
        if isinstance(value, bool):
            return value
        advice = None
        if value in ("true", "false"):
            advice = f"write `{value}` without quotes"
        self.wrong_type(join_pointer(base, name), "true/false", value, advice)
        return False

    def string(self, obj: Mapping[str, Any], base: str, name: str) -> str | None:
        if name not in obj:
            return None
        value = obj[name]
        if isinstance(value, str):
            return value
        self.wrong_type(join_pointer(base, name), "a string", value)
        return None

    def strings(
        self, obj: Mapping[str, Any], base: str, name: str, what: str
    ) -> list[tuple[str, str]]:
        """The strings of list `name`, each with its pointer; wrong types are reported."""
        found: list[tuple[str, str]] = []
        for value, pointer in self.elements(obj, base, name, what):
            if isinstance(value, str):
                found.append((value, pointer))
            else:
                self.wrong_type(pointer, f"a {what}", value)
        return found

    def ports(self, outbound: Mapping[str, Any]) -> list[tuple[str, str]]:
        """`allow_port`: whole numbers only (not `443.0`, `"443"` or `true`)."""
        found: list[tuple[str, str]] = []
        for value, pointer in self.elements(outbound, _OUTBOUND_AT, "allow_port", "port"):
            if isinstance(value, int) and not isinstance(value, bool):
                found.append((str(value), pointer))
            elif isinstance(value, float):
                written = self.spans.source(pointer)
                whole = f"write `{int(value)}`" if value.is_integer() else None
                message = f"expected a whole port number, found `{quote(written)}`"
                self.collector.error(Code.PROFILE_WRONG_TYPE, message, self.at(pointer), whole)
            else:
                digits = isinstance(value, str) and value.isascii() and value.isdigit()
                advice = f"write `{quote(value)}` without quotes" if digits else None
                self.wrong_type(pointer, "a port number", value, advice)
        return found

    def elements(
        self, obj: Mapping[str, Any], base: str, name: str, what: str
    ) -> list[tuple[Any, str]]:
        """The elements of list `name` with their pointers; a missing list is empty."""
        if name not in obj:
            return []
        pointer = join_pointer(base, name)
        value = obj[name]
        if not isinstance(value, list):
            advice = None
            if isinstance(value, str | int) and not isinstance(value, bool):
                advice = f"put it in a list: `[{quote(json.dumps(value))}]`"
            self.wrong_type(pointer, f"a list of {what}s", value, advice)
            return []
        return [(element, join_pointer(pointer, i)) for i, element in enumerate(value)]

    def items(self, found: list[tuple[str, str]]) -> tuple[Item, ...]:
        return tuple(Item(value, self.at(pointer)) for value, pointer in found)

    def wrong_type(
        self, pointer: str, expected: str, value: Any, advice: str | None = None
    ) -> None:
        message = f"expected {expected}, found {_describe(value)}"
        self.collector.error(Code.PROFILE_WRONG_TYPE, message, self.at(pointer), advice)


def _mode_problem(mode: str) -> tuple[Code, str, str]:
    """Why `network.mode` cannot be read as written, and what to write instead."""
    if mode == "none":
        return (
            Code.NETWORK_CONFLICT,
            "network mode `none` conflicts with the outbound rules",
            "remove `mode` to allow what `outbound` lists, or remove `outbound` to run "
            "without a network",
        )
    if mode == "host":
        return (
            Code.NETWORK_CONFLICT,
            "host networking is not supported",
            "use `insecure_allow_all` in `network.outbound` for open egress, or list "
            "`allow_host` and `allow_port` to allow only those",
        )
    if mode in _OPEN_MODES:
        return (
            Code.INSECURE_REQUIRED,
            f"network mode `{mode}` means open egress, which needs `insecure_allow_all`",
            "set `network.outbound.insecure_allow_all` to `true` to allow all egress, or "
            "list `allow_host` and `allow_port` to allow only those",
        )
    modes = ("none", *_OPEN_MODES)
    listed = "expected " + ", ".join(f"`{m}`" for m in modes)
    message = f"unknown network mode `{quote(mode)}`"
    return Code.NETWORK_MODE, message, did_you_mean(mode, modes) or listed


def _split_mount(entry: str) -> tuple[str, str | None]:
    """ToolHive's `host:container`: split at the last `:` when a path follows it."""
    host, colon, target = entry.rpartition(":")
    if colon and target.startswith("/"):
        return host, target
    return entry, None


def _describe(value: Any) -> str:
    """What a JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _position(diagnostic: Diagnostic) -> tuple[int, int]:
    return position(diagnostic.origin)
