"""Feature area: transports (features/transports.feature), on real Docker and Podman.

Servers are started the way a user starts them, with `mcp-lok start` (the installed console
script), and driven through the proxy it prints: the official MCP Python SDK client for MCP,
raw HTTP for the guard and `/health`. The isolation scenarios look inside the *running*
server's container with the engine's own `exec` (same namespaces, cgroup, user,
capabilities, seccomp and no_new_privs as the server), running small Python snippets.
Every server is removed by name afterwards (`lok_servers` in conftest).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import docker
import pytest
from pytest_bdd import parsers, scenarios, then, when

from .conftest import World, lok_list, proxy_auth, proxy_url, sdk_call, tool_json
from .engines import EngineUnderTest, parse_probe

scenarios("transports.feature")

pytestmark = pytest.mark.timeout(180)  # a safety net: every wait below has its own bound

NOBODY = 65534
MIB = 1 << 20


# --- MCP through the gate ------------------------------------------------------------------


@then(
    parsers.parse(
        "`tools/call whoami {{}}` reports uid {uid:d}, no effective capability "
        "and only the interface lo"
    )
)
def whoami_reports(world: World, uid: int) -> None:
    facts = tool_json(sdk_call(world, "whoami", "{}"))
    assert facts["uid"] == facts["euid"] == uid, facts
    assert facts["gid"] == facts["egid"] == uid, facts
    if "cap_eff" in facts:
        assert int(facts["cap_eff"], 16) == 0, facts
    assert facts["interfaces"] == ["lo"], facts
    assert facts["root_writable"] is False, facts


# --- the proxy's guard, raw ----------------------------------------------------------------

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-e2e", "version": "0"},
    },
}


def post_initialize(world: World, headers: dict[str, str]) -> int:
    """POST a raw `initialize` to the proxy's /mcp, with its bearer token and extra
    `headers`; the status."""
    request = urllib.request.Request(
        proxy_url(world, "/mcp"),
        data=json.dumps(INITIALIZE).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **proxy_auth(world),
            **headers,  # an explicit Host replaces the one urllib would send
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        refused.close()
        return int(refused.code)


def proxy_port(world: World) -> int:
    return int(proxy_url(world, "/mcp").removesuffix("/mcp").rsplit(":", 1)[1])


@when(parsers.parse('a raw `initialize` is posted to the proxy\'s /mcp with the Origin "{origin}"'))
def post_with_origin(world: World, origin: str) -> None:
    world["status"] = post_initialize(world, {"Origin": origin})


@when(
    parsers.parse(
        'a raw `initialize` is posted to the proxy\'s /mcp with the Host "{host}" '
        "and the proxy's port"
    )
)
def post_with_host(world: World, host: str) -> None:
    # what a DNS-rebinding page sends: its own name, resolved to 127.0.0.1, on our port
    world["status"] = post_initialize(world, {"Host": f"{host}:{proxy_port(world)}"})


@when("a raw `initialize` is posted to the proxy's /mcp with the proxy's own Origin")
def post_with_own_origin(world: World) -> None:
    world["status"] = post_initialize(world, {"Origin": f"http://127.0.0.1:{proxy_port(world)}"})


@then(parsers.parse("the proxy answers it {status:d}"))
def proxy_answers(world: World, status: int) -> None:
    assert world["status"] == status


# --- /health -------------------------------------------------------------------------------


def health(world: World) -> tuple[int, dict[str, Any]]:
    url = proxy_url(world, "/mcp").removesuffix("/mcp") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status), dict(json.loads(answer.read()))
    except urllib.error.HTTPError as failed:
        with failed:
            return int(failed.code), dict(json.loads(failed.read()))


@then(parsers.parse("the proxy's /health answers {status:d}"))
def health_answers(world: World, status: int) -> None:
    seen, about = health(world)
    assert seen == status, about
    assert about["name"] == world["name"], about


@when("the engine kills the server's container")
def engine_kills(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    container = world["container"]
    labels = engine.inspect(container)["Config"]["Labels"]
    assert labels.get("mcp-lok-name") == world["name"], labels
    assert labels.get("mcp-lok-role", "server") == "server", labels  # not the gate
    engine.api.kill(container)


@then(parsers.parse("the proxy's /health answers {status:d} within {seconds:d} seconds"))
def health_turns(world: World, status: int, seconds: int) -> None:
    deadline = time.monotonic() + seconds
    while True:
        seen, about = health(world)
        if seen == status or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen == status, about
    assert about["status"] == "unavailable", about


@then(parsers.parse('`mcp-lok list --all` reports it "{status}"'))
def list_reports(world: World, status: str) -> None:
    row = lok_list()[world["name"]]
    assert row["status"] == status, row


# --- inside the running server's container, through the engine's exec ---------------------


def exec_python(world: World, code: str) -> dict[str, Any]:
    """Run `python3 -c code` in the running server's container with the engine's exec (as
    the container's user); the JSON line it prints. Bounded by the snippet's own deadline
    and the engine client's timeout."""
    engine: EngineUnderTest = world["engine"]
    try:
        created = engine.api.exec_create(world["container"], ["python3", "-c", code])
    except docker.errors.APIError as error:
        # say why the container is not running: its state and the end of its log
        state = engine.api.inspect_container(world["container"])["State"]
        tail = engine.api.logs(world["container"], tail=20).decode(errors="replace")
        raise AssertionError(f"{error}\nstate: {state}\nlog:\n{tail}") from error
    out, err = engine.api.exec_start(created["Id"], demux=True)
    exit_code = engine.api.exec_inspect(created["Id"])["ExitCode"]
    assert exit_code == 0, f"exec exited {exit_code}: {(err or b'').decode()}"
    return parse_probe((out or b"").decode())


LOOK_AROUND = r"""
import errno, json, os, socket

def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields

def server_pid():
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    argv = handle.read().split(b"\0")
            except OSError:
                continue
            if b"mcp_server_time" in argv:
                return int(entry)
    return None

try:
    with open("/.mcp-lok-probe", "w") as handle:
        handle.write("x")
    root_write = 0
except OSError as error:
    root_write = error.errno

root_options = None
with open("/proc/self/mountinfo") as handle:
    for line in handle:
        fields = line.split()
        if fields[4] == "/":
            root_options = fields[5].split(",")

me, pid = status("self"), server_pid()
server = status(pid) if pid else {}
print(json.dumps({
    "uid": me["Uid"], "gid": me["Gid"], "groups": me.get("Groups", []),
    "cap_eff": me["CapEff"][0],
    "server_pid": pid,
    "server_uid": server.get("Uid"), "server_gid": server.get("Gid"),
    "server_groups": server.get("Groups"),
    "server_cap_eff": server.get("CapEff", [None])[0],
    "root_write_errno": root_write, "erofs": errno.EROFS, "root_options": root_options,
    "interfaces": sorted(name for _, name in socket.if_nameindex()),
    "sys_class_net": sorted(os.listdir("/sys/class/net")),
}))
"""


@when("I look around inside its running container through the engine's exec")
def look_around(world: World) -> None:
    world["inside"] = exec_python(world, LOOK_AROUND)
    assert world["inside"]["server_pid"] is not None, "no mcp_server_time process in there"


@then("there no capability is effective, for the exec'd process and for the server")
def inside_no_caps(world: World) -> None:
    inside = world["inside"]
    assert int(inside["cap_eff"], 16) == 0, inside
    assert int(inside["server_cap_eff"], 16) == 0, inside


@then("there the root filesystem is read-only")
def inside_read_only(world: World) -> None:
    inside = world["inside"]
    assert inside["root_write_errno"] == inside["erofs"], inside  # EROFS, not just EACCES
    assert "ro" in inside["root_options"], inside


@then("there neither the exec'd process nor the server runs as root")
def inside_not_root(world: World) -> None:
    inside = world["inside"]
    # real, effective, saved and filesystem ids, all of them
    for ids in (inside["uid"], inside["gid"], inside["server_uid"], inside["server_gid"]):
        assert ids == [str(NOBODY)] * 4, inside
    assert "0" not in inside["groups"], inside
    assert "0" not in inside["server_groups"], inside


@then("there the only network interface is lo")
def inside_only_lo(world: World) -> None:
    inside = world["inside"]
    assert inside["interfaces"] == ["lo"], inside
    assert inside["sys_class_net"] == ["lo"], inside


# the bomb: fork children that sleep (and exit by themselves after 5 s) until fork fails;
# at most 300 children and 20 s, then every child is killed and reaped before reporting
FORK_BOMB = r"""
import errno, json, os, signal, time
forks, failed, children = 0, None, []
deadline = time.monotonic() + 20
try:
    while forks < 300 and time.monotonic() < deadline:
        try:
            pid = os.fork()
        except OSError as error:
            failed = error.errno
            break
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        children.append(pid)
        forks += 1
finally:
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
print(json.dumps({"forks": forks, "errno": failed, "eagain": errno.EAGAIN}))
"""


@when("a fork bomb runs inside its container through the engine's exec")
def fork_bomb(world: World) -> None:
    began = time.monotonic()
    world["bomb"] = exec_python(world, FORK_BOMB)
    world["bomb"]["seconds"] = round(time.monotonic() - began, 2)


@then(parsers.parse("forking failed with EAGAIN before {limit:d} processes"))
def bomb_stopped(world: World, limit: int) -> None:
    bomb = world["bomb"]
    assert bomb["errno"] == bomb["eagain"], bomb
    assert 0 < bomb["forks"] < limit, bomb


@then("the host still starts processes, the engine still answers, and so does the container")
def host_unaffected(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    assert subprocess.run(["true"], timeout=10, check=False).returncode == 0
    engine.api.version()
    assert exec_python(world, "print('{\"alive\": true}')") == {"alive": True}


# the hog: a child process that allocates (and touches) 64 MiB more at each step, up to
# 1 GiB, printing how much it holds after each step; bounded to 60 s
MEMORY_HOG = r'''
import json, subprocess, sys
CHILD = """
import sys
held = []
try:
    for step in range(1, 17):
        held.append(b"\\x01" * (64 << 20))
        print(step * 64, flush=True)
except MemoryError:
    print("MemoryError", flush=True)
    sys.exit(3)
"""
child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
lines = child.stdout.split()
print(json.dumps({
    "returncode": child.returncode,
    "held_mib": [int(line) for line in lines if line.isdigit()],
    "memory_error": "MemoryError" in lines,
}))
'''


@when("a process inside its container allocates memory in 64 MiB steps up to 1 GiB")
def memory_hog(world: World) -> None:
    world["hog"] = exec_python(world, MEMORY_HOG)


@then(parsers.parse("it was killed or got a MemoryError, never holding more than {cap:d} MiB"))
def hog_stopped(world: World, cap: int) -> None:
    hog = world["hog"]
    sigkill = -9
    assert hog["returncode"] == sigkill or hog["memory_error"], hog
    peak = max(hog["held_mib"], default=0)
    assert peak <= cap, hog
    # and the cap is the one set, not a much smaller one: it got within three steps of it
    assert peak >= cap - 3 * 64, hog
