"""The entry points: load → check → build (→ lower), warnings carried with the result,
errors as one `PolicyError` with every diagnostic and the text of every file read."""

from __future__ import annotations

import pytest

from mcp_lok.policy import identity, rules
from mcp_lok.policy.build import build
from mcp_lok.policy.compiler import Compiled, compile_plan, compile_policy, resolve_user
from mcp_lok.policy.diagnostics import Code, PolicyError, Severity, render_all
from mcp_lok.policy.host import FixedHost
from mcp_lok.policy.ir import NetworkMode
from mcp_lok.policy.lower import Engine, Target, Transport, lower
from mcp_lok.policy.origin import Default, Pointer, Span

TARGET = Target(image="img:1", name="srv", engine=Engine.PODMAN, transport=Transport.SSE)


def test_a_builtin_compiles_to_the_baseline(files) -> None:
    compiled = compile_policy("stdio", files.read, host=FixedHost())
    assert compiled == Compiled(build([], "stdio"), (), {})
    assert compiled.policy.compiled_from == "stdio"
    assert compiled.policy.network.mode.origin == Default("stdio")


def test_the_network_builtin_is_open_and_acknowledged(files) -> None:
    policy = compile_policy("network", files.read, host=FixedHost()).policy
    assert policy.network.mode.value is NetworkMode.OPEN
    assert [(a.what.value, a.origin) for a in policy.insecure] == [
        ("open network", Default("network"))
    ]


def test_warnings_travel_with_the_result(files) -> None:
    files["/p/a.lok"] = "extends stdio\ninsecure read /srv because habit\n"
    compiled = compile_policy("/p/a.lok", files.read, host=FixedHost())
    assert [(d.code, d.severity, d.origin) for d in compiled.warnings] == [
        (Code.INSECURE_UNUSED, Severity.WARNING, Span("/p/a.lok", 2, 1, 2, 9))
    ]
    assert compiled.texts == {"/p/a.lok": files.entries["/p/a.lok"]}
    assert [m.source for m in compiled.policy.mounts] == ["/srv"]


def test_check_errors_are_raised_with_every_diagnostic_and_text(files) -> None:
    files["/p/a.lok"] = "extends base.lok\nread srv\nprivileged\n"
    files["/p/base.lok"] = "insecure user 1000:1000 because habit\n"
    with pytest.raises(PolicyError) as caught:
        compile_policy("/p/a.lok", files.read, host=FixedHost())
    assert [(d.code, d.severity) for d in caught.value.diagnostics] == [
        (Code.INSECURE_UNUSED, Severity.WARNING),
        (Code.PATH_RELATIVE, Severity.ERROR),
        (Code.INSECURE_REQUIRED, Severity.ERROR),
    ]
    assert set(caught.value.sources) == {"/p/a.lok", "/p/base.lok"}
    rendered = render_all(caught.value.diagnostics, caught.value.sources)
    assert (
        "/p/a.lok:2:1: error[policy.relative-path]: the host path `srv` is relative\n"
        "  |\n"
        "2 | read srv\n"
        "  | ^^^^^^^^\n"
    ) in rendered


def test_build_errors_keep_the_warnings_before_them(files) -> None:
    files["/p/a.lok"] = (
        "allow api.example.com port 443\n"
        "insecure read /srv because habit\n"
        "insecure network open because testing\n"
    )
    with pytest.raises(PolicyError) as caught:
        compile_policy("/p/a.lok", files.read, host=FixedHost())
    assert [(d.code, d.origin) for d in caught.value.diagnostics] == [
        (Code.INSECURE_UNUSED, Span("/p/a.lok", 2, 1, 2, 9)),
        (Code.NETWORK_CONFLICT, Span("/p/a.lok", 3, 1, 3, 38)),
    ]
    assert caught.value.sources == {"/p/a.lok": files.entries["/p/a.lok"]}
    assert caught.value.__suppress_context__


def test_load_errors_propagate(files) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policy("/p/missing.lok", files.read, host=FixedHost())
    assert [d.code for d in caught.value.diagnostics] == [Code.SOURCE_NOT_FOUND]


def test_a_diamond_of_extends_compiles(files) -> None:
    files["/p/a.lok"] = "extends b.lok\nextends c.lok\n"
    files["/p/b.lok"] = "extends d.lok\nuser 1001\n"
    files["/p/c.lok"] = "extends d.lok\n"
    files["/p/d.lok"] = "read /srv\nenv LEVEL=info\n"
    compiled = compile_policy("/p/a.lok", files.read, host=FixedHost())
    assert compiled.warnings == ()
    assert [m.target for m in compiled.policy.mounts] == ["/srv"]


def test_compile_plan_is_compile_policy_then_lower(files) -> None:
    files["/p/a.lok"] = "allow api.example.com port 443\nenv LEVEL=debug\n"
    plan = compile_plan("/p/a.lok", TARGET, files.read, host=FixedHost())
    expected = lower(compile_policy("/p/a.lok", files.read, host=FixedHost()).policy, TARGET)
    assert plan.to_json() == expected.to_json()
    assert plan.server.trace == expected.server.trace
    assert plan.server.body["HostConfig"]["NetworkMode"] == "container:mcp-lok-srv-gate"


def test_a_seed_profile_compiles_end_to_end(files) -> None:
    files["/p/github.json"] = (
        '{"read": ["/srv/repos"], "write": ["/srv/out"],\n'
        ' "network": {"outbound": {"allow_host": ["api.github.com"], "allow_port": [443]}}}\n'
    )
    compiled = compile_policy("/p/github.json", files.read, host=FixedHost())
    policy = compiled.policy
    assert [(m.source, m.writable) for m in policy.mounts] == [
        ("/srv/out", True),
        ("/srv/repos", False),
    ]
    assert policy.network.mode.value is NetworkMode.ALLOW_LIST
    [egress] = policy.network.rules
    assert [h.value for h in egress.hosts] == ["api.github.com"]
    assert [p.value for p in egress.ports] == [443]
    assert [t.value for t in egress.protocols] == [rules.IpProtocol.TCP]
    assert isinstance(egress.origin, Pointer)
    plan = compile_plan("/p/github.json", TARGET, files.read, host=FixedHost())
    assert plan.gate is not None
    assert plan.gate.config.to_dict()["egress"]["rules"] == [
        {"hosts": ["api.github.com"], "ports": [443], "protocols": ["tcp"]}
    ]


# --- end to end through the real parser -------------------------------------------------------


def test_a_policy_file_with_a_parent_compiles(policy_files) -> None:
    policy_files["/p/base.lok"] = (
        'extends stdio\nuser 1000\nread /srv\ninsecure capability SYS_ADMIN because "fuse"\n'
    )
    policy_files["/p/a.lok"] = 'extends "base.lok"\nuser 1001\nallow api.example.com port 443\n'
    compiled = compile_policy("/p/a.lok", policy_files.read, host=FixedHost())
    policy = compiled.policy
    assert compiled.warnings == ()
    assert (policy.user.value, policy.user.origin) == ("1001", Span("/p/a.lok", 2, 1, 2, 10))
    assert [c.name for c in policy.capabilities] == ["SYS_ADMIN"]
    assert [(a.subject, a.origin) for a in policy.insecure] == [
        ("SYS_ADMIN", Span("/p/base.lok", 4, 1, 4, 9))
    ]
    assert policy.network.mode.value is NetworkMode.ALLOW_LIST
    assert set(compiled.texts) == {"/p/a.lok", "/p/base.lok"}


def test_a_bad_host_is_underlined_exactly(policy_files) -> None:
    policy_files["/p/a.lok"] = "allow api.example.com, *.com port 443\n"
    with pytest.raises(PolicyError) as caught:
        compile_policy("/p/a.lok", policy_files.read, host=FixedHost())
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.code is Code.HOST_MALFORMED
    rendered = render_all(caught.value.diagnostics, caught.value.sources).splitlines()
    source_line, carets = rendered[2], rendered[3]
    start = carets.index("^")
    assert source_line[start : start + carets.count("^")] == "*.com"


# --- the user, resolved against the image (issue 11) ---------------------------------------


def test_a_user_is_resolved_against_the_image_between_build_and_lower(policy_files) -> None:
    policy_files["/p/a.lok"] = "extends stdio\nuser app\n"
    compiled = compile_policy("/p/a.lok", policy_files.read, host=FixedHost())
    assert lower(compiled.policy, TARGET).server.body["User"] == "app"  # words, until resolved
    accounts = identity.parse("app:x:1000:1000::/:/bin/sh\n", "")
    resolved = resolve_user(compiled, accounts, host=FixedHost())
    plan = lower(resolved.policy, TARGET)
    assert plan.server.body["User"] == "1000:1000"
    assert plan.server.trace["User"] == Span("/p/a.lok", 2, 1, 2, 9)
    assert (resolved.warnings, resolved.texts) == (compiled.warnings, compiled.texts)


def test_a_refusal_from_the_image_keeps_the_warnings_and_the_texts(policy_files) -> None:
    policy_files["/p/a.lok"] = 'extends stdio\ninsecure read /srv because "x"\nuser toor\n'
    compiled = compile_policy("/p/a.lok", policy_files.read, host=FixedHost())
    accounts = identity.parse("toor:x:0:0::/:/bin/sh\n", "")
    with pytest.raises(PolicyError) as caught:
        resolve_user(compiled, accounts, host=FixedHost())
    assert [d.code for d in caught.value.diagnostics] == [
        Code.INSECURE_UNUSED,
        Code.INSECURE_REQUIRED,
    ]
    rendered = render_all(caught.value.diagnostics, caught.value.sources)
    assert "/p/a.lok:3:1: error[policy.insecure-required]: `toor` is 0:0 in the image" in rendered
    assert "3 | user toor\n" in rendered


def codes(error: PolicyError) -> list[tuple[Code, int]]:
    return [(d.code, d.origin.line if isinstance(d.origin, Span) else 0) for d in error.diagnostics]


def test_a_parse_error_hides_no_problem_of_the_statements_that_parsed(files) -> None:
    files["/p/a.lok"] = "read srv\nwirte /out\nprivileged\n"
    with pytest.raises(PolicyError) as caught:
        compile_policy("/p/a.lok", files.read, host=FixedHost())
    # the line that did not parse is not judged; the others are, after the parse error
    assert codes(caught.value) == [
        (Code.PARSE_UNKNOWN_KEYWORD, 2),
        (Code.PATH_RELATIVE, 1),
        (Code.INSECURE_REQUIRED, 3),
    ]


def test_a_missing_parent_hides_nothing_of_its_child(files) -> None:
    files["/p/a.lok"] = "user 1000\nwirte /out\nextends gone.lok\nread srv\n"
    with pytest.raises(PolicyError) as caught:
        compile_policy("/p/a.lok", files.read, host=FixedHost())
    # the load's problems in source order, then the check's
    assert codes(caught.value) == [
        (Code.PARSE_UNKNOWN_KEYWORD, 2),
        (Code.EXTENDS_NOT_FOUND, 3),
        (Code.PATH_RELATIVE, 4),
    ]


def test_a_parents_problems_follow_its_childs(files) -> None:
    files["/p/a.lok"] = "extends base.lok\nwirte /out\n"
    files["/p/base.lok"] = "read srv\nbogus\n"
    with pytest.raises(PolicyError) as caught:
        compile_policy("/p/a.lok", files.read, host=FixedHost())
    assert [(d.code, getattr(d.origin, "file", None)) for d in caught.value.diagnostics] == [
        (Code.PARSE_UNKNOWN_KEYWORD, "/p/a.lok"),
        (Code.PARSE_UNKNOWN_KEYWORD, "/p/base.lok"),
        # the check's problems come after every file's load problems
        (Code.PATH_RELATIVE, "/p/base.lok"),
    ]


def test_a_profiles_type_error_hides_no_other_problem(files) -> None:
    files["/p/p.json"] = (
        '{"read": ["srv", 1], "privileged": "yes", '
        '"network": {"outbound": {"allow_host": ["a b"], "allow_port": [70000, "80"]}}}'
    )
    with pytest.raises(PolicyError) as caught:
        compile_policy("/p/p.json", files.read, host=FixedHost())
    assert [d.code for d in caught.value.diagnostics] == [
        Code.PROFILE_WRONG_TYPE,  # 1
        Code.PROFILE_WRONG_TYPE,  # "yes"
        Code.PROFILE_WRONG_TYPE,  # "80"
        Code.PATH_RELATIVE,
        Code.HOST_MALFORMED,
        Code.PORT_RANGE,
    ]


def test_a_malformed_insecure_is_one_error_not_one_per_dangerous_entry(files) -> None:
    files["/p/p.json"] = '{"insecure": "true", "privileged": true}'
    with pytest.raises(PolicyError) as caught:
        compile_policy("/p/p.json", files.read, host=FixedHost())
    assert [d.code for d in caught.value.diagnostics] == [Code.PROFILE_WRONG_TYPE]


def test_a_profile_marker_is_not_called_unused_when_an_entry_could_not_be_read(files) -> None:
    # `privileged` could not be read; it may have been what needed `insecure`
    files["/p/p.json"] = '{"insecure": true, "read": ["/srv"], "privileged": "yes"}'
    with pytest.raises(PolicyError) as caught:
        compile_policy("/p/p.json", files.read, host=FixedHost())
    assert [d.code for d in caught.value.diagnostics] == [Code.PROFILE_WRONG_TYPE]
