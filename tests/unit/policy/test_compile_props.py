"""Property tests of the whole compiler: any policy made of valid statements compiles the
same way every time, in any process state; anything else is a `PolicyError`, never
another exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_lok.policy import (
    Engine,
    PolicyError,
    Target,
    Transport,
    compile_plan,
    compile_policy,
    fingerprint,
)
from mcp_lok.policy.host import FixedHost
from mcp_lok.policy.record import replace

STATEMENTS = [
    "extends stdio",
    "user 1000:1000",
    "read /srv/data",
    "read /srv/in as /in",
    "write /srv/out",
    "tmpfs /cache size 32M",
    "allow api.example.com port 443",
    "allow *.example.org, 10.0.0.0/8 port 80, 8080 over tcp, udp",
    "deny host bad.example.org",
    "deny port 25",
    "deny path /srv/data/private",
    "network none",
    'insecure network open because "crawls"',
    "limit memory 256M",
    "limit cpus 0.5",
    "limit pids 64",
    "limit open-files 2048",
    'env LEVEL = "debug"',
    "secret TOKEN from env GH_TOKEN",
    'capability NET_BIND_SERVICE because "port 80"',
    "seccomp deny chmod, personality",
    "# a comment",
    "",
]

policies = st.lists(st.sampled_from(STATEMENTS), max_size=12).map("\n".join)
targets = st.builds(
    Target,
    image=st.just("example/server:1"),
    name=st.sampled_from(["srv", "time", "a.b-c"]),
    engine=st.sampled_from(list(Engine)),
    transport=st.sampled_from(list(Transport)),
)


def reader(text: str):  # type: ignore[no-untyped-def]
    return lambda path: text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies, targets)
def test_compiling_is_deterministic_or_a_policy_error(text: str, target: Target) -> None:
    try:
        first = compile_plan("p.lok", target, read=reader(text), host=FixedHost()).to_json()
    except PolicyError as error:
        assert error.diagnostics  # noqa: PT017 - either outcome is fine; a bare error is not
        return
    # the same input, compiled again, gives the same bytes
    assert compile_plan("p.lok", target, read=reader(text), host=FixedHost()).to_json() == first


@settings(max_examples=200, deadline=None)
@given(policies)
def test_the_digest_ignores_where_rules_were_written(text: str) -> None:
    try:
        here = compile_policy("a/p.lok", read=reader(text), host=FixedHost()).policy
    except PolicyError:
        return
    # the same statements in another file, with blank lines moving every origin
    elsewhere = compile_policy("b/q.lok", read=reader("\n\n" + text), host=FixedHost()).policy
    assert replace(elsewhere, compiled_from=here.compiled_from) == here
    assert fingerprint(here) == fingerprint(elsewhere)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_plan_or_a_policy_error(text: str) -> None:
    try:
        compile_plan("p.lok", Target(image="x", name="srv"), read=reader(text), host=FixedHost())
    except PolicyError as error:
        assert error.diagnostics  # noqa: PT017 - either outcome is fine; a bare error is not
