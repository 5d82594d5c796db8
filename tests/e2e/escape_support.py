"""The escape matrix's stand-ins and attacker (`test_escape.py` holds its steps): the test
service that plays the allowed destinations, the service on every host address that must
stay unreached, the attacker's command line and orders (`probe.py --attack`), and how its
report is read. Everything here is created by the scenario and removed by it, by id.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker

from mcp_lok.proxy.hostaddr import own_addresses

from .conftest import MCP_LOK, PROBE, World, image_required, mcp_lok
from .engines import PROBE_IMAGE, EngineUnderTest, unique_name

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


# --- the stand-ins ----------------------------------------------------------------------------


def start_stand_in(
    engine: EngineUnderTest, networks: list[tuple[EngineUnderTest, str]]
) -> tuple[str, str]:
    """The test service in a container on a network of its own: its address, and the
    network's gateway (an address of the host)."""
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
    return address, gateway


def remove_networks(made: list[tuple[EngineUnderTest, str]]) -> None:
    for engine, network in made:
        engine.cleanup()  # its containers first: a network with members cannot go
        with contextlib.suppress(docker.errors.APIError):
            engine.api.remove_network(network)


def _wait_for(address: str, port: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < end, f"the test service at {address}:{port} never answered"
            time.sleep(0.2)


@contextlib.contextmanager
def serving_on_every_address() -> Iterator[dict[str, Any]]:
    """A TCP service on every IPv4 and IPv6 address of the host, as a host daemon would be."""
    v4 = socket.create_server(("0.0.0.0", 0))
    port = v4.getsockname()[1]
    listeners = [v4]
    with contextlib.suppress(OSError):
        listeners.append(
            socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=False)
        )
    with serving(listeners) as service:
        yield service


@contextlib.contextmanager
def serving(listeners: list[socket.socket]) -> Iterator[dict[str, Any]]:
    """Answer every connection to `listeners` (all on one port) with `HOST_REPLY`, noting
    each peer's address in `hits`, until the block ends; then close them."""
    port = listeners[0].getsockname()[1]
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


def interrupt(started: list[subprocess.Popen[str]]) -> None:
    """Interrupt, then kill, the `mcp-lok run` processes a scenario started, if still up."""
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


# --- the attacker -----------------------------------------------------------------------------


def write_policy(world: World, tmp_path: Path, text: str) -> None:
    values = {k: str(v) for k, v in world.get("folders", {}).items()}
    values["service"] = world["service"]
    path = tmp_path / "policy.lok"
    path.write_text(text.format(**values) + "\n")
    world["source"] = str(path)
    world["policy_text"] = path.read_text()


def attacker_command(world: World, lok_servers: list[str], command: str) -> list[str]:
    """The command line that launches the attacker as the server, and its environment."""
    engine: EngineUnderTest = world["engine"]
    image_required(engine, PROBE_IMAGE)
    name = unique_name("e2e-atk")
    lok_servers.append(name)
    spec = attack_spec(world, name, "allow " in world["policy_text"])
    world["name"] = name
    world["spec"] = spec
    # the attacker speaks no MCP: `start` cannot wait for its `initialize`
    options = ["--no-wait", "--format", "json"] if command == "start" else []
    return [MCP_LOK, command, *options, "--engine", engine.name, "--name", name,
            "--permission-profile", world["source"], PROBE_IMAGE,
            "--", "python3", "-c", PROBE, "--attack", json.dumps(spec)]  # fmt: skip


def attack_spec(world: World, name: str, allow_listed: bool) -> dict[str, Any]:
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


# --- its report -------------------------------------------------------------------------------


def read_report(world: World, seconds: int) -> dict[str, Any]:
    """The attacker's report, once it has written it (or the reason it never will)."""
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
    found: dict[str, Any] = json.loads(path.read_text())
    return found


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
