"""Any text gives rules or a `PolicyError`, never another exception (hypothesis)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_lok.policy.diagnostics import PolicyError, Severity
from mcp_lok.policy.origin import Pointer, Span
from mcp_lok.policy.profile import load_profile
from mcp_lok.policy.rules import Allow, Rule

FILE = "p.json"
SEED = (Path(__file__).parents[3] / "examples" / "seed-example.json").read_text()
FIELDS = ["name", "read", "write", "network", "privileged", "insecure", "mode", "outbound"]
FIELDS += ["insecure_allow_all", "allow_transport", "allow_host", "allow_port", "inbound"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.sampled_from(["/a", "/a:/b", "volume://v:/d", "tcp", "none", "bridge", "host", "443"])
    | st.text(max_size=10)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
# profiles shaped like the schema, so the generator reaches the interesting branches
outbounds = st.dictionaries(
    st.sampled_from(FIELDS[8:12]),
    st.booleans() | st.lists(st.sampled_from(["h", "tcp", 443, 80.0, "80"]), max_size=3) | values,
)
networks = st.dictionaries(
    st.sampled_from(["mode", "outbound", "inbound"]),
    st.sampled_from(["none", "bridge", "default", "host", "nonee"]) | outbounds | values,
)
profiles = st.dictionaries(
    st.sampled_from(FIELDS[:6]),
    st.booleans() | st.lists(st.sampled_from(["/a", "/a:/b", "x"]), max_size=3) | networks | values,
)


def _load(text: str) -> list[Rule] | PolicyError:
    try:
        return load_profile(text, FILE)
    except PolicyError as error:
        return error


def _assert_located(result: list[Rule] | PolicyError) -> None:
    """Every rule, item and error can be traced back to the text."""
    if isinstance(result, PolicyError):
        assert result.diagnostics
        assert any(d.severity is Severity.ERROR for d in result.diagnostics)
        for diagnostic in result.diagnostics:
            origin = diagnostic.origin
            assert isinstance(origin, Span) or (isinstance(origin, Pointer) and origin.span)
        return
    for rule in result:
        assert isinstance(rule.origin, Pointer)
        assert rule.origin.span is not None
        if isinstance(rule, Allow):
            for item in (*rule.hosts, *rule.ports, *rule.protocols):
                assert isinstance(item.origin, Pointer)
                assert item.origin.span is not None


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_random_text(text: str) -> None:
    _assert_located(_load(text))


@settings(max_examples=200, deadline=None)
@given(values, st.sampled_from([None, 2]))
def test_random_json_values(value: Any, indent: int | None) -> None:
    _assert_located(_load(json.dumps(value, indent=indent)))


@settings(max_examples=200, deadline=None)
@given(profiles, st.sampled_from([None, 1, "\t"]))
def test_random_profile_shapes(profile: dict[str, Any], indent: int | str | None) -> None:
    _assert_located(_load(json.dumps(profile, indent=indent)))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(SEED)),
            st.integers(0, 3),
            st.text(alphabet='{}[],:"\\ \n0123456789.eE-+truefalsn/', max_size=3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_seed_profiles(edits: list[tuple[int, int, str]]) -> None:
    text = SEED
    for at, cut, insert in edits:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + cut :]
    _assert_located(_load(text))
