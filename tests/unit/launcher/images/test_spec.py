"""`uvx://PACKAGE[@VERSION]` is read strictly: PEP 508 names, PEP 440 versions, and every
other spelling refused on the field that gave it, with a hint, before anything is asked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_lok.launcher.errors import UsageError
from mcp_lok.launcher.images import PackageSpec, is_spec, parse


@pytest.mark.parametrize(
    ("text", "name", "version"),
    [
        ("uvx://mcp-server-time", "mcp-server-time", None),
        ("uvx://mcp-server-time@latest", "mcp-server-time", None),
        ("uvx://mcp-server-time@2025.9.25", "mcp-server-time", "2025.9.25"),
        ("uvx://Foo_Bar.baz@1.0rc1", "Foo_Bar.baz", "1.0rc1"),
        ("uvx://x@2.0.post3.dev4", "x", "2.0.post3.dev4"),
        ("uvx://a1@0", "a1", "0"),
    ],
)
def test_valid_specs(text: str, name: str, version: str | None) -> None:
    assert parse(text) == PackageSpec("uvx", name, version)


def test_the_request_and_the_pinned_spec_are_spelt_one_way() -> None:
    spec = parse("uvx://Foo__Bar.Baz")
    assert spec.project == "foo-bar-baz"
    assert spec.request == "uvx://foo-bar-baz"
    assert spec.pinned("1.2") == "uvx://foo-bar-baz@1.2"
    assert parse("uvx://Foo@1.0").request == "uvx://foo@1.0"
    assert parse("uvx://foo@latest").request == parse("uvx://foo").request


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("uvx://foo;rm -rf /", "holds characters no package spec has"),
        ("uvx://foo$(id)", "holds characters no package spec has"),
        ("uvx://foo`id`", "holds characters no package spec has"),
        ("uvx://foo|cat", "holds characters no package spec has"),
        ("uvx://foo&&x", "holds characters no package spec has"),
        ("uvx://foo@>=1.0", "holds characters no package spec has"),
        ("uvx://foo[extra]", "holds characters no package spec has"),
        ("uvx://foo@1.0 ", "holds characters no package spec has"),
        ("uvx://foo\n", "holds characters no package spec has"),
        ("uvx://foo\x00", "holds characters no package spec has"),
        ("uvx://-foo", "is not a package name"),
        ("uvx://foo-", "is not a package name"),
        ("uvx://", "is not a package name"),
        ("uvx://git+https:/x", "is not a package name"),
        ("uvx://../etc", "is not a package name"),
        ("uvx://foo@", "is not a version"),
        ("uvx://foo@1.0+local", "is not a version"),
        ("uvx://foo@one", "is not a version"),
        ("uvx://foo@1.0@2.0", "is not a version"),
        ("pip://foo", "is not a package index mcp-lok builds from"),
        ("npx://@scope/pkg", "`npx://` packages are not built yet"),
        ("uvx://" + "a" * 300, "at most 200 characters"),
    ],
)
def test_refused_specs(text: str, said: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse(text, "spec")
    (problem,) = raised.value.problems
    assert problem.field == "spec"
    assert said in problem.message
    assert problem.hint


def test_a_refusal_never_prints_control_characters() -> None:
    with pytest.raises(UsageError) as raised:
        parse("uvx://foo\x1b[31m")
    assert "\x1b" not in raised.value.problems[0].message


def test_is_spec() -> None:
    assert is_spec("uvx://foo")
    assert is_spec("npx://foo")
    assert not is_spec("mcp-lok/mcp-server-time:latest")
    assert not is_spec("localhost:5000/foo")


@given(st.text(max_size=80))
def test_any_text_is_a_spec_or_a_usage_error(text: str) -> None:
    try:
        spec = parse("uvx://" + text)
    except UsageError as error:
        problems = error.problems
        assert problems
        return
    # what passes is safe to put on pip's command line and in a label
    assert all(c.isalnum() or c in "._-@" for c in spec.request.removeprefix("uvx://")), spec
