"""The gate's config and the host's rule file (`policy/gate_config.py`): what lowering
writes reads back the same, and a file that is not exactly the schema is refused with
the field it got wrong, so neither the gate nor the host runs what it half understands."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from mcp_lok.policy.gate_config import (
    MAX_BYTES,
    ConfigError,
    Egress,
    EgressRule,
    GateConfig,
    HostRule,
    HostRules,
    Ingress,
)

EGRESS = {
    "socket": "/run/mcp-lok-gate/egress.sock",
    "dns": "127.0.0.53",
    "proxy": "127.0.0.1:3128",
    "rules": [{"hosts": ["example.com"], "ports": [443], "protocols": ["tcp"]}],
    "deny_hosts": [],
    "deny_ports": [],
}
INGRESS = {"socket": "/run/mcp-lok-gate/ingress.sock", "port": 8080}
CONFIG = {"version": 2, "name": "t", "ingress": INGRESS, "egress": None}
RULES = {
    "version": 2,
    "name": "t",
    "socket": "/run/mcp-lok/t/gate/egress.sock",
    "gate_user": "65533:65533",
    "rules": [
        {"hosts": ["10.0.0.0/8"], "ports": [53], "protocols": ["udp"], "acknowledged": []},
        {
            "hosts": ["169.254.169.254"],
            "ports": [80],
            "protocols": ["tcp"],
            "acknowledged": ["metadata", "link-local"],
        },
    ],
    "deny_hosts": ["*.example.com"],
    "deny_ports": [25],
}


def test_a_config_reads_back_as_written() -> None:
    config = GateConfig(
        "t",
        Ingress("/i.sock", 8080),
        Egress(
            "/e.sock",
            "127.0.0.53",
            ("127.0.0.1", 3128),
            (EgressRule(("api.example.com", "10.0.0.0/8"), (443,), ("tcp", "udp")),),
            ("bad.example.com",),
            (25,),
        ),
    )
    text = config.to_json()
    assert text.endswith("}\n")
    assert "\n" not in text[:-1]  # one compact line: only programs read it
    assert GateConfig.from_json(text) == config
    assert GateConfig.from_json(text.encode()) == config
    assert json.loads(text)["egress"]["proxy"] == "127.0.0.1:3128"


def test_host_rules_read_back_as_written() -> None:
    rules = HostRules.from_json(json.dumps(RULES))
    assert rules.gate_user == (65533, 65533)
    assert rules.rules[1] == HostRule(
        ("169.254.169.254",), (80,), ("tcp",), ("metadata", "link-local")
    )
    assert json.loads(rules.to_json()) == RULES


def _set(path: str, value: object) -> Callable[[Any], None]:
    def change(config: Any) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()


def _rules(**rule: object) -> dict[str, object]:
    return EGRESS | {"rules": [{"hosts": ["a"], "ports": [], "protocols": ["tcp"]} | rule]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("version", 1), "`version` must be 2"),
        (_set("version", True), "`version` must be 2"),
        (_set("extra", 1), "unknown field `extra`"),
        (_set("name", _DELETE), "lacks field `name`"),
        (_set("name", ""), "`name` must be a non-empty string"),
        (_set("ingress", None), "neither `ingress` nor `egress`"),
        (_set("ingress", []), "`ingress` must be an object"),
        (_set("ingress.port", 0), "`ingress.port` must be a port number"),
        (_set("ingress.port", 65536), "`ingress.port` must be a port number"),
        (_set("ingress.port", "8080"), "`ingress.port` must be a port number"),
        (_set("ingress.port", True), "`ingress.port` must be a port number"),
        (_set("ingress.socket", "ingress.sock"), "`ingress.socket` must be an absolute path"),
        (_set("ingress.socket", "/" + "s" * 107), "`ingress.socket` must be an absolute path"),
        (_set("ingress.socket", "/a\x00b"), "`ingress.socket` must be a non-empty string"),
        (_set("ingress.host", "0.0.0.0"), "unknown field `host`"),
        (_set("egress", EGRESS | {"dns": "8.8.8.8"}), "`egress.dns` must be a loopback"),
        (_set("egress", EGRESS | {"dns": "dns"}), "`egress.dns` must be a loopback"),
        (_set("egress", EGRESS | {"proxy": "0.0.0.0:3128"}), "`egress.proxy` must be a loopback"),
        (_set("egress", EGRESS | {"proxy": "127.0.0.1"}), "`egress.proxy` must be a loopback"),
        (_set("egress", EGRESS | {"proxy": "127.0.0.1:0"}), "`egress.proxy` must be a port"),
        (_set("egress", EGRESS | {"rules": {}}), "`egress.rules` must be a list"),
        (_set("egress", EGRESS | {"deny_ports": [70000]}), "`egress.deny_ports[0]` must be a port"),
        (_set("egress", EGRESS | {"deny_hosts": [1]}), "`egress.deny_hosts[0]` must be a non-"),
        (_set("egress", EGRESS | {"deny_hosts": ["A.com"]}), "a host pattern in its normal form"),
        (_set("egress", EGRESS | {"deny_hosts": ["*.com"]}), "a host pattern in its normal form"),
        (_set("egress", _rules(hosts=[])), "`egress.rules[0].hosts` is empty"),
        (_set("egress", _rules(hosts=["[::1]"])), "`egress.rules[0].hosts[0]` must be a host"),
        (_set("egress", _rules(protocols=[])), "`egress.rules[0].protocols` must list"),
        (_set("egress", _rules(protocols=["icmp"])), "`egress.rules[0].protocols` must list"),
        (_set("egress", _rules(x=1)), "`egress.rules[0]` has unknown field `x`"),
        (_set("egress", _rules(acknowledged=[])), "has unknown field `acknowledged`"),
    ],
)
def test_an_invalid_config_is_refused_naming_the_field(
    change: Callable[[Any], None], message: str
) -> None:
    config = copy.deepcopy(CONFIG)
    change(config)
    with pytest.raises(ConfigError) as caught:
        GateConfig.from_json(json.dumps(config))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("gate_user", "65533"), "`gate_user` must be `uid:gid`"),
        (_set("gate_user", "a:b"), "`gate_user` must be `uid:gid`"),
        (_set("rules.0.acknowledged", _DELETE), "`rules[0]` lacks field `acknowledged`"),
        (_set("rules.1.acknowledged", [""]), "`rules[1].acknowledged[0]` must be a non-empty"),
        (_set("socket", "egress.sock"), "`socket` must be an absolute path"),
        (_set("version", 1), "`version` must be 2"),
    ],
)
def test_invalid_host_rules_are_refused_naming_the_field(
    change: Callable[[Any], None], message: str
) -> None:
    rules = copy.deepcopy(RULES)
    change(rules)
    with pytest.raises(ConfigError) as caught:
        HostRules.from_json(json.dumps(rules))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("[]", "the file must be an object"),
        ("{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (" " * (MAX_BYTES + 1), "larger than"),
    ],
)
def test_what_is_not_a_config_is_refused(data: str | bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GateConfig.from_json(data)
