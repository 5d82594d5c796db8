"""What an image is assembled from, on the host: the bill of materials (every package with
its version and a hash of each of its files), the entry point chosen from the package's
console scripts, and a Dockerfile that runs nothing."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from mcp_lok.launcher.errors import UsageError
from mcp_lok.launcher.images import assembly, sbom
from mcp_lok.launcher.images.assembly import EntryPoint, EntryPointError
from mcp_lok.launcher.images.resolve import Pin, Resolution
from mcp_lok.launcher.images.spec import parse

DIGEST = "cd" * 32


def wheel(site: Path, name: str, version: str, files: dict[str, str], scripts: str = "") -> None:
    """What pip unpacks of a wheel: its files, and a dist-info with RECORD."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    for path, text in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)
    if scripts:
        (info / "entry_points.txt").write_text(scripts)
    record = [f"{path},sha256=x,1" for path in files]
    record += [f"{info.name}/RECORD,,", f"{info.name}/entry_points.txt,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    wheel(
        site,
        "my_tool",
        "1.0",
        {"my_tool/__init__.py": "", "my_tool/cli.py": "def main(): pass\n"},
        "[console_scripts]\nmy-tool = my_tool.cli:main\n",
    )
    wheel(site, "dep", "2.0", {"dep.py": "X = 1\n"})
    (site / "my_tool" / "__pycache__").mkdir()
    (site / "my_tool" / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"pyc")
    return site


RESOLUTION = Resolution(
    parse("uvx://my-tool"), "1.0", (Pin("dep", "2.0", DIGEST), Pin("my_tool", "1.0", DIGEST))
)


def test_the_sbom_lists_every_package_with_a_hash_of_each_of_its_files(site: Path) -> None:
    script = ("/opt/mcp-lok/bin/my-tool", "ef" * 32)
    document = sbom.bom(RESOLUTION, "k" * 64, "mcp-lok/base:abc", ("/opt/x", site), [script])
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.5"
    packages = {c["name"]: c for c in document["components"]}
    assert {n: c["version"] for n, c in packages.items()} == {"dep": "2.0", "my_tool": "1.0"}
    assert packages["my_tool"]["purl"] == "pkg:pypi/my-tool@1.0"
    assert packages["my_tool"]["hashes"] == [{"alg": "SHA-256", "content": DIGEST}]
    files = {f["name"]: f["hashes"][0]["content"] for f in packages["my_tool"]["components"]}
    cli = hashlib.sha256(b"def main(): pass\n").hexdigest()
    assert files["/opt/x/my_tool/cli.py"] == cli
    # bytecode belongs to the package of its source
    assert files["/opt/x/my_tool/__pycache__/cli.cpython-311.pyc"] == (
        hashlib.sha256(b"pyc").hexdigest()
    )
    assert "/opt/x/my_tool-1.0.dist-info/RECORD" in files
    assert [f["name"] for f in packages["dep"]["components"]] == [
        "/opt/x/dep-2.0.dist-info/RECORD",
        "/opt/x/dep.py",
    ]
    image = document["metadata"]["component"]
    assert image["name"] == "uvx://my-tool@1.0"
    assert {"type": "container", "name": "mcp-lok/base:abc"} in image["components"]
    assert {
        "type": "file",
        "name": script[0],
        "hashes": [{"alg": "SHA-256", "content": "ef" * 32}],
    } in image["components"]


def test_the_sbom_is_deterministic(site: Path) -> None:
    one = sbom.render(sbom.bom(RESOLUTION, "k", "b", ("/opt/x", site)))
    two = sbom.render(sbom.bom(RESOLUTION, "k", "b", ("/opt/x", site)))
    assert one == two
    assert json.loads(one)["serialNumber"].startswith("urn:uuid:")


def test_a_file_no_package_owns_is_the_images_own(site: Path) -> None:
    (site / "stray.py").write_text("")
    document = sbom.bom(RESOLUTION, "k", "b", ("/opt/x", site))
    names = [c["name"] for c in document["metadata"]["component"]["components"]]
    assert "/opt/x/stray.py" in names


def test_the_entry_point_is_the_packages_console_script(site: Path) -> None:
    found = assembly.entry_points(site, "my-tool")
    assert found == [EntryPoint("my-tool", "my_tool.cli", "main")]
    assert assembly.choose(found, None, "my-tool") == found[0]
    assert found[0].script() == "import sys\nfrom my_tool.cli import main\nsys.exit(main())\n"
    assert EntryPoint("t", "m", "app.run").script().endswith("sys.exit(app.run())\n")


def test_several_console_scripts_need_a_choice_and_the_error_lists_them() -> None:
    found = [EntryPoint("a", "m", "a"), EntryPoint("b", "m", "b")]
    with pytest.raises(UsageError) as raised:
        assembly.choose(found, None, "tool")
    (problem,) = raised.value.problems
    assert problem.field == "entrypoint"
    assert problem.message == "`tool` has 2 console scripts: `a`, `b`"
    assert problem.hint == "choose one with `--entrypoint NAME`"
    assert assembly.choose(found, "b", "tool") == found[1]
    with pytest.raises(UsageError, match="has no console script `c`"):
        assembly.choose(found, "c", "tool")


def test_a_package_without_console_scripts_is_refused(site: Path) -> None:
    with pytest.raises(EntryPointError, match="`dep` declares no console script"):
        assembly.choose(assembly.entry_points(site, "dep"), None, "dep")


def test_an_entry_point_that_is_not_plain_names_is_left_out(tmp_path: Path) -> None:
    scripts = "[console_scripts]\nbad = os;system:x\nalso = m:f()\nok = m:f [extra]\n"
    wheel(tmp_path, "tool", "1", {"m.py": ""}, scripts)
    assert [e.name for e in assembly.entry_points(tmp_path, "tool")] == ["ok"]


def test_the_dockerfile_copies_and_runs_nothing() -> None:
    text = assembly.dockerfile(EntryPoint("my-tool", "m", "f"), {"io.x": 'a "b"'})
    lines = text.splitlines()
    assert lines[:2] == ["ARG BASE", "FROM ${BASE}"]
    instructions = {line.split()[0] for line in lines}
    assert instructions == {
        "ARG",
        "FROM",
        "COPY",
        "ENV",
        "WORKDIR",
        "USER",
        "LABEL",
        "ENTRYPOINT",
        "CMD",
    }
    assert 'LABEL io.x="a \\"b\\""' in lines
    assert "USER 65534:65534" in lines
    assert 'ENTRYPOINT ["python3", "/opt/mcp-lok/bin/my-tool"]' in lines


def test_the_context_tar_is_roots_and_readable(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "x").write_text("x")
    (tmp_path / "bin" / "x").chmod(0o700)
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    out = io.BytesIO()
    assembly.tar_context(tmp_path, out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"Dockerfile", "bin", "bin/x"}
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == 0 for m in members.values())
    assert members["bin/x"].mode == 0o755
    assert members["Dockerfile"].mode == 0o644
