"""The two files lowering writes for a server's gate, as typed records with their JSON:

* `gate.json`, the gate's config (`GateConfig`): its ingress (HTTP transports: where the
  host connects, the server's port) and its egress (allow-listed networks: the rules, the
  explicit denies, where DNS and the HTTP proxy listen, the socket to the host);
* `egress.json`, mcp-lok's own copy of the egress rules on the host (`HostRules`): the same
  rules with the address classes each rule's `insecure` marker acknowledged, read by the
  host's half of egress (`mcp_lok.proxy.egress_policy`), never by the gate.

`policy/lower/network.py` makes both; the gate and the host read them back with `from_json`,
which validates every field: an unknown or a missing field is an error, so neither runs a
file it half understands. Host patterns are checked with `hosts.py`.

SHARED WITH THE GATE: this very file is copied into the gate's image, next to `hosts.py`
(`scripts/build_images.py`, `SHARED`; `proxy/gate/gate_config.py` stands for it in this
repository). So it imports the standard library and `hosts.py` only.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from .hosts import classify, normalise

VERSION = 2  # 2: a rule's `transports` became its `protocols`
MAX_BYTES = 1024 * 1024  # the most either reader reads
SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes, the last one NUL
PROTOCOLS = ("tcp", "udp")

T = TypeVar("T")


class ConfigError(ValueError):
    """A gate config or a host's rule file is invalid; the message names the field."""


class Ingress(NamedTuple):
    socket: str  # where the host connects, inside the gate's mount
    port: int  # where the server listens, on the shared loopback


class EgressRule(NamedTuple):
    hosts: tuple[str, ...]  # normalised host patterns (`hosts.normalise`)
    ports: tuple[int, ...]
    protocols: tuple[str, ...]  # `tcp` and/or `udp`


class Egress(NamedTuple):
    socket: str  # where the gate reaches the host, inside its mount
    dns: str  # the loopback address its DNS serves on
    proxy: tuple[str, int]  # the loopback address and port of its HTTP proxy
    rules: tuple[EgressRule, ...]
    deny_hosts: tuple[str, ...]
    deny_ports: tuple[int, ...]


class GateConfig(NamedTuple):
    """`gate.json`."""

    name: str
    ingress: Ingress | None
    egress: Egress | None

    def to_dict(self) -> dict[str, Any]:
        ingress, egress = self.ingress, self.egress
        return {
            "version": VERSION,
            "name": self.name,
            "ingress": None if ingress is None else ingress._asdict(),
            "egress": None
            if egress is None
            else {
                "socket": egress.socket,
                "dns": egress.dns,
                "proxy": f"{egress.proxy[0]}:{egress.proxy[1]}",
                "rules": [_rule_dict(rule) for rule in egress.rules],
                "deny_hosts": list(egress.deny_hosts),
                "deny_ports": list(egress.deny_ports),
            },
        }

    def to_json(self) -> str:
        return _dump(self.to_dict())

    @classmethod
    def from_json(cls, data: str | bytes) -> GateConfig:
        top = _top(data, ("name", "ingress", "egress"))
        ingress = None if top["ingress"] is None else _ingress(top["ingress"])
        egress = None if top["egress"] is None else _egress(top["egress"])
        if ingress is None and egress is None:
            raise ConfigError("neither `ingress` nor `egress` is set: the gate would serve nothing")
        return cls(_string(top["name"], "name"), ingress, egress)


class HostRule(NamedTuple):
    hosts: tuple[str, ...]
    ports: tuple[int, ...]
    protocols: tuple[str, ...]
    # the address classes (`AddressClass` values) the rule's `insecure` acknowledged
    acknowledged: tuple[str, ...]


class HostRules(NamedTuple):
    """`egress.json`: INVARIANT: the host reads its rules from here, a root-owned file the
    gate cannot write (the gate may rewrite anything in its own folder)."""

    name: str
    socket: str  # where the host listens for the gate, on the host
    gate_user: tuple[int, int]  # who may connect (uid, gid)
    rules: tuple[HostRule, ...]
    deny_hosts: tuple[str, ...]
    deny_ports: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "name": self.name,
            "socket": self.socket,
            "gate_user": f"{self.gate_user[0]}:{self.gate_user[1]}",
            "rules": [
                {**_rule_dict(EgressRule(*rule[:3])), "acknowledged": list(rule.acknowledged)}
                for rule in self.rules
            ],
            "deny_hosts": list(self.deny_hosts),
            "deny_ports": list(self.deny_ports),
        }

    def to_json(self) -> str:
        return _dump(self.to_dict())

    @classmethod
    def from_json(cls, data: str | bytes) -> HostRules:
        top = _top(data, ("name", "socket", "gate_user", "rules", "deny_hosts", "deny_ports"))
        user = _string(top["gate_user"], "gate_user")
        uid, _, gid = user.partition(":")
        if not (uid.isdigit() and gid.isdigit()):
            raise ConfigError(f"`gate_user` must be `uid:gid`, not `{user}`")
        return cls(
            name=_string(top["name"], "name"),
            socket=_socket_path(top["socket"], "socket"),
            gate_user=(int(uid), int(gid)),
            rules=_each(top["rules"], "rules", _host_rule),
            deny_hosts=_each(top["deny_hosts"], "deny_hosts", _pattern),
            deny_ports=_each(top["deny_ports"], "deny_ports", _port),
        )


def _rule_dict(rule: EgressRule) -> dict[str, Any]:
    return {"hosts": list(rule.hosts), "ports": list(rule.ports), "protocols": list(rule.protocols)}


def _dump(value: object) -> str:
    """A file only programs read: compact, sorted, one line (the plan shows it indented)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


# --- reading ---------------------------------------------------------------------------


def _top(data: str | bytes, keys: tuple[str, ...]) -> dict[str, object]:
    """The fields of a file of this `VERSION` that has exactly `keys` besides its version."""
    if len(data) > MAX_BYTES:
        raise ConfigError(f"larger than {MAX_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"not JSON: {error}") from error
    top = _fields(raw, "", ("version", *keys))
    version = top["version"]
    if type(version) is not int or version != VERSION:
        raise ConfigError(f"`version` must be {VERSION}, not {version!r}")
    return top


def _ingress(raw: object) -> Ingress:
    body = _fields(raw, "ingress", ("socket", "port"))
    return Ingress(
        _socket_path(body["socket"], "ingress.socket"), _port(body["port"], "ingress.port")
    )


def _egress(raw: object) -> Egress:
    keys = ("socket", "dns", "proxy", "rules", "deny_hosts", "deny_ports")
    body = _fields(raw, "egress", keys)
    dns = _string(body["dns"], "egress.dns")
    if not _is_loopback(dns):
        raise ConfigError(f"`egress.dns` must be a loopback address, not `{dns}`")
    proxy = _string(body["proxy"], "egress.proxy")
    host, _, port = proxy.rpartition(":")
    if not _is_loopback(host) or not port.isdigit():
        raise ConfigError(f"`egress.proxy` must be a loopback `address:port`, not `{proxy}`")
    return Egress(
        socket=_socket_path(body["socket"], "egress.socket"),
        dns=dns,
        proxy=(host, _port(int(port), "egress.proxy")),
        rules=_each(body["rules"], "egress.rules", _rule),
        deny_hosts=_each(body["deny_hosts"], "egress.deny_hosts", _pattern),
        deny_ports=_each(body["deny_ports"], "egress.deny_ports", _port),
    )


def _rule(raw: object, where: str) -> EgressRule:
    body = _fields(raw, where, ("hosts", "ports", "protocols"))
    return _checked_rule(body, where)


def _host_rule(raw: object, where: str) -> HostRule:
    body = _fields(raw, where, ("hosts", "ports", "protocols", "acknowledged"))
    acknowledged = _each(body["acknowledged"], f"{where}.acknowledged", _string)
    return HostRule(*_checked_rule(body, where), acknowledged)


def _checked_rule(body: Mapping[str, object], where: str) -> EgressRule:
    hosts = _each(body["hosts"], f"{where}.hosts", _pattern)
    if not hosts:
        raise ConfigError(f"`{where}.hosts` is empty")
    protocols = _each(body["protocols"], f"{where}.protocols", _string)
    if not protocols or not set(protocols) <= set(PROTOCOLS):
        raise ConfigError(f"`{where}.protocols` must list `tcp` and/or `udp`")
    return EgressRule(hosts, _each(body["ports"], f"{where}.ports", _port), protocols)


def _fields(raw: object, where: str, keys: tuple[str, ...]) -> dict[str, object]:
    label = f"`{where}`" if where else "the file"
    if not isinstance(raw, dict):
        raise ConfigError(f"{label} must be an object")
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise ConfigError(f"{label} has unknown field `{unknown[0]}`")
    missing = sorted(set(keys) - set(raw))
    if missing:
        raise ConfigError(f"{label} lacks field `{missing[0]}`")
    return {str(k): v for k, v in raw.items()}


def _each(raw: object, where: str, item: Callable[[object, str], T]) -> tuple[T, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"`{where}` must be a list")
    return tuple(item(value, f"{where}[{i}]") for i, value in enumerate(raw))


def _string(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise ConfigError(f"`{where}` must be a non-empty string")
    return raw


def _pattern(raw: object, where: str) -> str:
    text = _string(raw, where)
    if classify(text) is None or normalise(text) != text:
        raise ConfigError(f"`{where}` must be a host pattern in its normal form, not `{text}`")
    return text


def _port(raw: object, where: str) -> int:
    if type(raw) is not int or not 1 <= raw <= 65535:
        raise ConfigError(f"`{where}` must be a port number from 1 to 65535, not {raw!r}")
    return raw


def _socket_path(raw: object, where: str) -> str:
    path = _string(raw, where)
    if not path.startswith("/") or len(path.encode("utf-8", "surrogateescape")) > SUN_PATH_MAX:
        raise ConfigError(f"`{where}` must be an absolute path of at most {SUN_PATH_MAX} bytes")
    return path


def _is_loopback(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


__all__ = [
    "MAX_BYTES",
    "PROTOCOLS",
    "VERSION",
    "ConfigError",
    "Egress",
    "EgressRule",
    "GateConfig",
    "HostRule",
    "HostRules",
    "Ingress",
]
