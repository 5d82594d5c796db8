"""Feature area: permission profiles and isolation — the escape matrix (features/escape.feature).

The attacker is `probe.py --attack`, run as the server's own command by `mcp-lok start`; it
writes its report into the server's write mount. Destinations the policy allows are played
by a test service in a container this test creates, on a network this test creates; their
names resolve through `MCP_LOK_TEST_RESOLVE`, which only this harness sets.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from mcp_lok.proxy.hostaddr import own_addresses

from .conftest import MCP_LOK, PROBE, World, image_required, lok_start, mcp_lok
from .engines import PROBE_IMAGE, EngineUnderTest, unique_name

scenarios("escape.feature")

pytestmark = pytest.mark.timeout(300)  # a safety net: every wait below has its own bound

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "seed-example.json"
MIB = 1024 * 1024
# the stand-in's protocols: HTTP on 80 and 8000, a line protocol on 443 and 7000, UDP on 443
SERVICE = r"""
import socket, socketserver, threading
class Http(socketserver.StreamRequestHandler):
    def handle(self):
        self.rfile.readline()
        port = self.server.server_address[1]
        self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                         + f"stand-in on {port}\n".encode())
class Line(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"echo: " + self.rfile.readline())
class Udp(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(b"udp: " + data, self.client_address)
socketserver.ThreadingTCPServer.allow_reuse_address = True
servers = [socketserver.ThreadingTCPServer(("0.0.0.0", 80), Http),
           socketserver.ThreadingTCPServer(("0.0.0.0", 8000), Http),
           socketserver.ThreadingTCPServer(("0.0.0.0", 443), Line),
           socketserver.ThreadingTCPServer(("0.0.0.0", 7000), Line),
           socketserver.ThreadingUDPServer(("0.0.0.0", 443), Udp)]
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
"""
HOST_REPLY = b"HOST SERVICE\n"


# --- fixtures: what the scenario creates, removed afterwards by id ------------------------


@pytest.fixture
def networks(engines: dict[str, EngineUnderTest]) -> Iterator[list[tuple[EngineUnderTest, str]]]:
    made: list[tuple[EngineUnderTest, str]] = []
    yield made
    for engine, network in made:
        engine.cleanup()  # its containers first: a network with members cannot go
        with contextlib.suppress(docker.errors.APIError):
            engine.api.remove_network(network)


@pytest.fixture
def host_service() -> Iterator[dict[str, Any]]:
    """A TCP service on every IPv4 and IPv6 address of the host, as a host daemon would be."""
    v4 = socket.create_server(("0.0.0.0", 0))
    port = v4.getsockname()[1]
    listeners = [v4]
    with contextlib.suppress(OSError):
        listeners.append(
            socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=False)
        )
    hits: list[str] = []
    stop = threading.Event()

    def serve(listener: socket.socket) -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                hits.append(str(peer[0]))
                with contextlib.suppress(OSError):
                    conn.sendall(HOST_REPLY)

    threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in listeners]
    for thread in threads:
        thread.start()
    yield {"port": port, "hits": hits}
    stop.set()
    for thread in threads:
        thread.join(2)
    for listener in listeners:
        listener.close()


# --- given ----------------------------------------------------------------------------------


@given(
    parsers.parse(
        'a test service container standing in for "{allowed}", "{tcp_only}" '
        'and the host\'s gateway as "{rebind}"'
    )
)
def service_container(
    world: World,
    networks: list[tuple[EngineUnderTest, str]],
    allowed: str,
    tcp_only: str,
    rebind: str,
) -> None:
    engine: EngineUnderTest = world["engine"]
    name = unique_name("e2e-svc")
    network = engine.api.create_network(name, driver="bridge", labels={"mcp-lok-test": name})
    networks.append((engine, network["Id"]))
    host_config = engine.api.create_host_config(
        network_mode=name,
        ulimits=[
            docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
            docker.types.Ulimit(name="nproc", soft=1024, hard=1024),
        ],
    )
    container = engine.api.create_container(
        PROBE_IMAGE, ["python3", "-c", SERVICE], name=name, host_config=host_config
    )
    engine.created.append(container["Id"])
    engine.api.start(container["Id"])
    seen = engine.inspect(container["Id"])["NetworkSettings"]["Networks"][name]
    address, gateway = seen["IPAddress"], seen["Gateway"]
    assert address, seen
    assert gateway, seen
    _wait_for(address, 80)
    world["service"] = address
    world["gateway"] = gateway
    world["names"] = {"allowed": allowed, "tcp_only": tcp_only, "rebind": rebind}
    world["resolve"] = (
        f"{allowed}={address},{tcp_only}={address},{rebind}={gateway},a.wild.test={address},"
        f"b.c.wild.test={address}"
    )


def _wait_for(address: str, port: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < end, f"the test service at {address}:{port} never answered"
            time.sleep(0.2)


@given("a service listening on every address of the host")
def host_listening(world: World, host_service: dict[str, Any]) -> None:
    world["host_service"] = host_service


@given("another mcp-lok server serving on the host")
def other_server(world: World, lok_servers: list[str]) -> None:
    mine = dict(world)
    lok_start(
        mine, lok_servers, "mcp-lok/http-test-server:latest", "--transport", "streamable-http"
    )
    world["other"] = {"name": mine["name"], "url": mine["started"]["url"]}


@given(parsers.parse('a host file "{relative}" that no rule lets the server read'))
def host_secret(world: World, tmp_path: Path, relative: str) -> None:
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    path.write_text("host secret")
    path.parent.chmod(0o755)
    path.chmod(0o644)  # readable by anyone on the host: only the mount table keeps it out
    world["secret"] = path


@given("the seed's example network profile, extended by:")
def seed_profile(world: World, tmp_path: Path, docstring: str) -> None:
    network = json.loads(SEED.read_text())["network"]  # verbatim, as the seed wrote it
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"read": [], "write": [], "network": network}))
    _write_policy(world, tmp_path, f'extends "{profile}"\n{docstring}')


@given("a policy file:")
def escape_policy(world: World, tmp_path: Path, docstring: str) -> None:
    _write_policy(world, tmp_path, docstring)


def _write_policy(world: World, tmp_path: Path, text: str) -> None:
    values = {k: str(v) for k, v in world.get("folders", {}).items()}
    values["service"] = world["service"]
    path = tmp_path / "policy.lok"
    path.write_text(text.format(**values) + "\n")
    world["source"] = str(path)
    world["policy_text"] = path.read_text()


# --- when -----------------------------------------------------------------------------------


def _attacker(world: World, lok_servers: list[str], command: str) -> list[str]:
    """The command line that launches the attacker as the server, and its environment."""
    engine: EngineUnderTest = world["engine"]
    image_required(engine, PROBE_IMAGE)
    name = unique_name("e2e-atk")
    lok_servers.append(name)
    spec = _spec(world, name, "allow " in world["policy_text"])
    world["name"] = name
    world["spec"] = spec
    options = ["--format", "json"] if command == "start" else []
    return [MCP_LOK, command, *options, "--engine", engine.name, "--name", name,
            "--permission-profile", world["source"], PROBE_IMAGE,
            "--", "python3", "-c", PROBE, "--attack", json.dumps(spec)]  # fmt: skip


@when("`mcp-lok start` runs the attacker under it")
def start_attacker(world: World, lok_servers: list[str]) -> None:
    command = _attacker(world, lok_servers, "start")
    environ = dict(os.environ, MCP_LOK_TEST_RESOLVE=world["resolve"])
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=environ
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def foreground() -> Iterator[list[subprocess.Popen[str]]]:
    """`mcp-lok run` processes a scenario started; interrupted, then killed, if still up."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@when("`mcp-lok run` runs the attacker under it in the foreground")
def run_attacker(
    world: World, lok_servers: list[str], foreground: list[subprocess.Popen[str]]
) -> None:
    command = _attacker(world, lok_servers, "run")
    environ = dict(os.environ, MCP_LOK_TEST_RESOLVE=world["resolve"])
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environ
    )
    foreground.append(process)
    world["run"] = process


@when("the foreground `mcp-lok run` is interrupted")
def interrupt_run(world: World) -> None:
    process: subprocess.Popen[str] = world["run"]
    assert process.poll() is None, process.communicate(timeout=5)
    assert Path(f"/run/mcp-lok/{world['name']}/gate/egress.sock").exists()
    process.send_signal(signal.SIGINT)  # the process this scenario started, by its handle
    _, err = process.communicate(timeout=60)
    world["run_stderr"] = err
    assert process.returncode == 0, err


@then("it removes the server, its gate and the egress socket")
def run_removed(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    name = world["name"]
    assert f"{name} stopped and removed" in world["run_stderr"], world["run_stderr"]
    assert not Path(f"/run/mcp-lok/{name}").exists()
    label = {"label": f"mcp-lok-name={name}"}
    assert engine.api.containers(all=True, filters=label) == []


def _spec(world: World, name: str, allow_listed: bool) -> dict[str, Any]:
    other = world["other"]
    addresses = sorted(str(a) for a in own_addresses() if not a.is_loopback)
    spec: dict[str, Any] = {
        "out": "/out",
        "host_port": world["host_service"]["port"],
        "host_addresses": sorted({*addresses, world["gateway"]}),
        "other_port": int(other["url"].rsplit(":", 1)[1].split("/")[0]),
        "sockets": [
            "/run/mcp-lok-gate/egress.sock",
            "/run/mcp-lok-gate/ingress.sock",
            f"/run/mcp-lok/{name}/gate/egress.sock",
            f"/run/mcp-lok/{other['name']}/gate/ingress.sock",
            "/var/run/docker.sock",
            "/run/podman/podman.sock",
        ],
        "write_tries": ["/", "/data", "/etc", "/usr", "/var", "/home", "/opt", "/out"],
        "read_tries": [str(world["secret"]), f"/proc/1/root{world['secret']}"],
        "service_address": world["service"],
        "linger": 0,
    }
    if allow_listed:
        names = world["names"]
        spec |= {
            "allowed": names["allowed"],
            "tcp_only": names["tcp_only"],
            "rebind": names["rebind"],
            "wildcard": ["a.wild.test", "b.c.wild.test", "wild.test"],
            "exhaust": True,
            "pids_limit": 48,
            "memory_limit": 64 * MIB,
        }
    return spec


# --- then: the report -----------------------------------------------------------------------


@then(parsers.parse("the attacker's report arrives within {seconds:d} seconds"))
def report_arrives(world: World, seconds: int) -> None:
    path = Path(world["folders"]["out"]) / "report.json"
    end = time.monotonic() + seconds
    while not path.exists():
        run: subprocess.Popen[str] | None = world.get("run")
        if run is not None and run.poll() is not None:
            raise AssertionError(f"`mcp-lok run` exited {run.returncode}: {run.communicate()[1]}")
        if time.monotonic() > end:
            logs = mcp_lok("logs", world["name"]).stdout
            raise AssertionError(f"no report in {seconds} s; the server's log:\n{logs}")
        time.sleep(0.5)
    world["report"] = json.loads(path.read_text())
    assert world["report"]["done"] is True


def report(world: World) -> dict[str, Any]:
    found: dict[str, Any] = world["report"]
    return found


def ok(result: list[Any]) -> Any:
    assert result[0] == "ok", result
    return result[1]


def failed(result: list[Any], *, forbidding: str = "") -> None:
    """The attempt raised, or (for a proxy) was answered with a refusal."""
    if result[0] == "ok" and isinstance(result[1], str) and result[1].startswith("HTTP/1.1 4"):
        return
    assert result[0] == "error", result
    if forbidding:
        assert forbidding not in str(result), result


@then("the allowed name resolves to a loopback address of its own")
def allowed_resolves(world: World) -> None:
    address = ok(report(world)["resolve_allowed"])
    assert address.startswith("127."), address
    assert address not in ("127.0.0.1", "127.0.0.53"), address


@then("the allowed destination answers through the proxy, plainly and with CONNECT")
def by_proxy(world: World) -> None:
    assert ok(report(world)["by_proxy"]) == "stand-in on 80\n"
    assert ok(report(world)["by_connect"]) == (
        "HTTP/1.1 200 Connection established | echo: hello\n"
    )


@then("the allowed destination answers over plain TCP with no proxy variables")
def plain_tcp(world: World) -> None:
    assert ok(report(world)["plain_tcp"]) == "stand-in on 80\n"


@then("the allowed destination answers a non-HTTP protocol")
def non_http(world: World) -> None:
    assert ok(report(world)["non_http"]) == "echo: hello\n"
    assert ok(report(world)["tcp_only_works"]) == "echo: hello\n"


@then("the allowed destination answers over UDP, which its rule allows")
def udp_allowed(world: World) -> None:
    assert ok(report(world)["udp_allowed"]) == "udp: ping"


@then("`localhost` is the namespace's own loopback")
def localhost(world: World) -> None:
    assert ok(report(world)["localhost"]) == "local"


@then("names under an allowed wildcard get addresses of their own on first lookup, and work")
def wildcard(world: World) -> None:
    r = report(world)
    first, second = ok(r["wildcard_first"]), ok(r["wildcard_second"])
    assert first.startswith("127.2."), first
    assert second.startswith("127.2."), second
    assert first != second
    assert ok(r["wildcard_talk"]) == "echo: wild\n"
    failed(r["wildcard_suffix"])  # the suffix itself is not under the wildcard


@then("an arbitrary name does not resolve, through the resolver or asked directly")
def arbitrary_name(world: World) -> None:
    failed(report(world)["resolve_arbitrary"])
    raw = report(world)["dns_arbitrary"]
    if raw[0] == "ok":  # the gate's resolver answered: with no address at all
        assert raw[1] == {"rcode": 3, "answers": 0}, raw
    else:  # no resolver in the namespace at all (the stdio profile)
        assert "ConnectionRefused" in raw[1] or "timed out" in raw[1], raw


@then("no DNS server outside is reachable")
def dns_outside(world: World) -> None:
    failed(report(world)["dns_outside"])


@then("a host no rule allows is refused by the proxy and unreachable by address")
def not_allowed_host(world: World) -> None:
    result = report(world)["not_allowed_host_proxy"]
    assert result[0] == "error", result
    assert "403" in result[1], result
    failed(report(world)["not_allowed_address"], forbidding="stand-in")
    assert "Network is unreachable" in report(world)["not_allowed_address"][1]
    failed(report(world)["not_allowed_address_proxy"])


@then("the allowed host on a port no rule allows is refused, directly and by proxy")
def not_allowed_port(world: World) -> None:
    failed(report(world)["not_allowed_port"], forbidding="stand-in")
    assert ok(report(world)["not_allowed_port_proxy"]).startswith("HTTP/1.1 403")


@then("UDP to a destination whose rule allows only TCP gets no answer")
def udp_refused(world: World) -> None:
    failed(report(world)["udp_tcp_only"], forbidding="udp:")


@then("an allowed name the host resolves to its own gateway is refused (no DNS rebinding)")
def rebinding(world: World) -> None:
    failed(report(world)["rebind_direct"], forbidding="HOST")
    result = report(world)["rebind_proxy"]
    assert result[0] == "error", result
    assert "403" in result[1], result
    logs = mcp_lok("logs", world["name"]).stdout
    assert f"{world['gateway']} is one of this host's own addresses" in logs, logs


@then("the host's service is unreachable through every host address and bridge gateway")
def host_unreachable(world: World) -> None:
    tried = report(world)["host_addresses"]
    assert world["gateway"] in tried, tried
    assert len(tried) >= 2, tried
    for address, results in tried.items():
        failed(results["direct"], forbidding="HOST SERVICE")
        failed(results["proxy"], forbidding="HOST SERVICE")
        assert address  # each host address was tried both ways
    assert world["host_service"]["hits"] == [], "something reached the host's service"


@then("169.254.169.254 is unreachable, directly and by proxy")
def metadata(world: World) -> None:
    failed(report(world)["metadata"])
    failed(report(world)["metadata_proxy"])


@then("the other mcp-lok server is unreachable")
def other_unreachable(world: World) -> None:
    for address, results in report(world)["other_server"].items():
        for way, result in results.items():
            assert "http-test" not in str(result), (address, way, result)
            if address != "127.0.0.1" or way == "proxy":
                failed(result)


@then("no Unix socket of the gate or of the host can be connected to")
def sockets(world: World) -> None:
    r = report(world)
    for path, result in r["gate_sockets"].items():
        failed(result)
        assert "No such file" in result[1] or "Permission" in result[1], (path, result)
    # the namespace lists the gate's own sockets; none of them can be reached from here
    for path, result in r["listed_sockets"].items():
        failed(result)
        assert path  # listed, and refused


@then("no IPv6 route leads anywhere but loopback")
def ipv6(world: World) -> None:
    routes = ok(report(world)["ipv6_routes"])
    assert set(routes) <= {"lo"}, routes
    failed(report(world)["ipv6_out"])


@then(
    "the root filesystem, the read-only mount and every path outside the write list refuse writes"
)
def writes(world: World) -> None:
    tried = report(world)["writes"]
    for path, result in tried.items():
        if path == "/out":
            assert ok(result) == "written"
        else:
            failed(result)
            assert "Read-only file system" in result[1] or "Permission denied" in result[1]


@then("the host file outside `read` cannot be read")
def host_read(world: World) -> None:
    for path, result in report(world)["host_read"].items():
        failed(result, forbidding="host secret")
        assert path


@then("setuid binaries run without privileges")
def setuid(world: World) -> None:
    seen = ok(report(world)["setuid"])
    sampled = {name: euid for name, euid in seen.items() if euid is not None}
    assert sampled, seen  # at least one ran long enough to be looked at
    assert set(sampled.values()) == {65534}, seen
    assert report(world)["no_new_privs"] == "1"


@then("ptrace, mount, unshare and raw sockets are refused")
def syscalls(world: World) -> None:
    calls = report(world)["syscalls"]
    for name in ("mount", "unshare_user", "unshare_mount", "unshare_net", "ptrace_init"):
        assert calls[name]["result"] == -1, (name, calls[name])
        assert calls[name]["errno"] in ("EPERM", "EACCES"), (name, calls[name])
    for name in ("raw_icmp", "packet"):
        failed(calls[name])
        assert "Operation not permitted" in calls[name][1], calls[name]


@then("exhausting pids and memory stays inside the container's limits and egress still works")
def exhaustion(world: World) -> None:
    r = report(world)
    assert r["pids"]["refused"] == "EAGAIN", r["pids"]
    assert 0 < r["pids"]["forked"] < 48, r["pids"]
    # the child touching twice the limit was killed by the kernel or refused memory
    assert r["memory"] in ({"signal": 9}, {"exit": 3}), r["memory"]
    assert ok(r["after_exhaustion"]) == "echo: again\n"
    # the host is fine: its own service still answers it
    with socket.create_connection(("127.0.0.1", world["host_service"]["port"]), timeout=5) as c:
        assert c.recv(64) == HOST_REPLY


@then("`mcp-lok logs` shows each egress decision with its rule or reason")
def logs_show(world: World) -> None:
    logs = mcp_lok("logs", world["name"]).stdout
    service, allowed = world["service"], world["names"]["allowed"]
    assert f"proxy {allowed}:80/tcp: allowed to {service} by rule 1:" in logs, logs
    assert f"dns {allowed}:443/tcp: allowed to {service} by rule 1:" in logs, logs
    assert f"dns {allowed}:443/udp: allowed to {service}" in logs, logs
    assert "rule 3: allow rebind.test port 80 over tcp" not in logs, logs  # refused, not allowed
    assert "refused: no rule allows" in logs, logs
    assert "no rule names it" in logs, logs


@then("`mcp-lok logs` shows the arbitrary names the gate's DNS refused")
def logs_show_dns_refusals(world: World) -> None:
    """The gate reports them to mcp-lok on the host in batches, a moment after the lookup."""
    wanted = ["`exfil-1234.example.com` (", "`secret-data.attacker.example` ("]
    end = time.monotonic() + 15
    while True:
        logs = mcp_lok("logs", world["name"]).stdout
        lines = [line for line in logs.splitlines() if "dns: refused to resolve" in line]
        if all(any(w in line for line in lines) for w in wanted):
            break
        assert time.monotonic() < end, logs
        time.sleep(0.5)
    assert all(f"egress {world['name']} dns: refused to resolve" in line for line in lines), lines
    assert not any(world["names"]["allowed"] in line for line in lines), lines


@when("mcp-lok's host process for the server is killed")
def kill_host_process(world: World) -> None:
    """SIGKILL: the relay gets no chance to clean up, as after a crash."""
    state = json.loads(Path(f"/run/mcp-lok/{world['name']}/state.json").read_text())
    pid = state["proxy_pid"]
    assert pid, state
    os.kill(pid, signal.SIGKILL)  # the detached proxy this scenario's `mcp-lok start` made
    end = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < end:
        time.sleep(0.05)
    (Path(world["folders"]["out"]) / "go").write_text("go")


@then("the attacker can no longer reach the allowed destination in any way")
def no_host_no_egress(world: World) -> None:
    path = Path(world["folders"]["out"]) / "after.json"
    end = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < end, "the attacker's second round never reported"
        time.sleep(0.3)
    after = json.loads(path.read_text())
    assert after["waited"] is True, after
    for way in ("plain_tcp", "by_connect"):
        failed(after[way], forbidding="echo:")


@then("`mcp-lok rm` removes the server, its gate and the egress socket")
def removed(world: World) -> None:
    engine: EngineUnderTest = world["engine"]
    name = world["name"]
    socket_path = Path(f"/run/mcp-lok/{name}/gate/egress.sock")
    assert socket_path.exists()  # the killed relay could not remove it: `rm` must
    assert mcp_lok("rm", "--force", name).returncode == 0
    assert not socket_path.exists()
    assert not Path(f"/run/mcp-lok/{name}").exists()
    label = {"label": f"mcp-lok-name={name}"}
    assert engine.api.containers(all=True, filters=label) == []


@then("the only network interface is lo and there is no gate")
def no_network(world: World) -> None:
    assert report(world)["interfaces"] == ["lo"]
    assert "127.0.0.53" not in report(world)["resolv"]
    engine: EngineUnderTest = world["engine"]
    label = {"label": f"mcp-lok-name={world['name']}"}
    roles = {c["Labels"]["mcp-lok-role"] for c in engine.api.containers(all=True, filters=label)}
    assert roles == {"server"}, roles


@then("the test service is unreachable by address")
def service_unreachable(world: World) -> None:
    result = report(world)["service_direct"]
    failed(result, forbidding="stand-in")
    assert "Network is unreachable" in result[1], result
    # the stdio profile has no proxy either: the proxy attempts fail to connect at all
    failed(report(world)["metadata_proxy"])
    for results in report(world)["host_addresses"].values():
        assert "Connection refused" in results["proxy"][1] or "unreachable" in results["proxy"][1]
