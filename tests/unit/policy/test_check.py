"""The check pass: every input problem is a diagnostic with a stable code, an exact
message and the origin to underline; dangerous rules need an `insecure` marker."""

from __future__ import annotations

import pytest

from mcp_lok.policy import rules
from mcp_lok.policy.check import LIMIT_RANGES, check
from mcp_lok.policy.dangers import dangers
from mcp_lok.policy.diagnostics import Code, Diagnostic, Severity
from mcp_lok.policy.host import FixedHost, HostPath, PathKind
from mcp_lok.policy.ir import Insecurity
from mcp_lok.policy.origin import BASELINE, Default, Pointer, Span
from mcp_lok.policy.paths import normal

FILE = "p.lok"
S = Span(FILE, 3, 5, 3, 20)  # the statement
MARK = Span(FILE, 3, 1, 3, 9)  # its `insecure` marker
PTR = Pointer("p.json", "/read/0", Span("p.json", 1, 10, 1, 16))
ROOT_GROUP = "the group 0 is root's group"
INSECURE_HELP = 'remove it, or write `insecure` before it with `because "…"` to accept the risk'
REASON_HELP = 'add `because "…"` saying why the server needs it'


def at(line: int, file: str = FILE) -> Span:
    return Span(file, line, 1, line, 10)


def item(value: str, line: int = 3) -> rules.Item:
    return rules.Item(value, at(line))


def found(*ruleset: rules.Rule) -> list[tuple[Code, str]]:
    return [(d.code, d.message) for d in check(ruleset)]


def test_a_clean_ruleset_has_no_diagnostics() -> None:
    ruleset = [
        rules.Read(path="/srv/data", origin=at(1)),
        rules.Write(path="/srv/out", target="/out", origin=at(2)),
        rules.Tmpfs(target="/cache", size=4096, origin=at(3)),
        rules.Tmpfs(target="/scratch", origin=at(4)),
        rules.DenyPath(path="/srv/data/private", origin=at(5)),
        rules.Allow(
            hosts=(item("api.example.com"), item("*.example.org")),
            ports=(item("443"), item("80")),
            protocols=(item("tcp"), item("udp")),
            origin=at(6),
        ),
        rules.DenyHost(host=item("10.0.0.0/8"), origin=at(7)),
        rules.DenyPort(port=item("25"), origin=at(8)),
        rules.User(spec="1000:1000", origin=at(9)),
        rules.Limit(kind=rules.LimitKind.MEMORY, value=256 * 1024**2, origin=at(10)),
        rules.Env(name="LOG_LEVEL", value="debug", origin=at(11)),
        rules.Secret(
            name="TOKEN", provider=rules.SecretProvider.ENV, ref="GH_TOKEN", origin=at(12)
        ),
        rules.Capability(name="NET_BIND_SERVICE", reason="binds :80", origin=at(13)),
        rules.SeccompDeny(syscalls=(item("personality"),), origin=at(14)),
        rules.NetworkNone(origin=at(15)),
        rules.Extends(target="base.lok", origin=at(16)),
    ]
    assert check(ruleset) == []


# --- paths -------------------------------------------------------------------------------


def test_a_relative_host_path_is_an_error_with_a_rooted_suggestion() -> None:
    assert check([rules.Read(path="srv", origin=S)]) == [
        Diagnostic(
            Code.PATH_RELATIVE,
            "the host path `srv` is relative",
            S,
            help="write it from the root, e.g. `/srv`",
        )
    ]


def test_a_parent_segment_is_an_error_that_shows_the_meant_path() -> None:
    assert check([rules.Write(path="/srv/../data", origin=S)]) == [
        Diagnostic(
            Code.PATH_PARENT,
            "the host path `/srv/../data` contains `..`",
            S,
            help="write the path it means: `/data`",
        )
    ]


@pytest.mark.parametrize("path", ["/srv\x00", "/srv\nx", "/a\tb", "/del\x7f"])
def test_control_characters_in_a_path_are_an_error(path: str) -> None:
    assert check([rules.Read(path=path, origin=S)]) == [
        Diagnostic(
            Code.PATH_CONTROL_CHAR,
            "the host path contains a control character",
            S,
            help="paths may not contain NUL, newlines or other control characters",
        )
    ]


def test_a_relative_container_target_has_its_own_code() -> None:
    assert check([rules.Read(path="/srv", target="data", origin=S)]) == [
        Diagnostic(
            Code.PATH_TARGET_RELATIVE,
            "the container path `data` is relative",
            S,
            help="write it from the root, e.g. `/data`",
        )
    ]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            rules.Tmpfs(target="cache", origin=S),
            (Code.PATH_TARGET_RELATIVE, "the container path `cache` is relative"),
        ),
        (
            rules.DenyPath(path="/a/../b", origin=S),
            (Code.PATH_PARENT, "the container path `/a/../b` contains `..`"),
        ),
        (
            rules.Write(path="/srv", target="/a/../b", origin=S),
            (Code.PATH_PARENT, "the container path `/a/../b` contains `..`"),
        ),
        (
            rules.Secret(name="T", provider=rules.SecretProvider.FILE, ref="token", origin=S),
            (Code.PATH_RELATIVE, "the secret file `token` is relative"),
        ),
    ],
)
def test_every_path_a_rule_names_is_checked(rule: rules.Rule, expected: tuple[Code, str]) -> None:
    assert found(rule) == [expected]


@pytest.mark.parametrize(
    ("size", "ok"),
    [(4095, False), (4096, True), (64 * 1024**3, True), (64 * 1024**3 + 1, False), (None, True)],
)
def test_tmpfs_size_bounds(size: int | None, ok: bool) -> None:
    expected = [] if ok else [(Code.LIMIT_INVALID, "a tmpfs size must be between 4K and 64G")]
    assert found(rules.Tmpfs(target="/cache", size=size, origin=S)) == expected


# --- sensitive mounts and the insecure marker ---------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/etc",
        "/etc/",
        "/usr/",
        "/var/run",
        "/home",
        "//",  # normpath keeps a leading `//`; the engine reads it as `/`
        "//etc",
        "/./etc",
        "/var/run/docker.sock",
        "/home/me/.docker/run/docker.sock",
        "/run/user/1000/podman/podman.sock",
        "/run/containerd/containerd.sock",
        "/proc",
        "/proc/1/root",
        "/sys/kernel",
        "/dev/sda",
        "/boot/grub",
    ],
)
@pytest.mark.parametrize("kind", [rules.Read, rules.Write])
def test_sensitive_host_paths_need_insecure(kind: type[rules.Read], path: str) -> None:
    # the path is named as the engine reads it (`//etc/` is `/etc`); an engine's folder is
    # named as such, before its place among the sensitive paths
    found = check([kind(path=path, origin=S)])
    assert [(d.code, d.origin, d.help) for d in found] == [
        (Code.INSECURE_REQUIRED, S, INSECURE_HELP)
    ]
    assert found[0].message.startswith(f"mounting `{normal(path)}`")
    assert found[0].message.endswith(" is dangerous and needs an `insecure` marker")
    kinds = [what for what, _ in dangers(kind(path=path, origin=S))]
    assert Insecurity.SENSITIVE_MOUNT in kinds


@pytest.mark.parametrize("path", ["/etc/ssl/certs", "/usr/share/zoneinfo", "/lib/modules"])
def test_system_trees_may_be_read_below_the_top_but_not_written(path: str) -> None:
    assert dangers(rules.Read(path=path, origin=S)) == []
    assert dangers(rules.Write(path=path, origin=S)) == [(Insecurity.SENSITIVE_MOUNT, f"`{path}`")]


@pytest.mark.parametrize(
    "path",
    [
        "/root/.x",
        "/etc/shadow",
        "/etc/ssh",
        "/home/me/.ssh/id_ed25519",
        "/srv/app/.aws",
        "/x/.netrc",
    ],
)
def test_stores_of_credentials_are_sensitive_to_read_too(path: str) -> None:
    for rule in (rules.Read(path=path, origin=S), rules.Write(path=path, origin=S)):
        assert dangers(rule) == [(Insecurity.SENSITIVE_MOUNT, f"`{path}`")]


@pytest.mark.parametrize("path", ["/run/user/1000", "/var/lib/docker/volumes/x"])
def test_trees_holding_engine_sockets_and_state_are_sensitive_even_to_read(path: str) -> None:
    assert Insecurity.SENSITIVE_MOUNT in [w for w, _ in dangers(rules.Read(path=path, origin=S))]


@pytest.mark.parametrize(
    "path",
    ["/run/user/1000/podman", "/run/containerd", "/var/lib/docker/volumes/x", "/etc/docker"],
)
def test_engine_folders_need_insecure_even_to_read(path: str) -> None:
    assert dangers(rules.Read(path=path, origin=S))[0] == (
        Insecurity.SPECIAL_MOUNT,
        f"`{path}`, in a container engine's folder",
    )


def test_the_seed_examples_socket_is_not_sensitive() -> None:
    assert dangers(rules.Write(path="/var/run/mcp.sock", origin=S)) == []


@pytest.mark.parametrize("path", ["/procfs", "/device", "/srv/etc", "/etcetera", "/var/lib/x"])
def test_prefixes_that_are_not_the_tree_itself_are_not_sensitive(path: str) -> None:
    assert dangers(rules.Write(path=path, origin=S)) == []


def test_an_engine_socket_is_sensitive_even_on_a_relative_path() -> None:
    assert found(rules.Read(path="run/docker.sock", origin=S)) == [
        (Code.PATH_RELATIVE, "the host path `run/docker.sock` is relative"),
        (
            Code.INSECURE_REQUIRED,
            "mounting `run/docker.sock` is dangerous and needs an `insecure` marker",
        ),
    ]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (rules.NetworkOpen(origin=S), (Insecurity.NETWORK_OPEN, "egress to any host")),
        (rules.Privileged(origin=S), (Insecurity.PRIVILEGED, "all devices and capabilities")),
        (rules.SeccompOff(origin=S), (Insecurity.SECCOMP_OFF, "no system call filter")),
        (
            rules.AllowPrivilegeEscalation(origin=S),
            (Insecurity.PRIVILEGE_ESCALATION, "setuid binaries work"),
        ),
        (rules.WritableRoot(origin=S), (Insecurity.WRITABLE_ROOT, "the image can be modified")),
        (
            rules.Capability(name="SYS_ADMIN", origin=S),
            (Insecurity.DANGEROUS_CAPABILITY, "SYS_ADMIN"),
        ),
        (
            rules.Capability(name="NOT_A_CAP", origin=S),
            (Insecurity.DANGEROUS_CAPABILITY, "NOT_A_CAP"),
        ),
        (rules.User(spec="root", origin=S), (Insecurity.ROOT_USER, "root")),
        (rules.User(spec="0", origin=S), (Insecurity.ROOT_USER, "0")),
        (rules.User(spec="0:0", origin=S), (Insecurity.ROOT_USER, "0:0")),
        (rules.User(spec="00", origin=S), (Insecurity.ROOT_USER, "00")),  # still uid 0
        (rules.User(spec="root:1000", origin=S), (Insecurity.ROOT_USER, "root:1000")),
        # gid 0, however written, is root's group
        (rules.User(spec="1000:0", origin=S), (Insecurity.PRIVILEGED_GROUP, ROOT_GROUP)),
        (rules.User(spec="65534:00", origin=S), (Insecurity.PRIVILEGED_GROUP, ROOT_GROUP)),
        (rules.User(spec="65534:root", origin=S), (Insecurity.PRIVILEGED_GROUP, ROOT_GROUP)),
        (rules.User(spec="app:root", origin=S), (Insecurity.PRIVILEGED_GROUP, ROOT_GROUP)),
    ],
)
def test_what_makes_a_rule_dangerous(rule: rules.Rule, expected: tuple[Insecurity, str]) -> None:
    assert dangers(rule) == [expected]


@pytest.mark.parametrize(
    "rule",
    [
        rules.Capability(name="NET_BIND_SERVICE", origin=S),
        rules.User(spec="10", origin=S),  # its group comes from the image: judged at launch
        rules.User(spec="rooter", origin=S),
        rules.NetworkNone(origin=S),
        rules.Env(name="A", value="b", origin=S),
        rules.Read(path="/srv", origin=S),
    ],
)
def test_safe_rules_are_not_dangerous(rule: rules.Rule) -> None:
    assert dangers(rule) == []


def test_a_dangerous_rule_without_a_marker_is_an_error() -> None:
    assert check([rules.Privileged(origin=S)]) == [
        Diagnostic(
            Code.INSECURE_REQUIRED,
            "a privileged container (all devices and capabilities) is dangerous and needs an "
            "`insecure` marker",
            S,
            help=INSECURE_HELP,
        )
    ]


def test_a_profile_entry_gets_the_profile_flavoured_help() -> None:
    [diagnostic] = check([rules.Read(path="/etc", origin=PTR)])
    assert diagnostic.code is Code.INSECURE_REQUIRED
    assert diagnostic.origin == PTR
    assert diagnostic.help == 'set `"insecure": true` at the top of the profile to accept the risk'


def test_a_marked_dangerous_rule_with_a_reason_is_accepted() -> None:
    assert check([rules.Privileged(origin=S, insecure=MARK, reason="needs /dev/kvm")]) == []


def test_a_marker_in_a_policy_file_needs_a_reason() -> None:
    assert check([rules.SeccompOff(origin=S, insecure=MARK)]) == [
        Diagnostic(
            Code.CAPABILITY_REASON,
            "an `insecure` statement needs a reason",
            S,
            help=REASON_HELP,
        )
    ]


def test_an_empty_reason_is_no_reason() -> None:
    assert found(rules.WritableRoot(origin=S, insecure=MARK, reason="")) == [
        (Code.CAPABILITY_REASON, "an `insecure` statement needs a reason")
    ]


def test_a_profile_marker_needs_no_reason() -> None:
    # a profile's top-level `"insecure": true` is a pointer and has no place for a reason
    marker = Pointer("p.json", "/insecure")
    assert check([rules.Read(path="/etc", origin=PTR, insecure=marker)]) == []


def test_a_marker_on_a_safe_statement_is_a_warning_at_the_marker() -> None:
    assert check([rules.Read(path="/srv", origin=S, insecure=MARK, reason="x")]) == [
        Diagnostic(
            Code.INSECURE_UNUSED,
            "this statement is not dangerous; `insecure` has no effect",
            MARK,
            help="remove `insecure` so that real exceptions stand out",
            severity=Severity.WARNING,
        )
    ]


@pytest.mark.parametrize("marker", [Default("network"), BASELINE])
def test_an_unused_builtin_marker_says_nothing(marker: Default) -> None:
    assert check([rules.Read(path="/srv", origin=PTR, insecure=marker)]) == []


def test_an_unused_profile_marker_is_reported_once_at_the_marker() -> None:
    marker = Pointer("p.json", "/insecure")
    ruleset = [rules.Read(path=p, origin=PTR, insecure=marker) for p in ("/srv", "/opt")]
    assert check(ruleset) == [
        Diagnostic(
            Code.INSECURE_UNUSED,
            "nothing in this profile is dangerous; `insecure` has no effect",
            marker,
            help='remove `"insecure": true` so that real exceptions stand out',
            severity=Severity.WARNING,
        )
    ]


def test_a_profile_marker_that_covers_a_danger_is_not_reported() -> None:
    marker = Pointer("p.json", "/insecure")
    ruleset = [
        rules.Read(path="/srv", origin=PTR, insecure=marker),
        rules.Privileged(origin=PTR, insecure=marker),
    ]
    assert check(ruleset) == []


# --- hosts, ports, transports ------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "api.example.com",
        "API.Example.COM",
        "localhost",
        "*.example.com",
        "*.co.uk",
        "xn--bcher-kva.example",
        "10.0.0.5",
        "10.0.0.0/8",
        "2001:db8::1",
        "[2001:db8::1]",
        "2001:db8::/32",
        "a" * 63 + ".com",
    ],
)
def test_good_host_patterns(host: str) -> None:
    assert check([rules.DenyHost(host=item(host), origin=S)]) == []


@pytest.mark.parametrize(
    "host",
    [
        "*",
        "*.*.example.com",
        "10.0.0.0/33",
        "1.2.3",
        "999.1.1.1",
        "exa mple.com",
        "-bad.example.com",
        "bad-.example.com",
        "under_score.com",
        "example.com.",
        "a..b",
        "",
        "example.com\n",
        "[2001:db8::1",  # an unmatched bracket
        "[[2001:db8::1]]",
        "[example.com]",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 4 + "example.com",  # 255 characters, over 253
    ],
)
def test_bad_host_patterns(host: str) -> None:
    origin = at(7)
    assert check([rules.DenyHost(host=rules.Item(host, origin), origin=S)]) == [
        Diagnostic(
            Code.HOST_MALFORMED,
            f"`{host}` is not a host name, `*.suffix`, IP address or CIDR",
            origin,
            help="write e.g. `api.example.com`, `*.example.com`, `10.0.0.5` or `10.0.0.0/8`",
        )
    ]


@pytest.mark.parametrize(
    ("rule", "help"),
    [
        (
            rules.Allow(hosts=(item("api.example.com:443", 7),), ports=(), protocols=(), origin=S),
            "write the host alone, `api.example.com`: the port `443` goes after `port`",
        ),
        (
            rules.Allow(
                hosts=(item("api.example.com:443", 7),),
                ports=(),
                protocols=(),
                origin=Pointer("p.json", ""),
            ),
            "write the host alone, `api.example.com`: the port `443` goes in `allow_port`",
        ),
        (
            rules.DenyHost(host=item("api.example.com:443", 7), origin=S),
            "write the host alone, `api.example.com`: drop the port `443` (`deny host` "
            "refuses the host on every port)",
        ),
    ],
)
def test_a_port_in_a_host_is_moved_where_the_rule_takes_ports(rule: rules.Rule, help: str) -> None:
    [found] = check([rule])
    assert (found.code, found.origin, found.help) == (Code.HOST_MALFORMED, at(7), help)
    assert found.message == "`api.example.com:443` is a host with a port, not a host pattern"


@pytest.mark.parametrize("port", ["1", "80", "443", "65535", "0443"])
def test_good_ports(port: str) -> None:
    assert check([rules.DenyPort(port=item(port), origin=S)]) == []


@pytest.mark.parametrize("port", ["0", "65536", "99999999", "x", "", "-1", "4 4", "²", "٤٤٣"])
def test_bad_ports(port: str) -> None:
    origin = at(8)
    assert check([rules.DenyPort(port=rules.Item(port, origin), origin=S)]) == [
        Diagnostic(Code.PORT_RANGE, f"port `{port}` is outside 1–65535", origin)
    ]


def test_every_entry_of_an_allow_rule_is_checked_at_its_own_origin() -> None:
    rule = rules.Allow(
        hosts=(item("exa mple.com", 1),),
        ports=(item("0", 2),),
        protocols=(item("tpc", 3), item("quic", 4)),
        origin=S,
    )
    assert check([rule]) == [
        Diagnostic(
            Code.HOST_MALFORMED,
            "`exa mple.com` is not a host name, `*.suffix`, IP address or CIDR",
            at(1),
            help="write e.g. `api.example.com`, `*.example.com`, `10.0.0.5` or `10.0.0.0/8`",
        ),
        Diagnostic(Code.PORT_RANGE, "port `0` is outside 1–65535", at(2)),
        Diagnostic(
            Code.TRANSPORT_UNKNOWN, "unknown transport `tpc`", at(3), help="did you mean `tcp`?"
        ),
        Diagnostic(
            Code.TRANSPORT_UNKNOWN, "unknown transport `quic`", at(4), help="use `tcp` or `udp`"
        ),
    ]


def test_repeated_entries_of_an_allow_rule_are_reported_at_the_repeat() -> None:
    rule = rules.Allow(
        hosts=(item("api.example.com", 1), item("API.example.com", 2), item("2001:db8::1", 3)),
        ports=(item("443", 4), item("80", 5), item("443", 6)),
        protocols=(item("tcp", 7), item("tcp", 8)),
        origin=S,
    )
    rule_v6 = rules.Allow(
        hosts=(item("2001:db8::1", 1), item("[2001:db8:0::1]", 2)),
        ports=(item("443", 4),),
        protocols=(item("tcp", 7),),
        origin=S,
    )
    again = "remove the repeated entry"
    assert check([rule]) == [
        Diagnostic(Code.HOST_DUPLICATE, "host `API.example.com` is listed twice", at(2), again),
        Diagnostic(Code.PORT_DUPLICATE, "port `443` is listed twice", at(6), again),
        Diagnostic(Code.DUPLICATE, "transport `tcp` is listed twice", at(8), again),
    ]
    assert found(rule_v6) == [(Code.HOST_DUPLICATE, "host `[2001:db8:0::1]` is listed twice")]


# --- users, limits, environment, secrets ------------------------------------------------


@pytest.mark.parametrize(
    "spec", ["1000", "1000:1000", "app", "app:staff", "_svc", "www-data", "2147483647"]
)
def test_good_users(spec: str) -> None:
    assert check([rules.User(spec=spec, origin=S)]) == []


@pytest.mark.parametrize(
    "spec", ["", "1000:", ":1000", "App", "a b", "1000\n", "12345678901", "٠", "1:2:3", "-x"]
)
def test_bad_users(spec: str) -> None:
    assert check([rules.User(spec=spec, origin=S)]) == [
        Diagnostic(
            Code.USER_MALFORMED,
            f"`{spec}` is not a user",
            S,
            help="write a numeric `uid` or `uid:gid` (e.g. `1000:1000`), or a user name",
        )
    ]


@pytest.mark.parametrize("spec", ["root", "0", "0:0", "000"])
def test_root_needs_insecure(spec: str) -> None:
    assert found(rules.User(spec=spec, origin=S)) == [
        (
            Code.INSECURE_REQUIRED,
            f"running as `{spec}` is dangerous and needs an `insecure` marker",
        )
    ]
    assert check([rules.User(spec=spec, origin=S, insecure=MARK, reason="apt-get")]) == []


def test_limit_ranges_are_the_documented_ones() -> None:
    mib = 1024 * 1024
    documented = {
        rules.LimitKind.MEMORY: (6 * mib, 1024**4, "between 6M and 1T"),
        rules.LimitKind.CPUS: (10, 1_024_000, "between 0.01 and 1024"),
        rules.LimitKind.PIDS: (8, 1_000_000, "between 8 and 1000000"),
        rules.LimitKind.NOFILE: (64, 1_048_576, "between 64 and 1048576"),
    }
    assert documented == LIMIT_RANGES


@pytest.mark.parametrize("kind", list(rules.LimitKind))
def test_limits_are_checked_at_both_ends(kind: rules.LimitKind) -> None:
    low, high, words = LIMIT_RANGES[kind]
    error = [(Code.LIMIT_INVALID, f"the {kind.value} limit must be {words}")]
    assert found(rules.Limit(kind=kind, value=low - 1, origin=S)) == error
    assert found(rules.Limit(kind=kind, value=low, origin=S)) == []
    assert found(rules.Limit(kind=kind, value=high, origin=S)) == []
    assert found(rules.Limit(kind=kind, value=high + 1, origin=S)) == error


@pytest.mark.parametrize("name", ["1X", "A-B", "A B", "", "A\n", "É"])
def test_bad_env_names(name: str) -> None:
    assert check([rules.Env(name=name, value="v", origin=S)]) == [
        Diagnostic(
            Code.ENV_INVALID,
            f"`{name}` is not a valid environment variable name",
            S,
            help="use letters, digits and `_`, not starting with a digit",
        )
    ]


@pytest.mark.parametrize(
    "name", ["HTTP_PROXY", "https_proxy", "NO_PROXY", "NODE_USE_ENV_PROXY", "MCP_PORT", "MCP_HOST"]
)
def test_variables_mcp_lok_sets_are_reserved(name: str) -> None:
    expected = Diagnostic(
        Code.ENV_INVALID,
        f"`{name}` is set by mcp-lok itself",
        S,
        help="mcp-lok sets the proxy and transport variables; remove this one",
    )
    assert check([rules.Env(name=name, value="v", origin=S)]) == [expected]
    secret = rules.Secret(name=name, provider=rules.SecretProvider.ENV, ref="X", origin=S)
    assert check([secret]) == [expected]


def test_an_env_value_may_not_contain_nul() -> None:
    assert found(rules.Env(name="A", value="x\x00y", origin=S)) == [
        (Code.ENV_INVALID, "the value of `A` contains a NUL")
    ]
    assert found(rules.Env(name="A", value="multi\nline ünïcode", origin=S)) == []


@pytest.mark.parametrize(
    ("provider", "ref", "expected"),
    [
        (rules.SecretProvider.ENV, "GH_TOKEN", []),
        (
            rules.SecretProvider.ENV,
            "gh-token",
            [(Code.SECRET_INVALID, "`gh-token` is not a valid environment variable name")],
        ),
        (
            rules.SecretProvider.ENV,
            "GH_TOKEN\n",
            [(Code.SECRET_INVALID, "`GH_TOKEN\n` is not a valid environment variable name")],
        ),
        (rules.SecretProvider.FILE, "/run/secrets/token", []),
        (
            rules.SecretProvider.FILE,
            "/run/../token",
            [(Code.PATH_PARENT, "the secret file `/run/../token` contains `..`")],
        ),
    ],
)
def test_secret_references(
    provider: rules.SecretProvider, ref: str, expected: list[tuple[Code, str]]
) -> None:
    assert found(rules.Secret(name="TOKEN", provider=provider, ref=ref, origin=S)) == expected


# --- capabilities and system calls -----------------------------------------------------------


def test_net_bind_service_is_safe_but_needs_a_reason() -> None:
    assert check([rules.Capability(name="NET_BIND_SERVICE", reason="port 80", origin=S)]) == []
    assert check([rules.Capability(name="NET_BIND_SERVICE", origin=S)]) == [
        Diagnostic(
            Code.CAPABILITY_REASON,
            "adding `NET_BIND_SERVICE` needs a stated reason",
            S,
            help=REASON_HELP,
        )
    ]


def test_sys_admin_needs_insecure() -> None:
    assert found(rules.Capability(name="SYS_ADMIN", reason="fuse", origin=S)) == [
        (
            Code.INSECURE_REQUIRED,
            "adding the capability `SYS_ADMIN` is dangerous and needs an `insecure` marker",
        )
    ]
    marked = rules.Capability(name="SYS_ADMIN", reason="fuse", origin=S, insecure=MARK)
    assert check([marked]) == []


def test_a_marked_capability_without_reason_is_reported_once() -> None:
    assert found(rules.Capability(name="SYS_ADMIN", origin=S, insecure=MARK)) == [
        (Code.CAPABILITY_REASON, "adding `SYS_ADMIN` needs a stated reason")
    ]


def test_an_unknown_capability_suggests_the_closest() -> None:
    rule = rules.Capability(name="NET_BIND_SERVCE", reason="x", origin=S, insecure=MARK)
    assert check([rule]) == [
        Diagnostic(
            Code.CAPABILITY_UNKNOWN,
            "unknown capability `NET_BIND_SERVCE`",
            S,
            help="did you mean `NET_BIND_SERVICE`?",
        )
    ]
    assert [d.help for d in check([rules.Capability(name="XYZZY", origin=S)])] == [
        None,
        REASON_HELP,
        INSECURE_HELP,
    ]


def test_unknown_syscalls_are_reported_each_at_its_origin() -> None:
    rule = rules.SeccompDeny(
        syscalls=(item("ptrace", 1), item("ptrcae", 2), item("zzzzq", 3)), origin=S
    )
    assert check([rule]) == [
        Diagnostic(
            Code.SYSCALL_UNKNOWN, "unknown system call `ptrcae`", at(2), "did you mean `ptrace`?"
        ),
        Diagnostic(Code.SYSCALL_UNKNOWN, "unknown system call `zzzzq`", at(3)),
    ]


# --- duplicates and conflicts -----------------------------------------------------------------


ENV = rules.SecretProvider.ENV
MEMORY = rules.LimitKind.MEMORY


@pytest.mark.parametrize(
    ("first", "second", "code", "message"),
    [
        (
            rules.Read(path="/srv", origin=at(1)),
            rules.Read(path="/srv/", origin=at(2)),
            Code.MOUNT_DUPLICATE,
            "the mount of `/srv/` is already set above",
        ),
        (
            rules.Write(path="/out", target="/o", origin=at(1)),
            rules.Write(path="/out", target="/o", origin=at(2)),
            Code.MOUNT_DUPLICATE,
            "the mount of `/out` is already set above",
        ),
        (
            rules.Tmpfs(target="/cache", origin=at(1)),
            rules.Tmpfs(target="/cache", size=8192, origin=at(2)),
            Code.MOUNT_DUPLICATE,
            "the tmpfs at `/cache` is already set above",
        ),
        (
            rules.Limit(kind=MEMORY, value=64 * 1024**2, origin=at(1)),
            rules.Limit(kind=MEMORY, value=128 * 1024**2, origin=at(2)),
            Code.LIMIT_DUPLICATE,
            "the memory limit is already set above",
        ),
        (
            rules.Env(name="TOKEN", value="a", origin=at(1)),
            rules.Secret(name="TOKEN", provider=ENV, ref="T", origin=at(2)),
            Code.ENV_DUPLICATE,
            "`TOKEN` is already set above",
        ),
        (
            rules.User(spec="1000", origin=at(1)),
            rules.User(spec="1001", origin=at(2)),
            Code.DUPLICATE,
            "the user is already set above",
        ),
        (
            rules.Extends(target="base.lok", origin=at(1)),
            rules.Extends(target="base.lok", origin=at(2)),
            Code.EXTENDS_DUPLICATE,
            "`extends base.lok` is already set above",
        ),
        (
            rules.DenyHost(host=item("example.com"), origin=at(1)),
            rules.DenyHost(host=item("EXAMPLE.com"), origin=at(2)),
            Code.DUPLICATE,
            "`deny EXAMPLE.com` is already set above",
        ),
        (
            rules.DenyPort(port=item("25"), origin=at(1)),
            rules.DenyPort(port=item("25"), origin=at(2)),
            Code.DUPLICATE,
            "`deny 25` is already set above",
        ),
        (
            rules.DenyPath(path="/srv/x", origin=at(1)),
            rules.DenyPath(path="/srv//x", origin=at(2)),
            Code.DUPLICATE,
            "`deny path /srv//x` is already set above",
        ),
        (
            rules.Capability(name="NET_BIND_SERVICE", reason="a", origin=at(1)),
            rules.Capability(name="NET_BIND_SERVICE", reason="b", origin=at(2)),
            Code.DUPLICATE,
            "capability `NET_BIND_SERVICE` is already set above",
        ),
    ],
)
def test_a_repeat_in_one_file_is_an_error_pointing_at_the_first(
    first: rules.Rule, second: rules.Rule, code: Code, message: str
) -> None:
    assert check([first, second]) == [
        Diagnostic(code, message, at(2), help="remove one of them (first at p.lok:1)")
    ]


def test_a_child_may_restate_what_its_parent_set() -> None:
    ruleset = [
        rules.User(spec="1000", origin=at(1, "base.lok")),
        rules.Read(path="/srv", origin=at(2, "base.lok")),
        rules.Tmpfs(target="/cache", origin=at(3, "base.lok")),
        rules.Read(path="/a", target="/data", origin=at(4, "base.lok")),
        rules.User(spec="1001", origin=at(1)),
        rules.Read(path="/srv", origin=at(2)),
        rules.Tmpfs(target="/cache", origin=at(3)),
        rules.Read(path="/b", target="/data", origin=at(4)),
    ]
    assert check(ruleset) == []


def test_a_profile_repeat_is_found_by_file() -> None:
    first = rules.Read(path="/srv", origin=Pointer("p.json", "/read/0"))
    second = rules.Read(path="/srv", origin=Pointer("p.json", "/read/1"))
    assert check([first, second]) == [
        Diagnostic(
            Code.MOUNT_DUPLICATE,
            "the mount of `/srv` is already set above",
            second.origin,
            help="remove one of them (first at p.json#/read/0)",
        )
    ]


def test_one_file_reached_twice_through_extends_is_not_a_repeat() -> None:
    # a diamond: child extends a and b, both extend base; base's statements come twice
    base = [
        rules.Read(path="/srv", origin=at(1, "base.lok")),
        rules.User(spec="1", origin=at(2, "base.lok")),
    ]
    assert check([*base, *base]) == []


def test_read_and_write_of_one_path_are_neither_a_repeat_nor_a_conflict() -> None:
    assert (
        check([rules.Read(path="/srv", origin=at(1)), rules.Write(path="/srv", origin=at(2))]) == []
    )


def test_two_host_paths_at_one_target_conflict() -> None:
    ruleset = [
        rules.Read(path="/a", target="/data", origin=at(1)),
        rules.Write(path="/b", target="/data/", origin=at(2)),
    ]
    assert check(ruleset) == [
        Diagnostic(
            Code.MOUNT_CONFLICT,
            "`/data` would show both `/a` and `/b`",
            at(2),
            help="the other mount is at p.lok:1",
        )
    ]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (rules.Read(path="/data", origin=at(1)), rules.Tmpfs(target="/data", origin=at(2))),
        (rules.Tmpfs(target="/data", origin=at(1)), rules.Write(path="/data", origin=at(2))),
        (
            rules.Tmpfs(target="/data", origin=at(1)),
            rules.Read(path="/elsewhere", target="/data", origin=at(2)),
        ),
    ],
)
def test_a_bind_mount_and_a_tmpfs_at_one_target_conflict(
    first: rules.Rule, second: rules.Rule
) -> None:
    assert check([first, second]) == [
        Diagnostic(
            Code.MOUNT_CONFLICT,
            "`/data` is mounted twice in the container",
            at(2),
            help="the other mount is at p.lok:1",
        )
    ]


def test_diagnostics_come_rule_by_rule_then_repeats() -> None:
    ruleset = [
        rules.Env(name="A", value="1", origin=at(1)),
        rules.Read(path="srv", origin=at(2)),
        rules.Env(name="A", value="2", origin=at(3)),
        rules.Privileged(origin=at(4)),
    ]
    assert [(d.code, d.origin) for d in check(ruleset)] == [
        (Code.PATH_RELATIVE, at(2)),
        (Code.INSECURE_REQUIRED, at(4)),
        (Code.ENV_DUPLICATE, at(3)),
    ]


def test_rules_without_a_key_are_never_repeats() -> None:
    ruleset = [
        rules.NetworkNone(origin=at(1)),
        rules.NetworkNone(origin=at(2)),
        rules.SeccompDeny(syscalls=(item("ptrace"),), origin=at(3)),
        rules.SeccompDeny(syscalls=(item("ptrace"),), origin=at(4)),
    ]
    assert check(ruleset) == []


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (rules.NetworkOpen(origin=S), "an open network (egress to any host)"),
        (rules.SeccompOff(origin=S), "running with seccomp disabled (no system call filter)"),
        (rules.WritableRoot(origin=S), "a writable root filesystem (the image can be modified)"),
    ],
)
def test_dangers_read_as_plain_words(rule: rules.Rule, words: str) -> None:
    [diagnostic] = check([rule])
    assert diagnostic.message == f"{words} is dangerous and needs an `insecure` marker"


# --- identity: what a user means on this host (issue 11) ---------------------------------

SOCKET_GROUP = FixedHost(groups={0: "is root's group", 105: "may open `/run/docker.sock`"})


@pytest.mark.parametrize("spec", ["65534:105", "65534:0105", "1000:105"])
def test_a_group_that_may_open_an_engine_socket_needs_insecure_and_says_why(spec: str) -> None:
    assert check([rules.User(spec=spec, origin=S)], SOCKET_GROUP) == [
        Diagnostic(
            Code.INSECURE_REQUIRED,
            "running in a privileged group (the group 105 may open `/run/docker.sock`) is "
            "dangerous and needs an `insecure` marker",
            S,
            help=INSECURE_HELP,
        )
    ]
    acknowledged = rules.User(spec=spec, origin=S, insecure=MARK, reason="drives the engine")
    assert check([acknowledged], SOCKET_GROUP) == []


def test_a_group_is_judged_on_the_host_it_runs_on() -> None:
    # 105 is only a number on a host where no socket or device belongs to it
    assert check([rules.User(spec="65534:105", origin=S)]) == []


@pytest.mark.parametrize("spec", ["65534:0", "65534:00", "65534:root", "0:0", "root", "00"])
def test_uid_0_and_gid_0_need_insecure_however_written(spec: str) -> None:
    assert [c for c, _ in found(rules.User(spec=spec, origin=S))] == [Code.INSECURE_REQUIRED]


def test_root_in_a_privileged_group_is_both_dangers() -> None:
    assert dangers(rules.User(spec="0:105", origin=S), SOCKET_GROUP) == [
        (Insecurity.ROOT_USER, "0:105"),
        (Insecurity.PRIVILEGED_GROUP, "the group 105 may open `/run/docker.sock`"),
    ]


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("65533", "uid 65533 is the gate's"),
        ("65533:65533", "uid 65533 is the gate's"),
        ("065533:1000", "uid 65533 is the gate's"),
        ("1000:65533", "the group 65533 is the gate's"),
        ("app:65533", "the group 65533 is the gate's"),
    ],
)
def test_the_gates_ids_are_reserved_not_insecure(spec: str, why: str) -> None:
    expected = Diagnostic(
        Code.USER_RESERVED,
        f"`{spec}` cannot be a server's user: {why}",
        S,
        help="choose another user; the gate's ids are reserved so that no server can pass "
        "for the gate",
    )
    assert check([rules.User(spec=spec, origin=S)]) == [expected]
    # no marker makes it allowed
    marked = rules.User(spec=spec, origin=S, insecure=MARK, reason="x")
    assert expected in check([marked])


@pytest.mark.parametrize("spec", ["2147483648", "4294967296", "1000:2147483648", "9999999999"])
def test_ids_beyond_what_the_engines_accept_are_malformed(spec: str) -> None:
    # both engines refuse them only when the container starts, after it was created
    assert found(rules.User(spec=spec, origin=S)) == [
        (Code.USER_MALFORMED, f"`{spec}` names an id above 2147483647")
    ]


@pytest.mark.parametrize("spec", ["app", "1000", "app:staff", "1000:staff"])
def test_a_marker_on_a_user_the_image_resolves_is_kept_for_the_launch(spec: str) -> None:
    # it may turn out to be root: the marker is not "unused", and it needs a reason
    assert check([rules.User(spec=spec, origin=S, insecure=MARK, reason="x")]) == []
    assert found(rules.User(spec=spec, origin=S, insecure=MARK)) == [
        (Code.CAPABILITY_REASON, "an `insecure` statement needs a reason")
    ]


def test_a_marker_on_a_user_written_as_safe_numbers_is_unused() -> None:
    assert found(rules.User(spec="1000:1000", origin=S, insecure=MARK, reason="x")) == [
        (Code.INSECURE_UNUSED, "this statement is not dangerous; `insecure` has no effect")
    ]


def test_a_secret_file_is_judged_like_a_read_of_it() -> None:
    secret = rules.Secret(name="K", provider=rules.SecretProvider.FILE, ref="/etc/shadow", origin=S)
    assert dangers(secret) == [(Insecurity.SENSITIVE_SECRET, "`/etc/shadow`")]
    leading = FixedHost({"/srv/k": HostPath("/srv/k", "/root/k", PathKind.FILE)})
    at_srv = rules.Secret(name="K", provider=rules.SecretProvider.FILE, ref="/srv/k", origin=S)
    assert dangers(at_srv, leading) == [
        (Insecurity.SENSITIVE_SECRET, "`/srv/k`, which leads to `/root/k`")
    ]
    # a path refused on its text is never asked of the host; the environment is not a file
    for ref in ("etc/shadow", "/srv/../etc/shadow"):
        relative = rules.Secret(name="K", provider=rules.SecretProvider.FILE, ref=ref, origin=S)
        assert dangers(relative) == []
    from_env = rules.Secret(name="K", provider=rules.SecretProvider.ENV, ref="SHADOW", origin=S)
    assert dangers(from_env) == []
