"""Host paths are judged where they lead: check, build, lower and explain on stated host
facts (`FixedHost`) — a symlink to `/`, to `/etc`, to a socket or a device, a folder that
holds a socket or an engine's folder, one too big to search, one another user could
change, a loop, a missing path, mount points beneath a folder — and the launch's second
look (`paths.changed`)."""

from __future__ import annotations

import pytest

from mcp_lok.policy import rules
from mcp_lok.policy.build import build
from mcp_lok.policy.check import check
from mcp_lok.policy.dangers import dangers
from mcp_lok.policy.diagnostics import Code, Severity
from mcp_lok.policy.explain import explain
from mcp_lok.policy.host import FixedHost, Found, HostPath, Inside, PathKind
from mcp_lok.policy.ir import Acknowledged, Insecurity, Mount
from mcp_lok.policy.lower import Target, lower
from mcp_lok.policy.origin import Span
from mcp_lok.policy.paths import askable, changed, mounting, normal, path_dangers, sensitive

FILE = "p.lok"
DIR, SOCKET = PathKind.DIRECTORY, PathKind.SOCKET
NEEDS = " is dangerous and needs an `insecure` marker"


def at(line: int) -> Span:
    return Span(FILE, line, 1, line, 20)


def host(*facts: HostPath) -> FixedHost:
    return FixedHost({f.written: f for f in facts})


def leads(written: str, resolved: str, kind: PathKind = DIR, **more: object) -> HostPath:
    return HostPath(written, resolved, kind, **more)  # type: ignore[arg-type]


def messages(ruleset: list[rules.Rule], on: FixedHost) -> list[tuple[Code, Severity, str]]:
    return [(d.code, d.severity, d.message) for d in check(ruleset, on)]


def insecure(rule: rules.Rule) -> rules.Rule:
    from mcp_lok.policy.record import replace

    return replace(rule, insecure=rule.origin, reason="the test says so")


# --- the check pass --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "fact", "words"),
    [
        (
            rules.Read(path="/tmp/link", origin=at(1)),
            leads("/tmp/link", "/"),
            "mounting `/tmp/link`, which leads to `/`,",
        ),
        (
            rules.Write(path="/tmp/link/etc", origin=at(1)),
            leads("/tmp/link/etc", "/etc"),
            "mounting `/tmp/link/etc`, which leads to `/etc`,",
        ),
        (
            rules.Read(path="/tmp/x", target="/var/run/docker.sock", origin=at(1)),
            leads("/tmp/x", "/run/docker.sock", SOCKET),
            "mounting `/tmp/x`, which leads to `/run/docker.sock`, a Unix socket,",
        ),
        (  # any socket, not only an engine's: a read-only bind does not stop `connect()`
            rules.Read(path="/srv/app.sock", origin=at(1)),
            leads("/srv/app.sock", "/srv/app.sock", SOCKET),
            "mounting `/srv/app.sock`, a Unix socket,",
        ),
        (
            rules.Read(path="/srv/null", origin=at(1)),
            leads("/srv/null", "/srv/null", PathKind.CHAR_DEVICE),
            "mounting `/srv/null`, a character device,",
        ),
        (
            rules.Write(path="/tmp/disk", origin=at(1)),
            leads("/tmp/disk", "/dev/sda", PathKind.BLOCK_DEVICE),
            "mounting `/tmp/disk`, which leads to `/dev/sda`, a block device,",
        ),
        (
            rules.Read(path="/srv/x", origin=at(1)),
            leads(
                "/srv/x",
                "/srv/x",
                found=(
                    Found("/srv/x/nfs", Inside.MOUNT_POINT),
                    Found("/srv/x/run/app.sock", Inside.SOCKET),
                    Found("/srv/x/dev/tty", Inside.CHAR_DEVICE),
                ),
            ),
            "mounting `/srv/x`, which holds `/srv/x/run/app.sock`, a Unix socket,",
        ),
        (
            rules.Read(path="/tmp/l", origin=at(1)),
            leads("/tmp/l", "/srv/y", found=(Found("/srv/y/p", Inside.UNREADABLE),)),
            "mounting `/tmp/l`, which leads to `/srv/y` and holds `/srv/y/p`, a folder "
            "mcp-lok cannot read,",
        ),
        (
            rules.Read(path="/srv/home", origin=at(1)),
            leads(
                "/srv/home", "/srv/home", found=(Found("/srv/home/docker", Inside.ENGINE_FOLDER),)
            ),
            "mounting `/srv/home`, which holds `/srv/home/docker`, a container engine's folder,",
        ),
        (
            rules.Read(path="/home/me", origin=at(1)),
            leads("/home/me", "/home/me", found=(Found("/home/me/.ssh", Inside.CREDENTIALS),)),
            "mounting `/home/me`, which holds `/home/me/.ssh`, a store of credentials,",
        ),
        (
            rules.Read(path="/tmp/k", origin=at(1)),
            leads("/tmp/k", "/home/me/.aws/credentials", PathKind.FILE),
            "mounting `/tmp/k`, which leads to `/home/me/.aws/credentials`,",
        ),
        (
            rules.Read(path="/etc/shadow", origin=at(1)),
            leads("/etc/shadow", "/etc/shadow", PathKind.FILE),
            "mounting `/etc/shadow`",
        ),
        (
            rules.Read(path="/srv/d", origin=at(1)),
            leads("/srv/d", "/var/lib/docker/volumes/v"),
            "mounting `/srv/d`, which leads to `/var/lib/docker/volumes/v`, in a container "
            "engine's folder,",
        ),
        (
            rules.Read(path="/srv/big", origin=at(1)),
            leads("/srv/big", "/srv/big", truncated=True),
            "mounting `/srv/big`, which holds more entries than mcp-lok searches for sockets "
            "and devices,",
        ),
        (
            rules.Write(path="/tmp/work", origin=at(1)),
            leads(
                "/tmp/work",
                "/tmp/work",
                replaceable="`/tmp/work` belongs to uid 1000, in the shared folder `/tmp`",
            ),
            "mounting `/tmp/work`, a path another user could change before it is mounted "
            "(`/tmp/work` belongs to uid 1000, in the shared folder `/tmp`),",
        ),
    ],
)
def test_a_grant_is_judged_by_where_it_leads(rule: rules.Read, fact: HostPath, words: str) -> None:
    assert messages([rule], host(fact)) == [(Code.INSECURE_REQUIRED, Severity.ERROR, words + NEEDS)]
    # with `insecure` it compiles, and every danger is acknowledged by the marker
    marked = insecure(rule)
    policy = build([marked], FILE, host(fact))
    assert policy.insecure
    assert {a.origin for a in policy.insecure} == {marked.insecure}
    assert policy.mounts[0].source == fact.resolved


def test_every_danger_of_a_path_is_acknowledged_worst_first() -> None:
    fact = leads("/tmp/s", "/run/docker.sock", SOCKET, replaceable="why")
    rule = insecure(rules.Read(path="/tmp/s", origin=at(1)))
    assert build([rule], FILE, host(fact)).insecure == (
        Acknowledged(
            Insecurity.SPECIAL_MOUNT,
            "`/tmp/s`, which leads to `/run/docker.sock`, a Unix socket",
            at(1),
        ),
        Acknowledged(
            Insecurity.SENSITIVE_MOUNT, "`/tmp/s`, which leads to `/run/docker.sock`", at(1)
        ),
        Acknowledged(
            Insecurity.REPLACEABLE_MOUNT,
            "`/tmp/s`, which leads to `/run/docker.sock`, a path another user could change "
            "before it is mounted (why)",
            at(1),
        ),
    )


def test_mount_points_beneath_a_folder_are_not_dangers() -> None:
    fact = leads("/srv/x", "/srv/x", found=(Found("/srv/x/nfs", Inside.MOUNT_POINT),))
    assert check([rules.Read(path="/srv/x", origin=at(1))], host(fact)) == []


def test_a_path_that_was_sensitive_as_written_stays_so_wherever_it_leads() -> None:
    # `/lib` is `/usr/lib` on a merged-/usr host: no spelling is weaker than before
    fact = leads("/lib", "/usr/lib")
    assert [w for w, _ in dangers(rules.Read(path="/lib", origin=at(1)), host(fact))] == [
        Insecurity.SENSITIVE_MOUNT
    ]


def test_a_named_pipe_or_a_file_is_no_danger() -> None:
    for kind in (PathKind.FIFO, PathKind.FILE, PathKind.OTHER):
        assert path_dangers(leads("/srv/p", "/srv/p", kind), writable=True) == []


def test_a_path_that_cannot_be_resolved_is_an_error() -> None:
    fact = leads("/tmp/loop", "/tmp/loop", PathKind.UNRESOLVABLE)
    assert messages([rules.Read(path="/tmp/loop", origin=at(1))], host(fact)) == [
        (
            Code.PATH_UNRESOLVABLE,
            Severity.ERROR,
            "`/tmp/loop` cannot be resolved on this host: a symlink loop, or a folder on "
            "the way that mcp-lok may not read",
        )
    ]


def test_a_missing_path_is_a_warning_at_compile_time() -> None:
    fact = leads("/srv/x", "/srv/x", PathKind.MISSING)
    assert messages([rules.Write(path="/srv/x", origin=at(1))], host(fact)) == [
        (Code.PATH_MISSING, Severity.WARNING, "`/srv/x` does not exist on this host")
    ]


def test_the_host_is_asked_about_the_path_as_the_engine_reads_it() -> None:
    asked: list[str] = []

    class Asking(FixedHost):
        def path(self, written: str) -> HostPath:
            asked.append(written)
            return super().path(written)

    for spelling in ("//srv//x/", "/srv/./x/.", "/srv/x"):
        check([rules.Read(path=spelling, origin=at(1))], Asking())
    assert set(asked) == {"/srv/x"}


@pytest.mark.parametrize("path", ["srv/x", "/srv/../etc", "/srv/\x00x", "/srv/\nx"])
def test_a_path_refused_on_its_text_is_never_asked_of_the_host(path: str) -> None:
    class Refusing(FixedHost):
        def path(self, written: str) -> HostPath:
            raise AssertionError(f"asked about {written!r}")

    assert not askable(path)
    codes = {d.code for d in check([rules.Read(path=path, origin=at(1))], Refusing())}
    assert codes & {Code.PATH_RELATIVE, Code.PATH_PARENT, Code.PATH_CONTROL_CHAR}


def test_the_words_of_a_danger() -> None:
    assert normal("//etc/./x/") == "/etc/x"
    assert mounting("`/srv`") == "mounting `/srv`"
    assert mounting("`/a`, a Unix socket") == "mounting `/a`, a Unix socket,"
    assert sensitive("/etc/cron.d", writable=True)
    assert not sensitive("/etc/cron.d", writable=False)


# --- duplicates: by where the paths lead ------------------------------------------------


LINK = leads("/tmp/link", "/srv/data")


def test_two_spellings_of_one_place_at_one_target_are_a_duplicate() -> None:
    ruleset: list[rules.Rule] = [
        rules.Read(path="/tmp/link", target="/data", origin=at(1)),
        rules.Read(path="/srv/data", target="/data", origin=at(2)),
    ]
    assert [d.code for d in check(ruleset, host(LINK))] == [Code.MOUNT_DUPLICATE]


def test_a_write_of_the_same_place_spelled_otherwise_makes_the_mount_writable() -> None:
    ruleset: list[rules.Rule] = [
        rules.Read(path="/tmp/link", target="/data", origin=at(1)),
        rules.Write(path="/srv/data", target="/data", origin=at(2)),
    ]
    assert check(ruleset, host(LINK)) == []
    (mount,) = build(ruleset, FILE, host(LINK)).mounts
    assert (mount.source, mount.target, mount.writable) == ("/srv/data", "/data", True)
    # and a `read` after the `write` does not make it read-only again
    (again,) = build([*ruleset, ruleset[0]], FILE, host(LINK)).mounts
    assert again.writable


def test_two_places_at_one_target_conflict_however_alike_their_spelling() -> None:
    other = leads("/srv/data", "/srv/elsewhere")
    ruleset: list[rules.Rule] = [
        rules.Read(path="/tmp/link", target="/data", origin=at(1)),
        rules.Read(path="/srv/data", target="/data", origin=at(2)),
    ]
    assert [d.code for d in check(ruleset, host(LINK, other))] == [Code.MOUNT_CONFLICT]


# --- build and lower: the resolved path at the written target ----------------------------


def test_the_plan_mounts_the_resolved_path_where_the_rule_wrote_it() -> None:
    fact = leads("/tmp/link", "/srv/data", identity=(1, 2))
    policy = build([rules.Read(path="/tmp/link", origin=at(1))], FILE, host(fact))
    (mount,) = policy.mounts
    assert (mount.source, mount.target, mount.written, mount.host) == (
        "/srv/data",
        "/tmp/link",
        "/tmp/link",
        fact,
    )
    spec = lower(policy, Target(image="i", name="n")).server.body["HostConfig"]["Mounts"][0]
    assert spec == {
        "Type": "bind",
        "Source": "/srv/data",
        "Target": "/tmp/link",
        "ReadOnly": True,
        "BindOptions": {"Propagation": "rprivate", "NonRecursive": True},
    }


def test_every_bind_mcp_lok_makes_is_non_recursive_and_private() -> None:
    ruleset: list[rules.Rule] = [
        rules.Read(path="/srv/data", origin=at(1)),
        rules.Write(path="/srv/out", origin=at(2)),
        rules.DenyPath(path="/srv/data/secret", origin=at(3)),
        rules.Allow(
            hosts=(rules.Item("api.example.com", at(4)),),
            ports=(rules.Item("443", at(4)),),
            protocols=(rules.Item("tcp", at(4)),),
            origin=at(4),
        ),
    ]
    plan = lower(build(ruleset, FILE), Target(image="i", name="n"))
    assert plan.gate is not None
    binds = [
        *plan.server.body["HostConfig"]["Mounts"],
        *plan.gate.container.body["HostConfig"]["Mounts"],
    ]
    # two grants, a mask, the gate's folder, and /etc/hosts, /etc/hostname and
    # /etc/resolv.conf for the server and for the gate
    assert len(binds) == 10
    assert all(b["BindOptions"] == {"Propagation": "rprivate", "NonRecursive": True} for b in binds)


# --- explain: as written and as resolved, never narrower ---------------------------------


def rows_of(
    fact: HostPath, *, write: bool = False, target: str | None = None
) -> list[tuple[str, str, float]]:
    kind = rules.Write if write else rules.Read
    rule = insecure(kind(path=fact.written, target=target, origin=at(1)))
    policy = build([rule], FILE, host(fact))
    report = explain(policy, lower(policy, Target(image="i", name="n")))
    return [
        (c.kind, c.description, c.weight)
        for c in report.controls
        # mcp-lok's own files (/etc/hosts, /etc/resolv.conf, …) have rows of their own
        if c.field.startswith("HostConfig.Mounts[")
        and not c.kind.startswith(("resolver", "own-files"))
    ]


def test_explain_shows_the_path_as_written_and_where_it_leads() -> None:
    assert rows_of(leads("/tmp/link", "/")) == [
        (
            "sensitive-read",
            "the host's `/tmp/link` (leads to `/`) is readable from the container "
            "(non-recursive: no host mount beneath it is carried in)",
            0.5,
        )
    ]
    assert rows_of(leads("/tmp/link/etc", "/etc"), write=True) == [
        (
            "sensitive-write",
            "the host's `/tmp/link/etc` (leads to `/etc`) is writable from the container "
            "(non-recursive: no host mount beneath it is carried in)",
            0.8,
        )
    ]


def test_explain_weighs_sockets_devices_and_what_a_folder_holds_as_the_host() -> None:
    assert rows_of(leads("/tmp/x", "/run/docker.sock", SOCKET), target="/var/run/docker.sock") == [
        (
            "engine-socket",
            "the engine socket `/tmp/x` (leads to `/run/docker.sock`) is reachable at "
            "`/var/run/docker.sock`: control of the engine is control of the host",
            0.95,
        )
    ]
    assert rows_of(leads("/srv/app.sock", "/srv/app.sock", SOCKET)) == [
        (
            "host-socket",
            "the host's Unix socket `/srv/app.sock` is reachable: what listens on it or "
            "drives it acts outside the container",
            0.95,
        )
    ]
    assert rows_of(leads("/srv/tty", "/srv/tty", PathKind.CHAR_DEVICE))[0][0] == "host-socket"
    assert rows_of(leads("/srv/d", "/run/podman"))[0][:1] == ("engine-folder",)
    holding = leads("/srv/x", "/srv/x", found=(Found("/srv/x/a.sock", Inside.SOCKET),))
    assert rows_of(holding) == [
        (
            "holds-socket",
            "`/srv/x` holds `/srv/x/a.sock`, a Unix socket, reachable from the container "
            "(non-recursive: no host mount beneath it is carried in)",
            0.8,
        )
    ]
    assert rows_of(leads("/srv/big", "/srv/big", truncated=True))[0][::2] == (
        "unsearched-mount",
        0.8,
    )


def test_explain_names_the_mount_points_a_non_recursive_bind_leaves_out() -> None:
    one = leads("/srv/x", "/srv/x", found=(Found("/srv/x/nfs", Inside.MOUNT_POINT),))
    assert rows_of(one)[0][1] == (
        "`/srv/x` is readable from the container (non-recursive: the mount point "
        "`/srv/x/nfs` beneath it is not carried in)"
    )
    two = leads(
        "/srv/x",
        "/srv/x",
        found=(Found("/srv/x/a", Inside.MOUNT_POINT), Found("/srv/x/b", Inside.MOUNT_POINT)),
    )
    assert rows_of(two)[0][1].endswith(
        "(non-recursive: the mount points `/srv/x/a`, `/srv/x/b` beneath it are not carried in)"
    )
    # a file has nothing beneath it
    assert rows_of(leads("/srv/f", "/srv/f", PathKind.FILE))[0][1] == (
        "`/srv/f` is readable from the container"
    )


def test_explain_adds_a_row_for_a_path_another_user_could_change() -> None:
    assert rows_of(leads("/tmp/w", "/tmp/w", replaceable="the folder `/tmp/d` is writable"))[1] == (
        "replaceable-mount",
        "another user could make `/tmp/w` lead elsewhere before the engine binds it (the "
        "folder `/tmp/d` is writable)",
        0.3,
    )


# --- the launch's second look ------------------------------------------------------------


def mount_of(fact: HostPath, writable: bool = False) -> Mount:
    return Mount(fact.resolved, fact.written, writable, at(1), fact)


@pytest.mark.parametrize(
    ("now", "why"),
    [
        (leads("/tmp/l", "/srv/a", identity=(1, 2)), None),
        (leads("/tmp/l", "/srv/a", PathKind.MISSING), "it no longer exists"),
        (leads("/tmp/l", "/tmp/l", PathKind.UNRESOLVABLE), "it can no longer be resolved"),
        (
            leads("/tmp/l", "/srv/b", identity=(1, 2)),
            "it led to `/srv/a` and now leads to `/srv/b`",
        ),
        (
            leads("/tmp/l", "/srv/a", PathKind.FILE, identity=(1, 2)),
            "it was a folder and is now a file",
        ),
        (
            leads("/tmp/l", "/srv/a", identity=(1, 3)),
            "`/srv/a` was replaced by another folder",
        ),
        (
            leads("/tmp/l", "/srv/a", identity=(1, 2), replaceable="why"),
            "mounting `/tmp/l`, which leads to `/srv/a`, a path another user could change "
            "before it is mounted (why), was not dangerous then",
        ),
    ],
)
def test_the_launch_refuses_a_path_that_changed_since_the_compile(
    now: HostPath, why: str | None
) -> None:
    mount = mount_of(leads("/tmp/l", "/srv/a", identity=(1, 2)))
    found = changed(mount, now)
    if why is None:
        assert found is None
        return
    assert found is not None
    assert (found.code, found.message, found.origin) == (
        Code.PATH_CHANGED,
        f"`/tmp/l` changed since the policy was compiled: {why}",
        at(1),
    )
    assert found.help


def test_the_launch_refuses_a_path_missing_since_the_compile() -> None:
    missing = leads("/srv/x", "/srv/x", PathKind.MISSING)
    found = changed(mount_of(missing), missing)
    assert found is not None
    assert (found.code, found.severity, found.message) == (
        Code.PATH_MISSING,
        Severity.ERROR,
        "`/srv/x` does not exist on this host",
    )


@pytest.mark.parametrize(
    "path",
    [
        "/run/user/1000/docker.sock",  # rootless Docker's socket
        "/run/user/1000/podman/podman.sock",
        "/home/me/.local/share/containers/storage",
        "/var/lib/containerd/io",
        "/etc/containers",
    ],
)
def test_engine_folders_system_wide_and_per_user(path: str) -> None:
    fact = leads(path, path, PathKind.FILE)
    assert path_dangers(fact, writable=False)[0] == (
        Insecurity.SPECIAL_MOUNT,
        f"`{path}`, in a container engine's folder",
    )


def test_a_fixed_host_states_its_facts() -> None:
    fixed = FixedHost()
    assert fixed.path("/srv/x") == HostPath("/srv/x", "/srv/x", PathKind.DIRECTORY)
    assert fixed.privileged_groups() == {0: "is root's group"}
    assert fixed.own_addresses() == frozenset({"127.0.0.1", "::1"})
