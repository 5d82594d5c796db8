"""Feature area: permission profiles and isolation (features/permissions.feature)."""

from __future__ import annotations

import json
from typing import Any

from pytest_bdd import parsers, scenarios, then

from .conftest import World
from .engines import HARDENED_FIELDS, EngineUnderTest

scenarios("permissions.feature")

# Podman's inspect lists its own default set one by one instead of `ALL` (docs/audit.md)
PODMAN_DEFAULT_CAPS = {
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}


@then("the engine's inspect agrees with every hardened field of the payload")
def inspect_agrees(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    body: dict[str, Any] = world["plan"]["container"]
    seen = engine.inspect(world["container"])
    want, host = body["HostConfig"], seen["HostConfig"]
    for key in HARDENED_FIELDS:
        assert host[key] == want[key], (key, host[key], want[key])
    assert seen["Config"]["User"] == body["User"]
    for label, value in body["Labels"].items():
        assert seen["Config"]["Labels"][label] == value
    # Docker reports the drop as written; Podman lists every dropped capability
    dropped = host["CapDrop"]
    assert dropped == ["ALL"] or set(dropped) >= PODMAN_DEFAULT_CAPS, dropped
    assert not host.get("CapAdd")
    assert any(opt.startswith("no-new-privileges") for opt in host["SecurityOpt"])
    # Podman reports `RLIMIT_NOFILE` for `nofile`
    ulimits = {
        u["Name"].removeprefix("RLIMIT_").lower(): (u["Soft"], u["Hard"]) for u in host["Ulimits"]
    }
    for ulimit in want["Ulimits"]:
        assert ulimits[ulimit["Name"]] == (ulimit["Soft"], ulimit["Hard"])
    mounts = {m["Destination"]: m for m in seen["Mounts"]}
    for mount in want["Mounts"]:
        assert mounts[mount["Target"]]["Source"] == mount["Source"]
        assert mounts[mount["Target"]]["RW"] is (not mount["ReadOnly"])
    if engine.name == "docker":
        # Docker keeps what it was sent: the inline seccomp profile is the compiled one
        assert host["SecurityOpt"] == want["SecurityOpt"]
        assert host["Tmpfs"] == want["Tmpfs"]
    else:
        # Podman adds writable tmpfs on /run and /var/tmp to a read-only root (docs/audit.md),
        # and appends its own options to ours
        for target, options in want["Tmpfs"].items():
            assert host["Tmpfs"][target].startswith(options), (target, host["Tmpfs"][target])


def probe(world: World) -> dict[str, Any]:
    result: dict[str, Any] = world["probe"]
    return result


@then(parsers.parse("inside the container the user is {uid:d}"))
def user_is(world: World, uid: int) -> None:
    assert probe(world)["uid"] == uid


@then("inside the container no capability is effective")
def no_caps(world: World) -> None:
    assert int(probe(world)["cap_eff"], 16) == 0


@then("inside the container the root filesystem is read-only")
def root_read_only(world: World) -> None:
    assert probe(world)["root_writable"] is False


@then("inside the container every writable scratch space is noexec and nosuid")
def scratch_noexec(world: World) -> None:
    scratch = probe(world)["scratch"]
    writable = {path: entry for path, entry in scratch.items() if entry["writable"]}
    assert "/tmp" in writable, scratch
    for path, entry in writable.items():
        assert entry["options"] is not None, f"{path} is writable but not a mount: {scratch}"
        assert {"noexec", "nosuid"} <= set(entry["options"]), (path, entry)


@then("inside the container the only network interface is lo")
def only_lo(world: World) -> None:
    assert probe(world)["interfaces"] == ["lo"]


@then("inside the container no_new_privs is set and seccomp filters system calls")
def nnp_and_seccomp(world: World) -> None:
    assert probe(world)["no_new_privs"] == "1"
    assert probe(world)["seccomp"] == "2"  # SECCOMP_MODE_FILTER


@then("inside the container a new user namespace is refused")
def no_userns(world: World) -> None:
    report = probe(world)
    assert report["unshare_user_ns"] is False
    assert report["unshare_errno"] == 1  # EPERM, from the seccomp profile


@then(parsers.parse('inside the container "{path}" is readable'))
def readable(world: World, path: str) -> None:
    assert probe(world)["paths"][path]["content"] == "hello from the host"


@then(parsers.parse('inside the container "{path}" is not writable'))
def not_writable(world: World, path: str) -> None:
    entry = probe(world)["paths"][path]
    assert entry["exists"]
    assert entry["writable"] is False


@then(parsers.parse('inside the container "{path}" is writable'))
def is_writable(world: World, path: str) -> None:
    assert probe(world)["paths"][path]["writable"] is True


@then(parsers.parse('inside the container "{path}" is empty'))
def is_empty(world: World, path: str) -> None:
    entry = probe(world)["paths"][path]
    assert entry["exists"], json.dumps(entry)
    assert entry["entries"] == [], json.dumps(entry)


@then(parsers.parse("inside the container the memory limit is {mib:d} MiB"))
def memory_limit(world: World, mib: int) -> None:
    assert int(probe(world)["memory_max"]) == mib * 1024 * 1024


@then(parsers.parse("inside the container the pids limit is {pids:d}"))
def pids_limit(world: World, pids: int) -> None:
    assert int(probe(world)["pids_max"]) == pids
