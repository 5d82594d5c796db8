"""Everything the policy's network mode causes in a plan, decided here and only here.

* `none`: the server has only `lo` (`NetworkMode: none`) and no nameserver.
* allow-list (`allow HOST port N`): the server joins the gate's namespace
  (`NetworkMode: container:<gate>`), which has only loopback; its `/etc/resolv.conf` names
  the gate's resolver; `HTTP_PROXY` and its kin name the gate's HTTP proxy; the gate's
  config (`gate.json`) carries the rules, and the host's own copy of them (`egress.json`,
  with the address classes each `insecure` acknowledged) is what mcp-lok on the host
  enforces again for every connection.
* `open`: the server has a private bridge network of its own (never the engine's default,
  never `host`), and the engine's resolver on it.

An HTTP transport needs the gate too, as the host's way in (`ingress`), whatever the mode:
the server joins the gate's namespace then as well. Both halves of the gate's config are
made here (`gate_config`), in the shared schema `policy/gate_config.py`. The server's and
the gate's other fields are `server.py`'s and `gate.py`'s, their files `files.py`'s: each
asks this module. Pure.
"""

from __future__ import annotations

from .. import baseline, layout
from ..gate_config import Egress, EgressRule, GateConfig, HostRule, HostRules, Ingress
from ..ir import IR, NetworkMode
from ..origin import BASELINE, Origin
from .payloads import NetworkCreate
from .plan import LAUNCH_LABEL, Payload, PlanFile, Target

# the gate's resolver, which answers allowed names only, each with its own loopback address
GATE_RESOLVER = f"nameserver {baseline.GATE_DNS}\noptions ndots:1\n"
# no nameserver: a resolver library then asks 127.0.0.1, the container's own loopback, where
# nothing answers (glibc and musl both do), so every name but those in /etc/hosts fails
NO_RESOLVER = "# no nameserver: names resolve only through /etc/hosts\n"
# the gate's HTTP proxy, announced in every spelling clients read
_PROXY = f"http://{baseline.GATE_PROXY}"
_NO_PROXY = "localhost,127.0.0.1,::1"
PROXY_ENV = (
    ("HTTP_PROXY", _PROXY),
    ("HTTPS_PROXY", _PROXY),
    ("NO_PROXY", _NO_PROXY),
    ("http_proxy", _PROXY),
    ("https_proxy", _PROXY),
    ("no_proxy", _NO_PROXY),
    ("NODE_USE_ENV_PROXY", "1"),
)


def gate_name(target: Target) -> str:
    return f"mcp-lok-{target.name}-gate"


def network_name(target: Target) -> str:
    return f"mcp-lok-{target.name}"


def needs_gate(policy: IR, target: Target) -> bool:
    return _allow_list(policy) or target.transport.is_http


def _allow_list(policy: IR) -> bool:
    return policy.network.mode.value is NetworkMode.ALLOW_LIST


def server(payload: Payload, policy: IR, target: Target) -> list[tuple[str, str, Origin]]:
    """Set the server's `NetworkMode`; return the variables the mode adds to its `Env`."""
    mode = policy.network.mode
    if needs_gate(policy, target):
        # the server joins the gate's namespace: it has only `lo`, and the gate is its door
        value = f"container:{gate_name(target)}"
    elif mode.value is NetworkMode.OPEN:
        value = network_name(target)
    else:
        value = "none"
    payload.host.set(mode.origin, NetworkMode=value)
    if not _allow_list(policy):
        return []
    return [(name, proxy, mode.origin) for name, proxy in PROXY_ENV]


def gate(payload: Payload, policy: IR, target: Target) -> None:
    """Set the gate's `NetworkMode` (only loopback, or the server's private bridge) and
    what lets it listen on the ports it serves."""
    mode = policy.network.mode
    open_ = mode.value is NetworkMode.OPEN
    payload.host.set(mode.origin, NetworkMode=network_name(target) if open_ else "none")
    # lets the unprivileged gate bind port 53 and allowed ports below 1024; the sysctl
    # is per network namespace, so it changes nothing on the host
    payload.host.set(BASELINE, Sysctls={"net.ipv4.ip_unprivileged_port_start": "0"})


def resolver(policy: IR, role: str, open_resolver: str | None) -> tuple[str | None, Origin]:
    """What `/etc/resolv.conf` says in the `role` container, and why; None where it is the
    engine's own (then named among its engine mounts): `open_resolver` is the engine's
    answer for a server on its own bridge network."""
    mode = policy.network.mode
    if role == "gate":
        # the gate resolves nothing itself (the host does, for each connection it relays)
        return NO_RESOLVER, BASELINE
    if mode.value is NetworkMode.NONE:
        # INVARIANT: no nameserver of the host's reaches a container that has no network
        return NO_RESOLVER, mode.origin
    if mode.value is NetworkMode.ALLOW_LIST:
        # INVARIANT: under an allow-list the server's only resolver is the gate's
        return GATE_RESOLVER, mode.origin
    return open_resolver, mode.origin


def networks(policy: IR, target: Target) -> tuple[NetworkCreate, ...]:
    """The networks the plan creates: an open policy's private bridge, or none."""
    if policy.network.mode.value is not NetworkMode.OPEN:
        return ()
    labels = {"mcp-lok": "true", "mcp-lok-name": target.name, LAUNCH_LABEL: target.launch}
    return (
        NetworkCreate(Name=network_name(target), Driver="bridge", Internal=False, Labels=labels),
    )


def gate_config(policy: IR, target: Target) -> GateConfig:
    """`gate.json`: the host's way in for an HTTP transport, the allow-list's way out."""
    net = policy.network
    egress = None
    if _allow_list(policy):
        host, _, port = baseline.GATE_PROXY.rpartition(":")
        egress = Egress(
            socket=layout.GATE_EGRESS,
            dns=baseline.GATE_DNS,
            proxy=(host, int(port)),
            rules=tuple(
                EgressRule(
                    hosts=tuple(h.value for h in rule.hosts),
                    ports=tuple(p.value for p in rule.ports),
                    protocols=tuple(p.value.value for p in rule.protocols),
                )
                for rule in net.rules
            ),
            deny_hosts=tuple(h.value for h in net.deny_hosts),
            deny_ports=tuple(p.value for p in net.deny_ports),
        )
    ingress = Ingress(layout.GATE_INGRESS, target.port) if target.transport.is_http else None
    return GateConfig(target.name, ingress, egress)


def host_rules(policy: IR, config: GateConfig, target: Target) -> HostRules | None:
    """`egress.json`: what mcp-lok on the host enforces for this server's egress (None
    without an allow-list): the gate's rules, each with the address classes its `insecure`
    marker acknowledged (the host dials its own, link-local and metadata addresses only
    through a rule that did). INVARIANT: the host reads its rules from here, a root-owned
    file the gate cannot write, and listens where only the gate can connect."""
    if config.egress is None:
        return None
    uid, _, gid = baseline.GATE_USER.partition(":")
    return HostRules(
        name=target.name,
        socket=target.layout.egress_socket,
        gate_user=(int(uid), int(gid)),
        rules=tuple(
            HostRule(*gate_rule, tuple(c.value for c in rule.acknowledged))
            for gate_rule, rule in zip(config.egress.rules, policy.network.rules, strict=True)
        ),
        deny_hosts=config.egress.deny_hosts,
        deny_ports=config.egress.deny_ports,
    )


def files(policy: IR, config: GateConfig, target: Target) -> tuple[PlanFile, ...]:
    """The gate's config and, under an allow-list, the host's rules, for the launcher to
    write (the host's rules readable by root alone)."""
    written: tuple[PlanFile, ...] = (PlanFile(target.layout.gate_config, config.to_json()),)
    rules = host_rules(policy, config, target)
    if rules is not None:
        written += (PlanFile(target.layout.egress_rules, rules.to_json(), 0o600),)
    return written


__all__ = [
    "GATE_RESOLVER",
    "NO_RESOLVER",
    "PROXY_ENV",
    "files",
    "gate",
    "gate_config",
    "gate_name",
    "host_rules",
    "needs_gate",
    "network_name",
    "networks",
    "resolver",
    "server",
]
