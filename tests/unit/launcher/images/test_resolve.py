"""Why pip found nothing, said with the package's name: pip's own words read, and the
index's listing asked, both through the one `wheels.pip` (faked here)."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_lok.launcher.errors import Rejected, UsageError
from mcp_lok.launcher.images import parse, resolve, wheels
from mcp_lok.launcher.images.resolve import ResolveError

NOT_FOUND = (
    "ERROR: Could not find a version that satisfies the requirement {req}{parent} "
    "(from versions: {versions})\nERROR: No matching distribution found for {req}"
)


def failing(
    monkeypatch: pytest.MonkeyPatch, stderr: str, listed: dict[str, list[str]]
) -> list[tuple[str, ...]]:
    """pip's report fails with `stderr`; `pip index versions NAME` lists `listed[NAME]`."""
    asked: list[tuple[str, ...]] = []

    def report(requirements: list[str]) -> list[dict[str, Any]]:
        asked.append(tuple(requirements))
        raise wheels.PipError("install", stderr)

    def pip(*args: str, python: str | None = None) -> str:
        asked.append(args)
        versions = listed.get(args[2])
        if not versions:
            raise wheels.PipError("index", f"ERROR: No matching distribution found for {args[2]}")
        return f"{args[2]} ({versions[0]})\nAvailable versions: {', '.join(versions)}\n"

    monkeypatch.setattr(wheels, "report", report)
    monkeypatch.setattr(wheels, "pip", pip)
    return asked


def test_a_package_that_does_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = NOT_FOUND.format(req="nope", parent="", versions="none")
    asked = failing(monkeypatch, stderr, {})
    with pytest.raises(UsageError) as raised:
        resolve.resolve(parse("uvx://Nope"))
    assert raised.value.problems[0].message == (
        "the package `nope` does not exist on the package index"
    )
    assert asked[0] == ("nope",)  # the name as the index spells it


def test_a_version_that_does_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = NOT_FOUND.format(req="tool==9.9", parent="", versions="1.0, 2.0")
    asked = failing(monkeypatch, stderr, {"tool": ["2.0", "1.0"]})
    with pytest.raises(UsageError) as raised:
        resolve.resolve(parse("uvx://tool@9.9"))
    (problem,) = raised.value.problems
    assert problem.message == "`tool` has no version `9.9` on the package index"
    assert problem.hint is not None
    assert "2.0, 1.0" in problem.hint
    assert asked[0] == ("tool==9.9",)


def test_a_package_with_only_a_source_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = NOT_FOUND.format(req="docopt", parent="", versions="none")
    failing(monkeypatch, stderr, {"docopt": ["0.6.2"]})
    with pytest.raises(Rejected) as raised:
        resolve.resolve(parse("uvx://docopt"))
    assert "the package `docopt` has no wheel for CPython 3.11" in raised.value.reason
    assert "only a source distribution" in raised.value.reason
    assert "hint:" in raised.value.reason


def test_a_dependency_with_only_a_source_distribution_names_who_needs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = NOT_FOUND.format(req="docopt>=0.6", parent=" (from tool==1.0)", versions="none")
    failing(monkeypatch, stderr, {"docopt": ["0.6.2"]})
    with pytest.raises(Rejected) as raised:
        resolve.resolve(parse("uvx://tool"))
    assert "the dependency `docopt>=0.6`, needed by `tool==1.0`, has no wheel" in (
        raised.value.reason
    )


def test_a_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = NOT_FOUND.format(req="gone", parent=" (from tool==1.0)", versions="none")
    failing(monkeypatch, stderr, {"tool": ["1.0"]})
    with pytest.raises(UsageError) as raised:
        resolve.resolve(parse("uvx://tool"))
    assert raised.value.problems[0].message == (
        "the dependency `gone`, needed by `tool==1.0`, does not exist on the package index"
    )


def test_anything_else_pip_says_is_an_operational_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing(monkeypatch, "ERROR: ResolutionImpossible: a conflict", {})
    with pytest.raises(ResolveError) as raised:
        resolve.resolve(parse("uvx://tool"))
    assert "ResolutionImpossible" in raised.value.message
    assert raised.value.hint


def report_item(name: str, version: str, digest: str | None = "ab" * 32) -> dict[str, Any]:
    hashes = {"sha256": digest} if digest else {}
    return {
        "metadata": {"name": name, "version": version},
        "download_info": {"url": f"https://x/{name}.whl", "archive_info": {"hashes": hashes}},
    }


def test_the_tree_is_pinned_with_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [report_item("Zed", "1.0"), report_item("My_Tool", "2.1"), report_item("abc", "3")]
    monkeypatch.setattr(wheels, "report", lambda requirements: items)
    found = resolve.resolve(parse("uvx://my-tool"))
    assert found.version == "2.1"
    assert found.pinned == "uvx://my-tool@2.1"
    assert [p.name for p in found.pins] == ["abc", "My_Tool", "Zed"]
    assert "My_Tool==2.1 \\\n    --hash=sha256:" + "ab" * 32 in found.lock()


def test_a_package_without_a_hash_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [report_item("tool", "1.0"), report_item("loose", "1.0", digest=None)]
    monkeypatch.setattr(wheels, "report", lambda requirements: items)
    with pytest.raises(ResolveError) as raised:
        resolve.resolve(parse("uvx://tool"))
    assert "no sha256 for loose" in raised.value.message


def test_a_report_becomes_lock_lines_by_name() -> None:
    lines = wheels.lock_lines(
        [report_item("mcp", "1.2.0"), report_item("Anyio", "4.0.0rc1", "cd" * 32)]
    )
    assert lines == [("Anyio", "4.0.0rc1", "cd" * 32), ("mcp", "1.2.0", "ab" * 32)]
    assert wheels.lock_text(lines).count("--hash=sha256:") == 2


@pytest.mark.parametrize(
    ("name", "version", "digest"),
    [
        ("evil\n--extra-index-url=http://x", "1.0", "ab" * 32),  # a line of its own
        ("evil --index-url=http://x", "1.0", "ab" * 32),  # an option on its line
        ("evil", "1.0 --hash=sha256:" + "00" * 32, "ab" * 32),  # a second, forged hash
        ("evil", "1.0\nother==2.0", "ab" * 32),
        ("evil", "1.0", "AB" * 32 + "\nx"),
        ("evil", "1.0", None),  # no hash at all
    ],
)
def test_what_a_packages_metadata_says_cannot_add_a_line_or_an_option_to_the_lock(
    name: str, version: str, digest: str | None
) -> None:
    with pytest.raises(wheels.PipError):
        wheels.lock_lines([report_item("mcp", "1.2.0"), report_item(name, version, digest)])
