"""A policy compile imports only what it uses: every module imported is paid for by every
cold `mcp-lok policy compile` (issue 2). These modules were once imported and are not
needed; each entry names where it went, so that a change bringing one back is a choice.

The compile runs in a fresh interpreter started with `-S`: the development environment's
editable install imports pathlib, ipaddress and more from a `.pth` file at every start,
which would hide what the policy package itself imports. The package is reached through a
folder laid out as the wheel installs it (`mcp_lok/policy`), as scripts/typecheck.sh does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

NOT_IMPORTED = {
    # policy/_lalr.py, trimmed by scripts/generate_parser.py (TRIMS)
    "logging": "Lark's logger, silent at the level it is set to",
    "pickle": "Lark's cache and save/load, never used",
    "zlib": "Lark's compressed tables, not written",
    "base64": "Lark's compressed tables, not written",
    # policy/digest.py
    "hashlib": "OpenSSL's SHA-256, where CPython's own gives the same digest",
    "_hashlib": "as hashlib",
    # policy/hosts.py, for a policy that names no address or network
    "ipaddress": "imported only to check an address literal or a CIDR",
    # policy/record.py, and the trims of policy/_lalr.py
    "dataclasses": "records are made without it (record.py says why)",
    "inspect": "as dataclasses; a record's signature imports it only when asked for",
    "copy": "only an error's diagnosis copies the parser's state",
}


def loaded_after_compile(tmp_path: Path, policy: str, code: str = "") -> set[str]:
    view = tmp_path / "view" / "mcp_lok"
    view.mkdir(parents=True)
    (view / "policy").symlink_to(ROOT / "policy")
    file = tmp_path / "policy.lok"
    file.write_text(policy, encoding="utf-8")
    script = (
        "import json, sys\n"
        "from mcp_lok.policy import FixedHost, Target, compile_plan\n"
        f"plan = compile_plan({str(file)!r}, Target(image='example/x:1', name='x'), "
        "host=FixedHost())\n"
        f"{code}\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "view")},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout))


def test_a_policy_compile_does_not_import_what_it_does_not_use(tmp_path: Path) -> None:
    policy = "extends stdio\nallow api.example.com port 443\nread /data\n"
    loaded = loaded_after_compile(tmp_path, policy, "plan.to_json()")
    assert "mcp_lok.policy._lalr" in loaded  # the policy was parsed
    assert sorted(loaded & set(NOT_IMPORTED)) == []


def test_an_address_in_a_policy_is_checked_with_ipaddress(tmp_path: Path) -> None:
    # the other side of the lazy import above: an address literal still loads `ipaddress`
    loaded = loaded_after_compile(tmp_path, "extends stdio\nallow 10.0.0.0/8 port 443\n")
    assert "ipaddress" in loaded


# what the generated parser alone must not import to parse good lines (an error's diagnosis
# may: it copies the parser's state with `copy`)
NOT_IMPORTED_BY_THE_PARSER = {*NOT_IMPORTED, "weakref"}


def test_the_generated_parser_parses_with_only_what_parsing_uses() -> None:
    # The module is run on its own, not imported, so that the rest of the package (which
    # may import some of these for its own use) does not hide what the parser imports.
    script = (
        "import json, sys\n"
        f"namespace = {{'__name__': '_lalr'}}\n"
        f"path = {str(ROOT / 'policy' / '_lalr.py')!r}\n"
        "exec(compile(open(path, encoding='utf-8').read(), path, 'exec'), namespace)\n"
        "parser = namespace['Lark_StandAlone']()\n"
        "for line in ['read /data as /mnt', 'allow a.com, b.org port 443 over tcp',\n"
        "             'env X = \"y z\" because \"why\"', 'limit memory 64M  # comment']:\n"
        "    parser.parse(line)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", script], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert sorted(loaded & NOT_IMPORTED_BY_THE_PARSER) == []
