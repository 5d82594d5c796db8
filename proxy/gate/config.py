"""The gate's config: `gate.json` as the launcher wrote it (`policy/lower/gate.py` builds
it), validated field by field. Unknown or missing fields are errors, so a gate never runs a
config it half understands."""

from __future__ import annotations

import ipaddress
import json
import os
import stat
from dataclasses import dataclass

VERSION = 1
MAX_CONFIG_BYTES = 1024 * 1024
SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes, the last one NUL


class ConfigError(ValueError):
    """The gate's config is unreadable or invalid; the message names the field."""


@dataclass(frozen=True, slots=True)
class Ingress:
    socket: str  # where the host connects, inside the gate's mount
    port: int  # where the server listens, on the shared loopback


@dataclass(frozen=True, slots=True)
class EgressRule:
    hosts: tuple[str, ...]
    ports: tuple[int, ...]
    transports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Egress:
    socket: str
    dns: str
    proxy: tuple[str, int]
    rules: tuple[EgressRule, ...]
    deny_hosts: tuple[str, ...]
    deny_ports: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    ingress: Ingress | None
    egress: Egress | None


def parse_config(raw: object) -> Config:
    """Validate a decoded `gate.json`; unknown or missing fields are errors."""
    top = _object(raw, "", {"version", "name", "ingress", "egress"})
    version = top["version"]
    if type(version) is not int or version != VERSION:
        raise ConfigError(f"`version` must be {VERSION}, not {version!r}")
    name = _string(top["name"], "name")
    ingress = None if top["ingress"] is None else _ingress(top["ingress"])
    egress = None if top["egress"] is None else _egress(top["egress"])
    if ingress is None and egress is None:
        raise ConfigError("neither `ingress` nor `egress` is set: the gate would serve nothing")
    return Config(name, ingress, egress)


def load_config(path: str) -> Config:
    try:
        # non-blocking, so a FIFO in the config's place cannot hang the gate
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError(f"`{path}` is not a regular file")
            data = os.read(fd, MAX_CONFIG_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as error:
        raise ConfigError(f"cannot read `{path}`: {error.strerror}") from error
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"`{path}` is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"`{path}` is not JSON: {error}") from error
    return parse_config(raw)


def _ingress(raw: object) -> Ingress:
    body = _object(raw, "ingress", {"socket", "port"})
    return Ingress(
        _socket_path(body["socket"], "ingress.socket"), _port(body["port"], "ingress.port")
    )


def _egress(raw: object) -> Egress:
    keys = {"socket", "dns", "proxy", "rules", "deny_hosts", "deny_ports"}
    body = _object(raw, "egress", keys)
    dns = _string(body["dns"], "egress.dns")
    if not _is_loopback(dns):
        raise ConfigError(f"`egress.dns` must be a loopback address, not `{dns}`")
    proxy = _string(body["proxy"], "egress.proxy")
    host, _, port = proxy.rpartition(":")
    if not _is_loopback(host) or not port.isdigit():
        raise ConfigError(f"`egress.proxy` must be a loopback `address:port`, not `{proxy}`")
    rules = tuple(
        _rule(r, f"egress.rules[{i}]") for i, r in enumerate(_list(body["rules"], "egress.rules"))
    )
    return Egress(
        socket=_socket_path(body["socket"], "egress.socket"),
        dns=dns,
        proxy=(host, _port(int(port), "egress.proxy")),
        rules=rules,
        deny_hosts=tuple(
            _string(h, "egress.deny_hosts[]")
            for h in _list(body["deny_hosts"], "egress.deny_hosts")
        ),
        deny_ports=tuple(
            _port(p, "egress.deny_ports[]") for p in _list(body["deny_ports"], "egress.deny_ports")
        ),
    )


def _rule(raw: object, where: str) -> EgressRule:
    body = _object(raw, where, {"hosts", "ports", "transports"})
    hosts = tuple(_string(h, f"{where}.hosts[]") for h in _list(body["hosts"], f"{where}.hosts"))
    if not hosts:
        raise ConfigError(f"`{where}.hosts` is empty")
    transports = tuple(
        _string(t, f"{where}.transports[]")
        for t in _list(body["transports"], f"{where}.transports")
    )
    if not transports or not set(transports) <= {"tcp", "udp"}:
        raise ConfigError(f"`{where}.transports` must list `tcp` and/or `udp`")
    ports = tuple(_port(p, f"{where}.ports[]") for p in _list(body["ports"], f"{where}.ports"))
    return EgressRule(hosts, ports, transports)


def _object(raw: object, where: str, keys: set[str]) -> dict[str, object]:
    label = f"`{where}`" if where else "the config"
    if not isinstance(raw, dict):
        raise ConfigError(f"{label} must be an object")
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise ConfigError(f"{label} has unknown field `{unknown[0]}`")
    missing = sorted(keys - set(raw))
    if missing:
        raise ConfigError(f"{label} lacks field `{missing[0]}`")
    return {str(k): v for k, v in raw.items()}


def _list(raw: object, where: str) -> list[object]:
    if not isinstance(raw, list):
        raise ConfigError(f"`{where}` must be a list")
    return list(raw)


def _string(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise ConfigError(f"`{where}` must be a non-empty string")
    return raw


def _port(raw: object, where: str) -> int:
    if type(raw) is not int or not 1 <= raw <= 65535:
        raise ConfigError(f"`{where}` must be a port number from 1 to 65535, not {raw!r}")
    return raw


def _socket_path(raw: object, where: str) -> str:
    path = _string(raw, where)
    if not path.startswith("/") or len(os.fsencode(path)) > SUN_PATH_MAX:
        raise ConfigError(f"`{where}` must be an absolute path of at most {SUN_PATH_MAX} bytes")
    return path


def _is_loopback(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False
