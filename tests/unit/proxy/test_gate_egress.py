"""The gate's egress half and the host's relay, together over real loopback and Unix
sockets (no engine): DNS, per-destination listeners, the HTTP proxy, and the host's
decisions. The destination is the test's own 127.0.0.1 here, named by a rule: mcp-lok on
the host never dials a loopback address, so the `door` fixture lets it dial that one, as
the address outside it stands for (and one test takes that away again)."""

from __future__ import annotations

import array
import asyncio
import json
import logging
import os
import socket
import struct
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from mcp_lok.proxy import egress as host_egress
from mcp_lok.proxy import egress_policy
from mcp_lok.proxy.egress_policy import load_rules
from mcp_lok.proxy.egress_splice import Pair, Workers
from mcp_lok.proxy.gate import Connections, GateConfig, Names
from mcp_lok.proxy.gate.dns import NXDOMAIN, DnsServer, answer, parse_query
from mcp_lok.proxy.gate.egress import Destinations
from mcp_lok.proxy.gate.httpproxy import BadRequest, HttpProxy, parse_head
from mcp_lok.proxy.gate.relay import Refused, open_relay

pytestmark = pytest.mark.timeout(60)


def query(name: str, qtype: int = 1, ident: int = 7) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return (
        struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
        + labels
        + b"\0"
        + struct.pack("!HH", qtype, 1)
    )


def egress_section(socket_path: str, port: int, proxy_port: int) -> dict[str, object]:
    return {
        "socket": socket_path,
        "dns": "127.0.0.53",
        "proxy": f"127.0.0.1:{proxy_port}",
        "rules": [
            {
                "hosts": ["echo.test", "127.0.0.1", "*.wild.test"],
                "ports": [port],
                "protocols": ["tcp"],
            },
            {"hosts": ["echo.test", "127.0.0.1"], "ports": [port], "protocols": ["udp"]},
            {"hosts": ["far.test"], "ports": [port], "protocols": ["tcp"]},
        ],
        "deny_hosts": ["bad.wild.test"],
        "deny_ports": [],
    }  # fmt: skip


# --- names and DNS, sans I/O ---------------------------------------------------------------


def names_for(**changes: object) -> Names:
    body = egress_section("/s", 443, 3128) | changes
    config = GateConfig.from_json(
        json.dumps({"version": 2, "name": "t", "ingress": None, "egress": body})
    )
    assert config.egress is not None
    return Names(config.egress)


def test_exact_names_have_their_own_address_and_wildcards_get_one_on_lookup() -> None:
    names = names_for()
    assert dict(names.bound()) == {"echo.test": "127.1.0.1", "far.test": "127.1.0.2"}
    assert names.address_of("ECHO.test.") == ("127.1.0.1", False)
    assert names.address_of("a.wild.test") == ("127.2.0.1", True)
    assert names.address_of("a.wild.test") == ("127.2.0.1", False)
    assert names.address_of("b.a.wild.test") == ("127.2.0.2", True)
    assert names.name_at("127.2.0.2") == "b.a.wild.test"
    assert names.address_of("wild.test") == (None, False)  # the suffix itself is not allowed
    assert names.address_of("bad.wild.test") == (None, False)  # an explicit deny wins
    assert names.address_of("example.com") == (None, False)
    assert names.address_of("evil#.wild.test") == (None, False)  # not a host name
    assert names.address_of("127.0.0.1") == (None, False)  # addresses are not names
    assert names.address_of("localhost") == ("127.0.0.1", False)
    assert names.allowed("echo.test") == {(443, "tcp"), (443, "udp")}
    assert names.allowed("far.test") == {(443, "tcp")}


def test_denied_ports_are_taken_out_and_the_number_of_names_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    denied = names_for(deny_ports=[443])
    assert denied.allowed("echo.test") == set()
    assert denied.address_of("echo.test") == (None, False)  # nothing left: not even a name
    monkeypatch.setattr("mcp_lok.proxy.gate.names.MAX_NAMES", 3)
    names = names_for()
    assert names.address_of("one.wild.test")[0] is not None
    assert names.address_of("two.wild.test") == (None, False)


async def lookup(name: str) -> str | None:
    return names_for().address_of(name)[0]


@pytest.mark.asyncio
async def test_dns_answers_allowed_names_only() -> None:
    allowed = await answer(query("echo.test"), lookup)
    assert allowed is not None
    assert allowed[:2] == b"\0\x07"
    assert allowed[3] & 0xF == 0
    assert struct.unpack("!H", allowed[6:8]) == (1,)
    assert allowed[-4:] == bytes([127, 1, 0, 1])
    refused = await answer(query("secret-data.attacker.example"), lookup)
    assert refused is not None
    assert refused[3] & 0xF == NXDOMAIN
    assert struct.unpack("!H", refused[6:8]) == (0,)
    aaaa = await answer(query("echo.test", 28), lookup)  # no IPv6 address: no records
    assert aaaa is not None
    assert (aaaa[3] & 0xF, struct.unpack("!H", aaaa[6:8])) == (0, (0,))
    local = await answer(query("localhost", 28), lookup)
    assert local is not None
    assert local[-16:] == bytes(15) + b"\1"


@pytest.mark.asyncio
async def test_dns_refuses_what_it_cannot_read() -> None:
    assert parse_query(b"short") is None
    assert await answer(b"short", lookup) is None
    garbage = struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c"  # a pointer
    formerr = await answer(garbage, lookup)
    assert formerr is not None
    assert formerr[3] & 0xF == 1
    reply = query("echo.test")
    as_answer = reply[:2] + b"\x81\x00" + reply[4:]
    assert await answer(as_answer, lookup) is None  # never answer an answer
    two = query("echo.test")[:4] + b"\0\x02" + query("echo.test")[6:]
    assert parse_query(two) is None


def test_proxy_heads_are_read_and_rewritten() -> None:
    assert parse_head(b"CONNECT Echo.Test:443 HTTP/1.1\r\nHost: x\r\n\r\n") == (
        "echo.test",
        443,
        True,
        b"",
    )
    host, port, tunnel, upstream = parse_head(
        b"GET http://echo.test:8080/a?b=1 HTTP/1.1\r\nHost: echo.test\r\n"
        b"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\nAccept: */*\r\n\r\n"
    )
    assert (host, port, tunnel) == ("echo.test", 8080, False)
    assert upstream == (
        b"GET /a?b=1 HTTP/1.1\r\nHost: echo.test\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    for bad in (
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET https://echo.test/ HTTP/1.1\r\n\r\n",
        b"CONNECT echo.test HTTP/1.1\r\n\r\n",
        b"NONSENSE\r\n\r\n",
        b"GET http://echo.test:99999/ HTTP/1.1\r\n\r\n",
    ):
        with pytest.raises(BadRequest):
            parse_head(bad)


# --- the gate and the host together, over loopback ---------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Door:
    port: int  # the destination's port (echo on TCP and UDP, 127.0.0.1)
    proxy: int
    dns: int
    relay: host_egress.EgressRelay
    sock_dir: str


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(b"echo:" + data)
        await writer.drain()
    writer.close()


class UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"udp:" + data, addr)  # type: ignore[attr-defined]


STAND_IN = "127.0.0.1"  # the destination, standing for an address outside
NEVER_DIALLED = egress_policy.never_dialled


@pytest_asyncio.fixture
async def door(sock_dir: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Door]:
    def stand_in(address: egress_policy.Address) -> str | None:
        return None if str(address) == STAND_IN else NEVER_DIALLED(address)

    monkeypatch.setattr(egress_policy, "never_dialled", stand_in)  # what `vet` asks
    monkeypatch.setattr(host_egress, "never_dialled", stand_in)  # and the dial itself
    loop = asyncio.get_running_loop()
    destination = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = destination.sockets[0].getsockname()[1]
    udp, _ = await loop.create_datagram_endpoint(UdpEcho, local_addr=("127.0.0.1", port))
    proxy_port, dns_port = free_port(), free_port()
    section = egress_section(f"{sock_dir}/egress.sock", port, proxy_port)
    config = GateConfig.from_json(
        json.dumps({"version": 2, "name": "t", "ingress": None, "egress": section})
    )
    assert config.egress is not None
    rules = Path(sock_dir) / "egress.json"
    rules.write_text(
        json.dumps(
            {k: section[k] for k in ("socket", "deny_hosts", "deny_ports")}
            | {"rules": [r | {"acknowledged": []} for r in section["rules"]]}  # type: ignore[attr-defined]
            | {"version": 2, "name": "t", "gate_user": f"{os.getuid()}:{os.getgid()}"}
        )
    )
    # echo.test stands for the loopback destination (named by rule 1); far.test is a name
    # that "resolves" to a private address no rule names (a rebinding attempt)
    overrides = {"echo.test": "127.0.0.1", "x.wild.test": "127.0.0.1", "far.test": "10.9.9.9"}
    relay = host_egress.EgressRelay(load_rules(rules), overrides)
    await relay.start()
    connections, names = Connections(), Names(config.egress)
    destinations = Destinations(config.egress, names, connections)

    async def resolve(name: str) -> str | None:
        address, new = names.address_of(name)
        if address is not None and new:
            await destinations.open(name, address)
        return address

    started = [destinations, HttpProxy(config.egress, connections)]
    dns = DnsServer("127.0.0.53", resolve, port=dns_port)
    for listener in [*started, dns]:
        await listener.start()
    yield Door(port, proxy_port, dns_port, relay, sock_dir)
    for listener in [*started, dns]:
        await listener.close()
    await connections.drain(1)
    await relay.close()
    udp.close()
    destination.close()


def dns_lookup(port: int, name: str) -> tuple[int, str | None]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as conn:
        conn.settimeout(5)
        conn.sendto(query(name), ("127.0.0.53", port))
        reply = conn.recv(512)
    count = struct.unpack("!H", reply[6:8])[0]
    return reply[3] & 0xF, socket.inet_ntoa(reply[-4:]) if count else None


async def talk(host: str, port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    writer.write_eof()
    got = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return got


async def proxied(door: Door, head: bytes, then: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", door.proxy)
    writer.write(head)
    if then:
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(then)
        writer.write_eof()
        got = status + await asyncio.wait_for(reader.read(), 5)
    else:
        writer.write_eof()  # the request is all there is
        got = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return got


@pytest.mark.asyncio
async def test_allowed_names_resolve_and_connect_and_the_rest_is_refused(
    door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    caplog.set_level(logging.INFO, logger="mcp_lok.egress")
    assert await loop.run_in_executor(None, dns_lookup, door.dns, "echo.test") == (0, "127.1.0.1")
    assert await loop.run_in_executor(None, dns_lookup, door.dns, "evil.test") == (NXDOMAIN, None)
    # plain TCP to the name's own address, no proxy involved
    assert await talk("127.1.0.1", door.port, b"hi") == b"echo:hi"
    # a wildcard name gets its listener before its answer
    assert await loop.run_in_executor(None, dns_lookup, door.dns, "x.wild.test") == (
        0,
        "127.2.0.1",
    )
    assert await talk("127.2.0.1", door.port, b"w") == b"echo:w"
    # CONNECT and a forwarded GET through the proxy
    tunnel = await proxied(door, f"CONNECT echo.test:{door.port} HTTP/1.1\r\n\r\n".encode(), b"t")
    assert tunnel == b"HTTP/1.1 200 Connection established\r\n\r\necho:t"
    forwarded = await proxied(door, f"GET http://echo.test:{door.port}/p HTTP/1.1\r\n\r\n".encode())
    assert forwarded.startswith(b"echo:GET /p HTTP/1.1\r\n")
    # refusals: the host decides and says why
    for target, reason in (
        (f"example.com:{door.port}", b"no rule allows example.com"),
        (f"echo.test:{door.port + 1}", b"no rule allows echo.test"),
        (f"far.test:{door.port}", b"10.9.9.9 is a private or shared address and no rule"),
        (f"169.254.169.254:{door.port}", b"no rule allows 169.254.169.254"),
        (f"127.0.0.1:{door.port}", b"loopback is reached directly"),
    ):
        refused = await proxied(door, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
        assert refused.startswith(b"HTTP/1.1 403 Forbidden"), refused
        assert reason in refused, refused
    # a listener the host refuses resets the connection
    with pytest.raises(ConnectionResetError):
        await talk("127.1.0.2", door.port, b"x")
    logs = caplog.text
    assert f"dns echo.test:{door.port}/tcp: allowed to 127.0.0.1 by rule 1:" in logs
    assert f"proxy example.com:{door.port}/tcp: refused: no rule allows" in logs
    assert "far.test" in logs


@pytest.mark.asyncio
async def test_the_host_never_dials_loopback_whatever_a_rule_says(
    door: Door, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the stand-in, the rule that names 127.0.0.1 still reaches nothing of the
    host's: loopback in a rule is the server's own."""
    monkeypatch.setattr(egress_policy, "never_dialled", NEVER_DIALLED)
    monkeypatch.setattr(host_egress, "never_dialled", NEVER_DIALLED)
    caplog.set_level(logging.INFO, logger="mcp_lok.egress")
    with pytest.raises(ConnectionResetError):  # echo.test resolves to 127.0.0.1 on the host
        await talk("127.1.0.1", door.port, b"x")
    for target in ("127.0.0.1", "[::ffff:127.0.0.1]", "[::1]", "0.0.0.0", "[::]", "localhost",
                   "2130706433", "0x7f.1", "0", "0177.0.0.1", "[::ffff:0.0.0.0]",
                   "[64:ff9b::7f00:1]", "[2002:7f00:1::]"):  # fmt: skip
        refused = await proxied(door, f"CONNECT {target}:{door.port} HTTP/1.1\r\n\r\n".encode())
        assert refused.startswith(b"HTTP/1.1 403 Forbidden"), (target, refused)
    # asked directly (a subverted gate), the host refuses every spelling itself
    for host in ("127.0.0.1", "::ffff:127.0.0.1", "::1", "0.0.0.0", "::", "echo.test"):
        request = {"host": host, "port": door.port, "transport": "tcp", "via": "dns"}
        link, answer = await ask(door.sock_dir, request)
        link.close()
        assert answer["ok"] is False, (host, answer)
    assert "127.0.0.1 is a loopback address, which mcp-lok never dials" in caplog.text


@pytest.mark.asyncio
async def test_the_dial_itself_refuses_loopback_and_the_unspecified_address(door: Door) -> None:
    """The last line: whatever reached it, `_connect` dials no loopback or unspecified
    address (the stand-in is let through by the fixture, as everywhere in this file)."""
    addresses = [egress_policy.ipaddress.ip_address(a) for a in ("::1", "0.0.0.0", "::ffff:7f00:1")]
    found = await door.relay._connect(addresses, door.port, "tcp")
    assert found == (
        "cannot connect: ::1: a loopback address, never dialled; 0.0.0.0: the unspecified "
        "address, never dialled; ::ffff:7f00:1: a loopback address, never dialled"
    )


@pytest.mark.asyncio
async def test_udp_flows_where_a_rule_allows_udp(door: Door) -> None:
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.1.0.1", door.port))
    transport.sendto(b"one")
    assert await asyncio.wait_for(received.get(), 5) == b"udp:one"
    transport.sendto(b"two")
    assert await asyncio.wait_for(received.get(), 5) == b"udp:two"
    transport.close()
    # far.test allows only TCP: nothing listens for UDP on its address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as conn:
        conn.settimeout(1)
        conn.connect(("127.1.0.2", door.port))
        conn.send(b"x")
        with pytest.raises(ConnectionRefusedError):
            conn.recv(16)


@pytest.mark.asyncio
async def test_without_the_host_process_nothing_leaves(sock_dir: str) -> None:
    with pytest.raises(Refused, match="mcp-lok on the host is not relaying"):
        await open_relay(f"{sock_dir}/egress.sock", "echo.test", 443, "tcp", "dns", wait=0.2)


def test_the_host_relay_runs_only_for_a_server_with_egress(sock_dir: str) -> None:
    folder = Path(sock_dir)
    with host_egress.relay_running(folder / "egress.json", None) as relay:
        assert relay is None
    (folder / "egress.json").write_text(
        json.dumps(
            {
                "version": 2,
                "name": "t",
                "socket": f"{sock_dir}/egress.sock",
                "gate_user": f"{os.getuid()}:{os.getgid()}",
                "rules": [],
                "deny_hosts": [],
                "deny_ports": [],
            }
        )
    )
    log = folder / "server.log"
    with host_egress.relay_running(folder / "egress.json", str(log)) as relay:
        assert relay is not None
        info = os.stat(f"{sock_dir}/egress.sock")
        assert oct(info.st_mode & 0o777) == "0o600"
    assert not os.path.exists(f"{sock_dir}/egress.sock")
    assert "relaying for the gate" in log.read_text()


def test_test_overrides_come_from_the_harness_variable_only() -> None:
    assert host_egress.test_overrides({}) == {}
    found = host_egress.test_overrides(
        {host_egress.TEST_RESOLVE: "A.test=10.0.0.1, b.test=::1,junk"}
    )
    assert found == {"a.test": "10.0.0.1", "b.test": "::1"}
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        host_egress.test_overrides({host_egress.TEST_RESOLVE: "a.test=not-an-address"})


# --- the host's kernel splice --------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_pair_splices_both_ways_passes_half_closes_and_counts() -> None:
    client, client_peer = socket.socketpair()
    upstream, upstream_peer = socket.socketpair()
    pair = Pair(client, upstream)
    running = asyncio.get_running_loop().create_task(pair.run())
    loop = asyncio.get_running_loop()
    for sock in (client_peer, upstream_peer):
        sock.setblocking(False)
    await loop.sock_sendall(client_peer, b"x" * 300_000)
    got = b""
    while len(got) < 300_000:
        got += await asyncio.wait_for(loop.sock_recv(upstream_peer, 65536), 5)
    await loop.sock_sendall(upstream_peer, b"back")
    assert await asyncio.wait_for(loop.sock_recv(client_peer, 16), 5) == b"back"
    client_peer.shutdown(socket.SHUT_WR)  # the client is done sending: passed on
    assert await asyncio.wait_for(loop.sock_recv(upstream_peer, 16), 5) == b""
    upstream_peer.close()
    await asyncio.wait_for(running, 5)
    assert (pair.out, pair.back) == (300_000, 4)
    assert client.fileno() == -1  # the pair closed what it owned
    client_peer.close()


@pytest.mark.asyncio
async def test_cutting_a_pair_ends_it() -> None:
    client, client_peer = socket.socketpair()
    upstream, upstream_peer = socket.socketpair()
    pair = Pair(client, upstream)
    running = asyncio.get_running_loop().create_task(pair.run())
    await asyncio.sleep(0.05)
    pair.cut()
    await asyncio.wait_for(running, 5)
    assert upstream.fileno() == -1
    client_peer.close()
    upstream_peer.close()


def test_workers_are_reused_and_bounded() -> None:
    workers = Workers(2)
    done = threading.Barrier(3)
    for _ in range(2):
        workers.submit(done.wait)
    done.wait(5)
    finished = threading.Event()
    workers.submit(finished.set)  # an idle thread takes it: no third thread
    assert finished.wait(5)
    assert workers._threads == 2


# --- a subverted gate ----------------------------------------------------------------------


async def ask(sock_dir: str, request: dict[str, object]) -> tuple[socket.socket, dict[str, object]]:
    loop = asyncio.get_running_loop()
    link = socket.socket(socket.AF_UNIX)
    link.setblocking(False)
    await loop.sock_connect(link, f"{sock_dir}/egress.sock")
    await loop.sock_sendall(link, json.dumps(request).encode() + b"\n")
    answer = await asyncio.wait_for(loop.sock_recv(link, 4096), 5)
    return link, json.loads(answer)


@pytest.mark.asyncio
@pytest.mark.parametrize("handed", ["file", "two", "udp", "none"])
async def test_the_host_takes_nothing_but_one_tcp_connection_from_the_gate(
    door: Door, sock_dir: str, handed: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_lok.egress")
    request = {"host": "echo.test", "port": door.port, "transport": "tcp", "via": "dns"}
    link, answer = await ask(sock_dir, request)
    assert answer["ok"] is True
    secret = Path(sock_dir) / "gate-file"
    secret.write_text("")
    file_fd = os.open(secret, os.O_WRONLY)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        fds = {"file": [file_fd], "two": [udp.fileno(), udp.fileno()],
               "udp": [udp.fileno()], "none": []}[handed]  # fmt: skip
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        link.sendmsg([struct.pack("!I", 0)], ancillary)
        closed = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(link, 16), 5)
    os.close(file_fd)
    link.close()
    assert closed == b""  # the host dropped the link, and spliced nothing
    assert secret.read_text() == ""
    assert "ended:" in caplog.text


@pytest.mark.asyncio
async def test_a_forged_request_cannot_forge_log_lines(
    door: Door, sock_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_lok.egress")
    forged = "x.test\n2026-01-01 mcp-lok INFO egress t: allowed everything"
    request = {"host": forged, "port": door.port, "transport": "tcp", "via": "dns\n"}
    link, answer = await ask(sock_dir, request)
    link.close()
    assert answer["ok"] is False
    assert "is not a host name" in str(answer["reason"])
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused
    assert all("\n" not in line for line in refused)
