"""One comparable view of a container, built from its plan or from the engine's inspect.

Docker and Podman report the same container differently, and neither reports it the way
the create body said it (all measured on Docker 20.10 and Podman 4.3's compat API):

- capabilities: Docker echoes `CapDrop: ["ALL"]`; Podman lists the dropped ones one by one,
  relative to Docker's default set, and `CapAdd` only beyond that set — so both become
  the set of capabilities the process actually holds;
- `no-new-privileges:true` comes back as `no-new-privileges` from Podman; Docker echoes the
  inline seccomp JSON, Podman the profile's path;
- Podman appends `rprivate,tmpcopyup` to tmpfs options, names ulimits `RLIMIT_NOFILE`,
  reports the PID, UTS and IPC namespaces as `private`/`shareable` where Docker says `""`,
  prefixes local images with `localhost/`, reports `NetworkMode: bridge` for a named
  network, omits `Sysctls` and the attach flags, and lists bind mounts only as `Binds`;
- both merge the image's environment and labels into `Config`, and Podman adds `TERM`,
  `container` and `HOSTNAME`;
- Podman 4.3 keeps reporting the create-time `Memory`, `NanoCpus` and `PidsLimit` after
  `podman update` changed the cgroup, so live cgroup limits (read by the caller) win.

A view maps field names in the plan trace's notation (`HostConfig.Memory`,
`HostConfig.Tmpfs[/tmp]`, `Env[HOME]`) to plain JSON values. Pure: no engine, no policy
IR, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

DOCKER = "docker"
PODMAN = "podman"

# Docker's default capability set: what a container holds when `CapDrop` lacks `ALL`.
# Podman's compat inspect reports its own capabilities relative to this same set.
DEFAULT_CAPS: Final = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
# Podman's own default set (containers.conf), measured: Docker's without these three
PODMAN_DEFAULT_CAPS: Final = DEFAULT_CAPS - {"AUDIT_WRITE", "MKNOD", "NET_RAW"}
# tmpfs options an engine adds on its own, which say nothing about the mount's safety
_ENGINE_TMPFS_OPTIONS: Final = frozenset({"rprivate", "tmpcopyup"})
# environment variables Podman sets in every container
_ENGINE_ENV: Final = {PODMAN: frozenset({"TERM", "container", "HOSTNAME"}), DOCKER: frozenset()}
_NAMESPACES: Final = ("PidMode", "UTSMode", "UsernsMode", "IpcMode")
_IMAGE_PREFIXES: Final = ("localhost/", "docker.io/library/", "docker.io/")
# fields a plan never sets but whose engine default is part of the baseline's promise
IMPLICIT: Final[Mapping[str, Any]] = {
    "HostConfig.PidMode": "private",
    "HostConfig.UTSMode": "private",
    "HostConfig.UsernsMode": "private",
    "HostConfig.PublishAllPorts": False,
    "HostConfig.PortBindings": [],
    "HostConfig.Devices": [],
}


@dataclass(frozen=True)
class View:
    """A container's security-relevant settings, comparable across engines.

    `fields` maps a field to its value; `extras` lists what the engine merged in from the
    image or added itself (allowed `Env`/`Labels` names), and `unreported` names fields
    this engine does not report, so they can be neither compared nor trusted."""

    fields: dict[str, Any]
    unreported: frozenset[str] = frozenset()
    extras: frozenset[str] = field(default=frozenset())


def image_name(image: str) -> str:
    """An image reference as both engines agree on it: Podman reports
    `localhost/x:latest` for what Docker reports as `x` (the name as given)."""
    for prefix in _IMAGE_PREFIXES:
        if image.startswith(prefix):
            image = image[len(prefix) :]
            break
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in last or not image else f"{image}:latest"


def seccomp_value(value: str) -> str:
    """An inline JSON profile becomes a digest of its canonical JSON (Docker echoes the
    JSON, perhaps reformatted); a path or `unconfined` stays as it is."""
    if value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return "inline:unparseable"
        canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"))
        return "inline:sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return value


def capabilities(
    add: Sequence[str] | None, drop: Sequence[str] | None, privileged: bool
) -> set[str]:
    """The capabilities the container's process holds."""
    if privileged:
        return {"ALL"}
    dropped = {_cap(c) for c in drop or ()}
    held = set() if "ALL" in dropped else set(DEFAULT_CAPS - dropped)
    return held | {_cap(c) for c in add or ()}


def _cap(name: str) -> str:
    return name.upper().removeprefix("CAP_")


def namespace(mode: str | None) -> str:
    """`""`, `private` and `shareable` all mean the container's own namespace."""
    return "private" if mode in (None, "", "private", "shareable") else mode


def tmpfs_options(options: str) -> list[str]:
    return sorted({o for o in options.split(",") if o and o not in _ENGINE_TMPFS_OPTIONS})


def ulimit_name(name: str) -> str:
    return name.lower().removeprefix("rlimit_")


def security_options(options: Sequence[str] | None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "HostConfig.SecurityOpt[no-new-privileges]": False,
        "HostConfig.SecurityOpt[seccomp]": "engine default",
    }
    for option in options or ():
        if option in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
            found["HostConfig.SecurityOpt[no-new-privileges]"] = True
        elif option.startswith(("no-new-privileges:", "no-new-privileges=")):
            found["HostConfig.SecurityOpt[no-new-privileges]"] = False
        elif option.startswith(("seccomp=", "seccomp:")):
            found["HostConfig.SecurityOpt[seccomp]"] = seccomp_value(option[len("seccomp=") :])
        else:
            found[f"HostConfig.SecurityOpt[{option}]"] = True
    return found


def _entries(prefix: str, items: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}[{key}]": value for key, value in items.items()}


def _env(entries: Sequence[str] | None) -> dict[str, str]:
    pairs = (e.partition("=") for e in entries or ())
    return {name: value for name, _, value in pairs}


def _ports(bindings: Mapping[str, Any] | None) -> list[str]:
    """`HostConfig.PortBindings` as `hostip:hostport->port/proto`, unbound ports left out
    (Podman lists an exposed but unpublished port with `null`)."""
    found = []
    for port, hosts in (bindings or {}).items():
        for host in hosts or ():
            found.append(f"{host.get('HostIp') or '0.0.0.0'}:{host.get('HostPort', '')}->{port}")  # noqa: S104 (the engine's meaning of no address)
    return sorted(found)


def network_fields(mode: str, networks: Sequence[str]) -> dict[str, Any]:
    """`none`, `host` and `container:…` are modes; a named network is a membership, which
    is how both engines report it (Podman says `bridge` in `NetworkMode`)."""
    named = sorted(n for n in networks if n != "none")
    if mode in ("none", "host", "") or mode.startswith("container:"):
        return {"HostConfig.NetworkMode": mode or "none", "Networks": named}
    return {"HostConfig.NetworkMode": "network", "Networks": named}


# --- from a plan ------------------------------------------------------------------------


def plan_view(body: Mapping[str, Any], engine: str) -> View:
    """What the create body `body` promises, as the engine should report it."""
    host = body["HostConfig"]
    fields = _config_fields(body, engine)
    if "Cmd" in body:
        fields["Cmd"] = list(body["Cmd"])
    mode = host.get("NetworkMode") or "none"
    named = [] if mode in ("none", "host") or mode.startswith("container:") else [mode]
    fields |= _host_fields(host, list(host.get("Mounts", [])), named)
    # set by plans since mcp-lok named it; an older plan leaves it to the engine
    if "ShmSize" in host:
        fields["HostConfig.ShmSize"] = int(host["ShmSize"])
    for key, value in IMPLICIT.items():
        fields.setdefault(key, value)
    unreported = frozenset({k for k in fields if k.startswith("HostConfig.Sysctls")})
    return View(fields, unreported if engine == PODMAN else frozenset())


def _config_fields(config: Mapping[str, Any], engine: str) -> dict[str, Any]:
    """The process fields: a create body's top level, or inspect's `Config` (Podman
    reports the attach flags as false whatever was asked, so they count on Docker only)."""
    fields: dict[str, Any] = {
        "Image": image_name(config.get("Image") or ""),
        "User": config.get("User") or "",
        "OpenStdin": bool(config.get("OpenStdin")),
        "StdinOnce": bool(config.get("StdinOnce")),
        "Tty": bool(config.get("Tty")),
    }
    if engine == DOCKER:
        fields |= {k: bool(config.get(k)) for k in ("AttachStdin", "AttachStdout", "AttachStderr")}
    fields |= _entries("Env", _env(config.get("Env")))
    fields |= _entries("Labels", config.get("Labels") or {})
    return fields


def _host_fields(
    host: Mapping[str, Any], mounts: Sequence[Mapping[str, Any]], networks: list[str]
) -> dict[str, Any]:
    """The `HostConfig` fields both views share. `mounts` are create-body `Mounts`."""
    privileged = bool(host.get("Privileged"))
    fields: dict[str, Any] = {
        "HostConfig.Privileged": privileged,
        "HostConfig.ReadonlyRootfs": bool(host.get("ReadonlyRootfs")),
        "HostConfig.Memory": int(host.get("Memory") or 0),
        "HostConfig.MemorySwap": int(host.get("MemorySwap") or 0),
        "HostConfig.NanoCpus": int(host.get("NanoCpus") or 0),
        "HostConfig.PidsLimit": int(host.get("PidsLimit") or 0),
        "HostConfig.RestartPolicy": _restart(host.get("RestartPolicy")),
    }
    caps = capabilities(host.get("CapAdd"), host.get("CapDrop"), privileged)
    fields |= {f"HostConfig.Capabilities[{c}]": True for c in sorted(caps)}
    fields |= {f"HostConfig.{ns}": namespace(host.get(ns)) for ns in _NAMESPACES}
    fields |= security_options(host.get("SecurityOpt"))
    tmpfs = {t: tmpfs_options(o) for t, o in (host.get("Tmpfs") or {}).items()}
    fields |= _entries("HostConfig.Tmpfs", tmpfs)
    limits = {ulimit_name(u["Name"]): [u["Soft"], u["Hard"]] for u in host.get("Ulimits") or ()}
    fields |= _entries("HostConfig.Ulimits", limits)
    fields |= _entries("HostConfig.Sysctls", host.get("Sysctls") or {})
    fields |= _entries("HostConfig.Mounts", {m["Target"]: _mount(m) for m in mounts})
    fields |= network_fields(host.get("NetworkMode") or "none", networks)
    if "PortBindings" in host:
        fields["HostConfig.PortBindings"] = _ports(host.get("PortBindings"))
    if "PublishAllPorts" in host:
        fields["HostConfig.PublishAllPorts"] = bool(host.get("PublishAllPorts"))
    if "Devices" in host:
        fields["HostConfig.Devices"] = _devices(host.get("Devices"))
    fields["HostConfig.Init"] = bool(host.get("Init"))
    return fields


def _devices(devices: Sequence[Mapping[str, str]] | None) -> list[str]:
    return sorted(f"{d['PathOnHost']}:{d['PathInContainer']}" for d in devices or ())


def _mount(spec: Mapping[str, Any]) -> dict[str, Any]:
    propagation = (spec.get("BindOptions") or {}).get("Propagation") or "rprivate"
    return {
        "Source": spec["Source"],
        "ReadOnly": bool(spec.get("ReadOnly")),
        "Propagation": propagation,
    }


def _restart(policy: Mapping[str, Any] | None) -> str:
    name = (policy or {}).get("Name") or "no"
    retries = (policy or {}).get("MaximumRetryCount") or 0
    return f"{name}:{retries}" if name == "on-failure" else str(name)


# --- from inspect -----------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """Limits read from the container's cgroup (None where they could not be read)."""

    memory: int | None = None
    nano_cpus: int | None = None
    pids: int | None = None


def inspect_view(
    inspect: Mapping[str, Any],
    engine: str,
    *,
    image: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
    live: Live | None = None,
) -> View:
    """What the engine reports for a container (`GET /containers/{id}/json`). `image` is
    the image's `Config` (its `Env` and `Labels` are not the container's doing); `names`
    maps container ids to names, so `container:<id>` reads as the plan wrote it."""
    config, host = inspect.get("Config") or {}, inspect.get("HostConfig") or {}
    fields = _config_fields(config, engine)
    fields["Cmd"] = list(config.get("Cmd") or [])
    settings = inspect.get("NetworkSettings") or {}
    mode = host.get("NetworkMode") or "none"
    if mode.startswith("container:") and names:
        mode = "container:" + names.get(mode[len("container:") :], mode[len("container:") :])
    mounts = [
        _reported_mount(m)
        for m in inspect.get("Mounts") or ()
        if m.get("Type") in ("bind", "volume")
    ]
    networks = list(settings.get("Networks") or {})
    fields |= _host_fields({**host, "NetworkMode": mode}, mounts, networks)
    fields["HostConfig.PortBindings"] = sorted(
        set(_ports(host.get("PortBindings"))) | set(_ports(settings.get("Ports")))
    )
    fields["HostConfig.PublishAllPorts"] = bool(host.get("PublishAllPorts"))
    fields["HostConfig.Devices"] = _devices(host.get("Devices"))
    fields["HostConfig.ShmSize"] = int(host.get("ShmSize") or 0)
    if live is not None:
        _apply_live(fields, live)
    return View(fields, _unreported(engine), _extras(engine, image))


def _reported_mount(mount: Mapping[str, Any]) -> dict[str, Any]:
    """Inspect's top-level `Mounts` entry in the create body's shape (both engines fill it
    the same way; Podman has no `HostConfig.Mounts`)."""
    return {
        "Source": mount.get("Source", ""),
        "Target": mount.get("Destination", ""),
        "ReadOnly": not mount.get("RW", True),
        "BindOptions": {"Propagation": mount.get("Propagation") or "rprivate"},
    }


def _apply_live(fields: dict[str, Any], live: Live) -> None:
    for key, value in (
        ("HostConfig.Memory", live.memory),
        ("HostConfig.NanoCpus", live.nano_cpus),
        ("HostConfig.PidsLimit", live.pids),
    ):
        if value is not None:
            fields[key] = value


def _unreported(engine: str) -> frozenset[str]:
    return frozenset({"HostConfig.Sysctls"}) if engine == PODMAN else frozenset()


def _extras(engine: str, image: Mapping[str, Any] | None) -> frozenset[str]:
    """`Env[NAME]` and `Labels[KEY]` entries the image or the engine put there."""
    config = image or {}
    env = set(_env(config.get("Env"))) | _ENGINE_ENV.get(engine, frozenset())
    labels = set(config.get("Labels") or {})
    return frozenset({f"Env[{n}]" for n in env} | {f"Labels[{k}]" for k in labels})


__all__ = [
    "DEFAULT_CAPS",
    "IMPLICIT",
    "PODMAN_DEFAULT_CAPS",
    "Live",
    "View",
    "capabilities",
    "image_name",
    "inspect_view",
    "namespace",
    "network_fields",
    "plan_view",
    "seccomp_value",
    "security_options",
    "tmpfs_options",
    "ulimit_name",
]
