"""The JSON profile loader: the seed's format and ToolHive's, and every way to get it wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_lok.policy.diagnostics import (
    NOT_POLICY_HELP,
    Code,
    Collector,
    Diagnostic,
    PolicyError,
    render,
)
from mcp_lok.policy.origin import Pointer, Span
from mcp_lok.policy.profile import load_profile
from mcp_lok.policy.rules import (
    Allow,
    Item,
    NetworkNone,
    NetworkOpen,
    Privileged,
    Read,
    Rule,
    Write,
)

FILE = "profile.json"
EXAMPLES = Path(__file__).parents[3] / "examples"


def _load(profile: object) -> list[Rule]:
    return load_profile(json.dumps(profile, indent=2), FILE)


def _errors(text: str) -> tuple[Diagnostic, ...]:
    with pytest.raises(PolicyError) as raised:
        load_profile(text, FILE)
    return raised.value.diagnostics


def _error(text: str) -> Diagnostic:
    (diagnostic,) = _errors(text)
    return diagnostic


def _underlined(diagnostic: Diagnostic, text: str) -> str:
    """The text under the caret line of the rendered diagnostic."""
    lines = render(diagnostic, {FILE: text}).splitlines()
    source, carets = lines[2], lines[3]
    return source[carets.index("^") : carets.rindex("^") + 1]


def _pointer(diagnostic: Diagnostic) -> str:
    assert isinstance(diagnostic.origin, Pointer)
    return diagnostic.origin.pointer


def _items(*values: str) -> tuple[Item, ...]:
    return tuple(Item(value, Pointer(FILE, "")) for value in values)


def _at(rule: Rule | Item) -> str:
    assert isinstance(rule.origin, Pointer)
    return rule.origin.pointer


# -- what loads --------------------------------------------------------------------------


def test_the_seed_example_gives_exact_rules_with_their_origins() -> None:
    text = (EXAMPLES / "seed-example.json").read_text()
    rules = load_profile(text, FILE)

    assert rules == [
        Read(origin=Pointer(FILE, ""), path="/var/run/mcp.sock"),
        Write(origin=Pointer(FILE, ""), path="/var/run/mcp.sock"),
        Allow(
            origin=Pointer(FILE, ""),
            hosts=_items("localhost", "google.com"),
            ports=_items("80", "443"),
            protocols=_items("tcp", "udp"),
        ),
    ]
    read, write, allow = rules
    assert isinstance(allow, Allow)
    assert [_at(read), _at(write), _at(allow)] == ["/read/0", "/write/0", "/network/outbound"]
    assert [_at(i) for i in allow.ports] == [
        "/network/outbound/allow_port/0",
        "/network/outbound/allow_port/1",
    ]
    assert allow.hosts[1].origin == Pointer(
        FILE, "/network/outbound/allow_host/1", Span(FILE, 17, 9, 17, 21)
    )
    assert all(rule.insecure is None for rule in rules)


def test_every_origin_has_a_span_of_the_value_it_came_from() -> None:
    text = (EXAMPLES / "seed-example.json").read_text()
    allow = load_profile(text, FILE)[2]
    assert isinstance(allow, Allow)

    for item in (*allow.hosts, *allow.ports, *allow.protocols):
        assert isinstance(item.origin, Pointer)
        assert item.origin.span is not None
        line = text.splitlines()[item.origin.span.line - 1]
        written = line[item.origin.span.col - 1 : item.origin.span.end_col - 1]
        assert str(json.loads(written)) == item.value


def test_the_toolhive_example_mounts_host_paths_at_container_paths() -> None:
    text = (EXAMPLES / "toolhive-style.json").read_text()

    assert load_profile(text, FILE) == [
        Read(origin=Pointer(FILE, ""), path="/home/user/reports/input", target="/input"),
        Write(origin=Pointer(FILE, ""), path="/home/user/reports/output", target="/output"),
        Allow(
            origin=Pointer(FILE, ""),
            hosts=_items("api.github.com"),
            ports=_items("443"),
            protocols=_items("tcp"),
        ),
    ]


@pytest.mark.parametrize(
    ("entry", "path", "target"),
    [
        ("/srv/data", "/srv/data", None),
        ("/srv/data:/data", "/srv/data", "/data"),
        ("/srv/a:b", "/srv/a:b", None),
        ("/srv/a:b:/data", "/srv/a:b", "/data"),
        ("relative:/data", "relative", "/data"),
        ("C:\\Users\\me:/data", "C:\\Users\\me", "/data"),
        ("/srv/data:", "/srv/data:", None),
    ],
)
def test_mount_entries_split_at_the_last_colon_before_a_path(
    entry: str, path: str, target: str | None
) -> None:
    (rule,) = _load({"read": [entry]})

    assert rule == Read(origin=Pointer(FILE, ""), path=path, target=target)


def test_an_empty_profile_allows_nothing() -> None:
    assert _load({}) == []
    assert _load({"network": {}}) == []
    assert _load({"network": {"outbound": {}}}) == []
    empty = {"insecure_allow_all": False, "allow_transport": [], "allow_host": [], "allow_port": []}
    assert _load({"read": [], "write": [], "network": {"outbound": empty}}) == []


def test_a_missing_transport_defaults_to_tcp_pointing_at_outbound() -> None:
    (allow,) = _load({"network": {"outbound": {"allow_host": ["a.example"], "allow_port": [1]}}})

    assert isinstance(allow, Allow)
    assert allow.protocols == _items("tcp")
    assert _at(allow.protocols[0]) == "/network/outbound"


def test_an_empty_transport_list_defaults_to_tcp_pointing_at_the_list() -> None:
    outbound = {"allow_transport": [], "allow_host": ["a.example"], "allow_port": [1]}
    (allow,) = _load({"network": {"outbound": outbound}})

    assert isinstance(allow, Allow)
    assert allow.protocols == _items("tcp")
    assert _at(allow.protocols[0]) == "/network/outbound/allow_transport"


def test_values_are_handed_to_check_unvalidated() -> None:
    outbound = {"allow_transport": ["SCTP"], "allow_host": ["-bad-"], "allow_port": [-1, 70000]}
    rules = _load({"read": ["relative/../x"], "network": {"outbound": outbound}})

    assert rules == [
        Read(origin=Pointer(FILE, ""), path="relative/../x"),
        Allow(
            origin=Pointer(FILE, ""),
            hosts=_items("-bad-"),
            ports=_items("-1", "70000"),
            protocols=_items("SCTP"),
        ),
    ]


def test_insecure_allow_all_is_its_own_insecure_marker() -> None:
    text = '{"network": {"outbound": {"insecure_allow_all": true}}}'
    (rule,) = load_profile(text, FILE)

    assert rule == NetworkOpen(origin=Pointer(FILE, ""))
    assert isinstance(rule.origin, Pointer)
    assert rule.origin.pointer == "/network/outbound/insecure_allow_all"
    assert rule.insecure == rule.origin
    assert rule.origin.span == Span(FILE, 1, 49, 1, 53)


def test_the_insecure_marker_acknowledges_every_rule_of_the_profile() -> None:
    profile = {
        "insecure": True,
        "privileged": True,
        "read": ["/a"],
        "network": {"outbound": {"allow_host": ["h"], "allow_port": [1]}},
    }
    rules = _load(profile)

    assert [type(rule) for rule in rules] == [Read, Allow, Privileged]
    assert _at(rules[2]) == "/privileged"
    for rule in rules:
        assert isinstance(rule.insecure, Pointer)
        assert rule.insecure.pointer == "/insecure"
        assert rule.insecure.span is not None


def test_without_the_marker_privileged_is_left_for_check_to_refuse() -> None:
    (rule,) = _load({"privileged": True})

    assert rule == Privileged(origin=Pointer(FILE, ""))
    assert rule.insecure is None


def test_false_flags_add_nothing() -> None:
    profile = {"privileged": False, "insecure": False, "read": ["/a"]}

    assert _load(profile) == [Read(origin=Pointer(FILE, ""), path="/a")]
    assert _load(profile)[0].insecure is None


def test_a_toolhive_name_is_accepted_and_ignored() -> None:
    assert _load({"name": "anything"}) == []


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        ({"mode": "none"}, [NetworkNone(origin=Pointer(FILE, ""))]),
        (
            {"mode": "none", "outbound": {"insecure_allow_all": False, "allow_host": []}},
            [NetworkNone(origin=Pointer(FILE, ""))],
        ),
        (
            {"mode": "bridge", "outbound": {"insecure_allow_all": True}},
            [NetworkOpen(origin=Pointer(FILE, ""))],
        ),
        (
            {"mode": "default", "outbound": {"allow_host": ["h"], "allow_port": [1]}},
            [
                Allow(
                    origin=Pointer(FILE, ""),
                    hosts=_items("h"),
                    ports=_items("1"),
                    protocols=_items("tcp"),
                )
            ],
        ),
    ],
)
def test_toolhive_network_modes_that_mean_the_same(
    network: dict[str, object], expected: list[Rule]
) -> None:
    rules = _load({"network": network})

    assert rules == expected
    if isinstance(rules[0], NetworkNone):
        assert _at(rules[0]) == "/network/mode"


# -- what is refused, and where ----------------------------------------------------------

ERRORS = [
    # (profile text, code, pointer, underlined text, message, help or None)
    (
        '{"read": "/x"}',
        Code.PROFILE_WRONG_TYPE,
        "/read",
        '"/x"',
        "expected a list of paths, found a string",
        'put it in a list: `["/x"]`',
    ),
    (
        '{"write": [1]}',
        Code.PROFILE_WRONG_TYPE,
        "/write/0",
        "1",
        "expected a path, found a number",
        None,
    ),
    (
        '{"write": {}}',
        Code.PROFILE_WRONG_TYPE,
        "/write",
        "{}",
        "expected a list of paths, found an object",
        None,
    ),
    (
        '{"read": [null, true, ["/a"]]}',
        Code.PROFILE_WRONG_TYPE,
        "/read/0",
        "null",
        "expected a path, found null",
        None,
    ),
    (
        '{"network": {"outbound": {"allow_host": ["h"], "allow_port": ["443"]}}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/outbound/allow_port/0",
        '"443"',
        "expected a port number, found a string",
        "write `443` without quotes",
    ),
    (
        '{"network": {"outbound": {"allow_host": ["h"], "allow_port": ["http"]}}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/outbound/allow_port/0",
        '"http"',
        "expected a port number, found a string",
        None,
    ),
    (
        '{"network": {"outbound": {"allow_host": ["h"], "allow_port": [443.0]}}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/outbound/allow_port/0",
        "443.0",
        "expected a whole port number, found `443.0`",
        "write `443`",
    ),
    (
        '{"network": {"outbound": {"allow_host": ["h"], "allow_port": [4.43e2]}}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/outbound/allow_port/0",
        "4.43e2",
        "expected a whole port number, found `4.43e2`",
        "write `443`",
    ),
    (
        '{"network": {"outbound": {"allow_host": ["h"], "allow_port": [NaN]}}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/outbound/allow_port/0",
        "NaN",
        "expected a whole port number, found `NaN`",
        None,
    ),
    (
        '{"network": {"outbound": {"allow_host": ["h"], "allow_port": [true]}}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/outbound/allow_port/0",
        "true",
        "expected a port number, found true/false",
        None,
    ),
    (
        '{"network": {"outbound": {"allow_host": ["h"], "allow_port": 443}}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/outbound/allow_port",
        "443",
        "expected a list of ports, found a number",
        "put it in a list: `[443]`",
    ),
    (
        '{"network": {"outbound": {"allow_host": ["h"], "allow_port": [1], '
        '"allow_transport": [6]}}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/outbound/allow_transport/0",
        "6",
        "expected a transport, found a number",
        None,
    ),
    (
        '{"network": {"outbound": {"insecure_allow_all": "true"}}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/outbound/insecure_allow_all",
        '"true"',
        "expected true/false, found a string",
        "write `true` without quotes",
    ),
    (
        '{"privileged": "yes"}',
        Code.PROFILE_WRONG_TYPE,
        "/privileged",
        '"yes"',
        "expected true/false, found a string",
        None,
    ),
    (
        '{"insecure": 1}',
        Code.PROFILE_WRONG_TYPE,
        "/insecure",
        "1",
        "expected true/false, found a number",
        None,
    ),
    (
        '{"name": 5, "read": []}',
        Code.PROFILE_WRONG_TYPE,
        "/name",
        "5",
        "expected a string, found a number",
        None,
    ),
    (
        '{"network": []}',
        Code.PROFILE_WRONG_TYPE,
        "/network",
        "[]",
        "expected an object, found a list",
        None,
    ),
    (
        '{"network": {"outbound": null}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/outbound",
        "null",
        "expected an object, found null",
        None,
    ),
    (
        '{"network": {"mode": false}}',
        Code.PROFILE_WRONG_TYPE,
        "/network/mode",
        "false",
        "expected a string, found true/false",
        None,
    ),
    (
        '{"reed": [], "write": []}',
        Code.PROFILE_UNKNOWN_FIELD,
        "/reed",
        '"reed"',
        "unknown field `reed` in the profile",
        "did you mean `read`?",
    ),
    (
        '{"network": {"outbund": {}}}',
        Code.PROFILE_UNKNOWN_FIELD,
        "/network/outbund",
        '"outbund"',
        "unknown field `outbund` in `network`",
        "did you mean `outbound`?",
    ),
    (
        '{"network": {"outbound": {"allow_hosts": []}}}',
        Code.PROFILE_UNKNOWN_FIELD,
        "/network/outbound/allow_hosts",
        '"allow_hosts"',
        "unknown field `allow_hosts` in `network.outbound`",
        "did you mean `allow_host`?",
    ),
    (
        '{"read": [], "seccomp": {}}',
        Code.PROFILE_UNKNOWN_FIELD,
        "/seccomp",
        '"seccomp"',
        "unknown field `seccomp` in the profile",
        "fields allowed here: `name`, `read`, `write`, `network`, `privileged`, `insecure`",
    ),
    (
        '{"read": [], "a\\u001b[2Jb": 1}',
        Code.PROFILE_UNKNOWN_FIELD,
        "/a\x1b[2Jb",
        '"a\\u001b[2Jb"',
        "unknown field `a\\x1b[2Jb` in the profile",
        "fields allowed here: `name`, `read`, `write`, `network`, `privileged`, `insecure`",
    ),
    (
        '{"network": {"inbound": {"allow_host": ["10.0.0.1"]}}}',
        Code.PROFILE_UNSUPPORTED,
        "/network/inbound",
        '"inbound"',
        "`network.inbound` is not supported",
        "mcp-lok publishes no ports: clients reach the server only through mcp-lok's own "
        "proxy; remove `inbound`",
    ),
    (
        '{"read": ["volume://cache:/cache"]}',
        Code.PROFILE_UNSUPPORTED,
        "/read/0",
        '"volume://cache:/cache"',
        "`volume://cache:/cache` is not a host path: named volumes are not supported",
        'mount a host directory instead, e.g. `"/srv/data:/data"`',
    ),
    (
        '{"read": [], "read": ["/a"]}',
        Code.PROFILE_DUPLICATE_KEY,
        "/read",
        '"read"',
        "field `read` appears more than once",
        "keep one `read` and merge the entries into it",
    ),
    (
        '{"network": {"outbound": {"insecure_allow_all": true, "allow_host": ["h"], '
        '"allow_port": [443]}}}',
        Code.NETWORK_CONFLICT,
        "/network/outbound/insecure_allow_all",
        "true",
        "`insecure_allow_all` allows all egress, which conflicts with `allow_host`, `allow_port`",
        "remove `insecure_allow_all` to allow only what `allow_host`, `allow_port` lists, "
        "or remove the lists to allow all egress",
    ),
    (
        '{"network": {"outbound": {"allow_host": ["h"]}}}',
        Code.NETWORK_INCOMPLETE,
        "/network/outbound/allow_host",
        '["h"]',
        "`allow_host` without `allow_port` allows nothing",
        'add `allow_port` with the ports to reach on these hosts, e.g. `"allow_port": [443]`',
    ),
    (
        '{"network": {"outbound": {"allow_host": [], "allow_port": [443]}}}',
        Code.NETWORK_INCOMPLETE,
        "/network/outbound/allow_port",
        "[443]",
        "`allow_port` without `allow_host` allows nothing",
        'add `allow_host` with the hosts to reach on these ports, e.g. `"allow_host": '
        '["api.example.com"]`',
    ),
    (
        '{"network": {"outbound": {"allow_transport": ["udp"]}}}',
        Code.NETWORK_INCOMPLETE,
        "/network/outbound/allow_transport",
        '["udp"]',
        "`allow_transport` without `allow_host` and `allow_port` allows nothing",
        "add `allow_host` and `allow_port` with the destinations to reach, "
        "or remove `allow_transport`",
    ),
    (
        '{"network": {"mode": "host"}}',
        Code.NETWORK_CONFLICT,
        "/network/mode",
        '"host"',
        "host networking is not supported",
        "use `insecure_allow_all` in `network.outbound` for open egress, or list "
        "`allow_host` and `allow_port` to allow only those",
    ),
    (
        '{"network": {"mode": "none", "outbound": {"insecure_allow_all": true}}}',
        Code.NETWORK_CONFLICT,
        "/network/mode",
        '"none"',
        "network mode `none` conflicts with the outbound rules",
        "remove `mode` to allow what `outbound` lists, or remove `outbound` to run "
        "without a network",
    ),
    (
        '{"network": {"mode": "bridge"}}',
        Code.INSECURE_REQUIRED,
        "/network/mode",
        '"bridge"',
        "network mode `bridge` means open egress, which needs `insecure_allow_all`",
        "set `network.outbound.insecure_allow_all` to `true` to allow all egress, or "
        "list `allow_host` and `allow_port` to allow only those",
    ),
    (
        '{"network": {"mode": "nonee"}}',
        Code.NETWORK_MODE,
        "/network/mode",
        '"nonee"',
        "unknown network mode `nonee`",
        "did you mean `none`?",
    ),
    (
        '{"network": {"mode": "macvlan"}}',
        Code.NETWORK_MODE,
        "/network/mode",
        '"macvlan"',
        "unknown network mode `macvlan`",
        "expected `none`, `bridge`, `default`",
    ),
]


@pytest.mark.parametrize(
    ("text", "code", "pointer", "underlined", "message", "advice"),
    ERRORS,
    ids=[f"{case[1].value}:{case[2] or 'root'}" for case in ERRORS],
)
def test_each_error_names_its_code_and_underlines_the_value(
    text: str, code: Code, pointer: str, underlined: str, message: str, advice: str | None
) -> None:
    diagnostic = _errors(text)[0]

    assert diagnostic.code is code
    assert _pointer(diagnostic) == pointer
    assert _underlined(diagnostic, text) == underlined
    assert diagnostic.message == message
    assert diagnostic.help == advice


def test_a_top_level_that_is_not_an_object_is_reported_but_not_quoted() -> None:
    text = '["/var/run/mcp.sock"]'
    diagnostic = _error(text)

    assert (diagnostic.code, _pointer(diagnostic), diagnostic.message) == (
        Code.PROFILE_WRONG_TYPE,
        "",
        "expected an object of permissions, found a list",
    )
    # not a profile: the renderer names the place and the reason, never the text
    assert render(diagnostic, {FILE: text}) == (
        "profile.json:1:1: error[source.not-a-policy]: `profile.json` is not a profile: its "
        f"top level is not an object\n  = help: {NOT_POLICY_HELP['profile']}"
    )


def test_the_rendered_diagnostic_reads_like_a_compiler_error() -> None:
    text = '{\n  "network": {"outbound": {"allow_host": ["h"], "allow_port": ["443"]}}\n}\n'

    assert render(_error(text), {FILE: text}) == "\n".join(
        [
            "profile.json:2:64: error[profile.wrong-type]: expected a port number, found a string",
            "  |",
            '2 |   "network": {"outbound": {"allow_host": ["h"], "allow_port": ["443"]}}',
            "  |                                                                ^^^^^",
            "  = help: write `443` without quotes",
        ]
    )


def test_long_user_text_is_cut_in_messages() -> None:
    name = "x" * 100
    diagnostic = _error(json.dumps({name: 1}))

    assert diagnostic.message == f"unknown field `{'x' * 59}…` in the profile"


def test_wrong_types_inside_a_list_are_each_reported() -> None:
    diagnostics = _errors('{"read": [null, "/ok", true, ["/a"], {}]}')

    assert [(_pointer(d), d.message) for d in diagnostics] == [
        ("/read/0", "expected a path, found null"),
        ("/read/2", "expected a path, found true/false"),
        ("/read/3", "expected a path, found a list"),
        ("/read/4", "expected a path, found an object"),
    ]


def test_every_problem_is_reported_in_the_order_of_the_text() -> None:
    text = """{
  "privileged": "no",
  "raed": ["/a"],
  "network": {
    "mode": "host",
    "outbound": {"allow_port": ["80"], "allow_transport": "tcp"}
  },
  "read": "/b",
  "privileged": false
}"""
    diagnostics = _errors(text)

    assert [(d.code, _pointer(d), _underlined(d, text)) for d in diagnostics] == [
        (Code.PROFILE_UNKNOWN_FIELD, "/raed", '"raed"'),
        (Code.NETWORK_CONFLICT, "/network/mode", '"host"'),
        (Code.NETWORK_INCOMPLETE, "/network/outbound/allow_port", '["80"]'),
        (Code.PROFILE_WRONG_TYPE, "/network/outbound/allow_port/0", '"80"'),
        (Code.PROFILE_WRONG_TYPE, "/network/outbound/allow_transport", '"tcp"'),
        (Code.PROFILE_WRONG_TYPE, "/read", '"/b"'),
        (Code.PROFILE_DUPLICATE_KEY, "/privileged", '"privileged"'),
    ]


def test_a_wrong_type_does_not_also_count_as_a_missing_list() -> None:
    text = '{"network": {"outbound": {"allow_host": "h", "allow_port": [443]}}}'

    assert [d.code for d in _errors(text)] == [Code.PROFILE_WRONG_TYPE]


# -- text that is not JSON ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "col", "message", "advice"),
    [
        ("", 1, 1, "invalid JSON: expecting value", None),
        ('{\n  "read": [\n}', 3, 1, "invalid JSON: expecting value", None),
        (
            '{"read": ["/a",]}',
            1,
            16,
            "invalid JSON: expecting value",
            "JSON allows no comma after the last entry",
        ),
        (
            '{"read": [],\n}',
            2,
            1,
            "invalid JSON: expecting property name enclosed in double quotes",
            "field names need double quotes, and JSON allows no comma after the last entry",
        ),
        ('{"read" []}', 1, 9, "invalid JSON: expecting `:` delimiter", None),
        (
            "{} {}",
            1,
            4,
            "invalid JSON: extra data",
            "a profile is a single JSON object; remove what follows it",
        ),
        ('{"read": ["/a]}', 1, 11, "invalid JSON: unterminated string", None),
        (
            '{"read": ["\t"]}',
            1,
            12,
            "invalid JSON: invalid control character",
            "write control characters in strings as escapes, e.g. `\\t` or `\\n`",
        ),
        (
            "\ufeff{}",
            1,
            1,
            "invalid JSON: unexpected UTF-8 BOM (decode using utf-8-sig)",
            "save the file as UTF-8 without a byte order mark",
        ),
    ],
)
def test_invalid_json_is_one_diagnostic_where_json_stopped(
    text: str, line: int, col: int, message: str, advice: str | None
) -> None:
    diagnostic = _error(text)

    assert diagnostic.code is Code.PROFILE_INVALID_JSON
    assert diagnostic.origin == Span(FILE, line, col, line, col + 1)
    assert diagnostic.message == message
    assert diagnostic.help == advice


def test_a_number_too_long_to_convert_is_invalid_json() -> None:
    text = '{"network": {"outbound": {"allow_port": [' + "9" * 5000 + "]}}}"
    diagnostic = _error(text)

    assert diagnostic.code is Code.PROFILE_INVALID_JSON
    assert diagnostic.message.startswith("a number with more than")
    assert diagnostic.origin == Span(FILE, 1, 42, 1, 5042)


def test_nesting_too_deep_for_the_decoder_is_invalid_json() -> None:
    depth = 100_000
    diagnostic = _error('{"read": ' + "[" * depth + "]" * depth + "}")

    assert diagnostic.code is Code.PROFILE_INVALID_JSON
    assert diagnostic.message == "the profile nests too deeply"
    assert diagnostic.origin == Span(FILE, 1, 1, 1, 2)


@pytest.mark.parametrize(
    ("outbound", "code"),
    [
        ({"allow_host": ["a b", "h"]}, Code.NETWORK_INCOMPLETE),
        ({"insecure_allow_all": True, "allow_host": ["a b", "h"]}, Code.NETWORK_CONFLICT),
    ],
)
def test_the_entries_of_a_list_in_error_are_still_handed_on(
    outbound: dict[str, object], code: Code
) -> None:
    # the check pass judges its hosts all the same; the profile is rejected, never built
    out = Collector()
    [rule] = load_profile(json.dumps({"network": {"outbound": outbound}}), FILE, out)
    assert isinstance(rule, Allow)
    assert [h.value for h in rule.hosts] == ["a b", "h"]
    assert [d.code for d in out.diagnostics] == [code]


def test_with_a_collector_every_entry_that_reads_is_returned() -> None:
    out = Collector()
    text = '{"read": ["/a", 1], "write": "/b", "network": {"mode": "host", "outbound": '
    text += '{"allow_host": ["h"], "allow_port": [443]}}}'
    found = load_profile(text, FILE, out)
    assert [type(r) for r in found] == [Read, Allow]
    assert [d.code for d in out.diagnostics] == [
        Code.PROFILE_WRONG_TYPE,
        Code.PROFILE_WRONG_TYPE,
        Code.NETWORK_CONFLICT,
    ]
