"""Runs INSIDE a container under test and reports what the process can really do, as JSON.

Stdlib only; every check tries the thing rather than trusting configuration."""

import ctypes
import json
import os
import sys

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


if __name__ == "__main__":
    main(sys.argv[1:])
