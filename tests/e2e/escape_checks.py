"""The escape matrix's verdicts (`test_escape.py` runs the scenarios): the `then` steps that
judge the attacker's report (`probe.py --attack`), each attempt against what the policy
allows, and what `mcp-lok logs` must show of the decisions.
"""

from __future__ import annotations

import socket
import time

from pytest_bdd import then

from .conftest import World, mcp_lok
from .engines import EngineUnderTest
from .escape_support import HOST_REPLY, failed, ok, report


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
