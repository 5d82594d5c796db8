"""The few imports `policy/` makes lazily, on purpose, each for a measured saving (its
comment says which): the generated parser, which a process that reads no policy file never
loads (`loader`, `kinds`); OpenSSL's `hashlib`, where CPython's own SHA-256 gives the same
digest (`digest`). These tests keep them lazy.

Each runs in a fresh interpreter started with `-S`: the development environment's
editable install imports ipaddress and more from a `.pth` file at every start. The package
is reached through a folder laid out as the wheel installs it (`mcp_lok/policy`), as
scripts/typecheck.sh does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def loaded(tmp_path: Path, code: str) -> set[str]:
    view = tmp_path / "view" / "mcp_lok"
    view.mkdir(parents=True)
    (view / "policy").symlink_to(ROOT / "policy")
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-S", "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "view")},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout))


def compiled(tmp_path: Path, policy: str) -> set[str]:
    file = tmp_path / "policy.lok"
    file.write_text(policy, encoding="utf-8")
    code = (
        "from mcp_lok.policy import FixedHost, Target, compile_plan\n"
        f"compile_plan({str(file)!r}, Target(image='example/x:1', name='x'), "
        "host=FixedHost()).to_json()"
    )
    return loaded(tmp_path, code)


def test_importing_the_package_loads_no_parser(tmp_path: Path) -> None:
    modules = loaded(tmp_path, "import mcp_lok.policy, mcp_lok.policy.addresses")
    assert "mcp_lok.policy.parser" not in modules
    assert "mcp_lok.policy._lalr" not in modules


def test_compiling_a_policy_loads_no_openssl(tmp_path: Path) -> None:
    modules = compiled(tmp_path, "extends stdio\nallow api.example.com port 443\nread /data\n")
    assert "mcp_lok.policy._lalr" in modules  # the policy was parsed
    assert sorted(modules & {"hashlib", "_hashlib"}) == []
