"""The names the gate's DNS refuses reach the host's log in bounded batches: the gate's
`RefusalReport` and the host's `egress_report`, alone and together over a real Unix socket."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import struct
from pathlib import Path

import pytest

from mcp_lok.proxy import egress as host_egress
from mcp_lok.proxy import egress_report
from mcp_lok.proxy.egress_policy import load_rules
from mcp_lok.proxy.egress_report import BURST, MAX_COUNT, REFILL, Reports, parse
from mcp_lok.proxy.gate import RefusalReport
from mcp_lok.proxy.gate.dns import NXDOMAIN, DnsServer
from mcp_lok.proxy.gate.report import MAX_NAMED


async def relay_at(sock_dir: str) -> host_egress.EgressRelay:
    rules = Path(sock_dir) / "egress.json"
    rules.write_text(
        json.dumps(
            {"version": 2, "name": "t", "socket": f"{sock_dir}/egress.sock", "rules": [],
             "deny_hosts": [], "deny_ports": [], "gate_user": f"{os.getuid()}:{os.getgid()}"}
        )
    )  # fmt: skip
    relay = host_egress.EgressRelay(load_rules(rules))
    await relay.start()
    return relay


def query(name: str) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", 1, 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "dns: refused to resolve" in r.getMessage()]


# --- the gate's batching, sans I/O ---------------------------------------------------------


@pytest.mark.asyncio
async def test_the_gate_counts_names_first_seen_first_and_counts_the_rest() -> None:
    report = RefusalReport("/nonexistent/egress.sock", delay=60, interval=60)
    assert report.take() is None
    for index in range(MAX_NAMED + 5):
        report.note(f"n{index}.example")
    report.note("n0.example")
    report.note("x" * 400)  # beyond the named ones: counted only
    batch = report.take()
    assert batch is not None
    named, unnamed = batch
    assert named[0] == ("n0.example", 2)
    assert [n for n, _ in named] == [f"n{i}.example" for i in range(MAX_NAMED)]
    assert unnamed == 6
    assert report.take() is None  # counting started again
    await report.close()  # nothing pending is sent nowhere, without raising


def test_reports_come_ever_further_apart_while_refusals_keep_coming() -> None:
    report = RefusalReport("/nonexistent/egress.sock", delay=0.5, interval=5, max_interval=60)
    assert report.due(100) == 100.5  # the first: after a short delay
    report._last, report._streak = 100.5, 1  # as `send` leaves them
    assert report.due(101) == 105.5
    report._last, report._streak = 105.5, 2
    assert report.due(106) == 115.5
    report._last, report._streak = 115.5, 6
    assert report.due(120) == 175.5  # at most a minute apart
    assert report.due(200) == 200.5  # after a quiet minute, the streak starts over
    assert report._streak == 0


# --- the host's checks, sans I/O -----------------------------------------------------------


def test_the_host_bounds_reports_and_their_rate() -> None:
    now = [100.0]
    reports = Reports(clock=lambda: now[0])
    forged = "a.test\n2026-01-01 mcp-lok INFO egress t: allowed everything"
    many = [[f"n{i}.test", 2] for i in range(20)]
    line = reports.line({"report": "dns-refused", "names": [[forged, 1], *many], "unnamed": 3})
    assert line is not None
    assert "\n" not in line
    assert line.startswith("dns: refused to resolve `a.test?2026-01-01")
    assert "`n6.test` (2)" in line
    assert "n7.test" not in line  # eight names at most
    assert "; 29 more lookups of names not listed" in line  # 3 + 13 names x 2
    flood = {"report": "dns-refused", "names": [["b.test", 1]]}
    logged = [reports.line(flood) for _ in range(BURST + 2)]
    assert logged.count(None) == 3  # the burst was spent by the first line and these
    now[0] += REFILL
    later = reports.line({"report": "dns-refused", "names": [["d.test", 1]]})
    assert later == "dns: refused to resolve `d.test` (1); 3 reports dropped, sent too fast"
    assert reports.line(flood) is None


@pytest.mark.parametrize(
    "report",
    [
        {"report": "other", "names": []},
        {"report": "dns-refused", "names": "a.test"},
        {"report": "dns-refused", "names": [["a.test"]]},
        {"report": "dns-refused", "names": [[1, 1]]},
        {"report": "dns-refused", "names": [["a.test", -1]]},
        {"report": "dns-refused", "names": [["a.test", True]]},
        {"report": "dns-refused", "names": [], "unnamed": "9"},
    ],
)
def test_a_malformed_report_is_refused(report: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="malformed refusal report"):
        parse(report)


def test_counts_are_clamped() -> None:
    assert parse({"report": "dns-refused", "names": [["a.test", 10**50]]}) == (
        [("a.test", MAX_COUNT)],
        0,
    )


# --- gate and host together ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_refused_names_reach_the_host_log_in_bounded_batches(
    sock_dir: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_lok.egress")
    monkeypatch.setattr(egress_report, "BURST", 100)  # the host's own bound is tested above
    relay = await relay_at(sock_dir)
    report = RefusalReport(f"{sock_dir}/egress.sock", delay=0.05, interval=0.2)

    async def lookup(name: str) -> str | None:
        return "127.1.0.1" if name == "ok.test" else None

    port = free_port()
    dns = DnsServer("127.0.0.53", lookup, port=port, refused=report.note)
    await dns.start()
    loop = asyncio.get_running_loop()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.setblocking(False)

            async def ask(name: str) -> int:
                await loop.sock_sendto(client, query(name), ("127.0.0.53", port))
                return (await asyncio.wait_for(loop.sock_recv(client, 512), 5))[3] & 0xF

            for name in ["exfil-1.attacker.example", "ok.test", "exfil-1.attacker.example"]:
                await ask(name)
            await asyncio.sleep(0.3)  # the first report goes on its own
            for _ in range(200):  # a flood: far fewer lines than lookups
                assert await ask("flood.example") == NXDOMAIN
    finally:
        await dns.close()
        await report.close()  # sends what is left
        await relay.close()
    lines = refusal_lines(caplog)
    assert lines[0] == "egress t dns: refused to resolve `exfil-1.attacker.example` (2)"
    assert all("ok.test" not in line for line in lines)
    assert 2 <= len(lines) <= 6, lines
    counts = [int(line.rsplit("(", 1)[1].rstrip(")")) for line in lines[1:]]
    assert all(
        line.startswith("egress t dns: refused to resolve `flood.example` (") for line in lines[1:]
    )
    assert sum(counts) == 200, lines


@pytest.mark.asyncio
async def test_a_report_nobody_takes_is_lost_and_said_so(
    sock_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp-lok-gate")
    report = RefusalReport(f"{sock_dir}/egress.sock", delay=60)
    report.note("a.example")
    await report.close()  # sends at once, to nobody
    assert "dns: refused `a.example` (1); 0 more lookups" in caplog.text
    assert "did not reach the host" in caplog.text
