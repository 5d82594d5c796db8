"""Compare what a plan promised with what the engine reports, field by field.

Both sides are `normalise.View`s, so an engine's way of reporting a value is never drift.
Every difference names the rule that set the expected value: the plan's trace maps payload
paths (`HostConfig.Mounts[0]`) to origins, and `origins` re-keys them to the view's fields
(`HostConfig.Mounts[/data]`). Pure: no engine, no policy IR, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .normalise import IMPLICIT, View, security_options

ENGINE_DEFAULT: Final = "default (engine)"
BASELINE: Final = "default (baseline)"
_SECRET: Final = "${secret:"  # noqa: S105 (the placeholder's prefix)


@dataclass(frozen=True)
class Drift:
    """One field that differs. `expected`/`found` are None when the field is missing on
    that side (a capability added, a mount removed)."""

    container: str  # "server" or "gate"
    field: str
    expected: Any
    found: Any
    origin: str

    @property
    def kind(self) -> str:
        if self.expected is None:
            return "unexpected"
        return "missing" if self.found is None else "changed"

    def describe(self) -> str:
        if self.field.startswith("HostConfig.Capabilities["):
            cap = self.field.partition("[")[2].rstrip("]")
            if self.expected is None:
                return f"capability `{cap}` is held, which the plan does not grant"
            return f"capability `{cap}` is missing, which the plan grants"
        if self.expected is None:
            return f"`{self.field}` is {_show(self.found)}, which the plan does not set"
        if self.found is None:
            return f"`{self.field}` should be {_show(self.expected)} but is not set"
        return f"`{self.field}` is {_show(self.found)}, the plan says {_show(self.expected)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "field": self.field,
            "kind": self.kind,
            "expected": self.expected,
            "found": self.found,
            "origin": self.origin,
            "description": self.describe(),
        }


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list) and not value:
        return "none"
    return f"`{value}`" if not isinstance(value, list) else ", ".join(f"`{v}`" for v in value)


def origins(body: Mapping[str, Any], trace: Mapping[str, str]) -> dict[str, str]:
    """The plan's trace (payload path → rendered origin) keyed by the view's fields."""
    host = body.get("HostConfig", {})
    found: dict[str, str] = {}
    for path, origin in trace.items():
        for key in _fields_of(path, body, host):
            found.setdefault(key, origin)
    caps = trace.get("HostConfig.CapDrop", BASELINE)
    found.setdefault("HostConfig.Capabilities", caps)
    found.setdefault("Networks", trace.get("HostConfig.NetworkMode", BASELINE))
    return found


def _fields_of(path: str, body: Mapping[str, Any], host: Mapping[str, Any]) -> Iterator[str]:
    base, _, rest = path.partition("[")
    index = rest.rstrip("]")
    if not rest or not index.isdigit():
        yield path
        return
    i = int(index)
    if base == "Env":
        yield f"Env[{body['Env'][i].partition('=')[0]}]"
    elif base == "HostConfig.Mounts":
        yield f"HostConfig.Mounts[{host['Mounts'][i]['Target']}]"
    elif base == "HostConfig.Ulimits":
        yield f"HostConfig.Ulimits[{host['Ulimits'][i]['Name'].lower()}]"
    elif base == "HostConfig.CapAdd":
        yield f"HostConfig.Capabilities[{host['CapAdd'][i].upper().removeprefix('CAP_')}]"
    elif base == "HostConfig.SecurityOpt":
        yield from security_options([host["SecurityOpt"][i]])
    else:
        yield path


def origin_of(field: str, table: Mapping[str, str]) -> str:
    """The origin of `field`, else of the field it belongs to (`Env` for `Env[X]`)."""
    if field in table:
        return table[field]
    base = field.partition("[")[0]
    if base in table:
        return table[base]
    return ENGINE_DEFAULT if field in IMPLICIT else BASELINE


def compare(
    expected: View, observed: View, table: Mapping[str, str], container: str = "server"
) -> list[Drift]:
    """The fields of `observed` that differ from `expected`. A scalar field the plan does
    not set is the engine's business; an entry (`Env[X]`, `HostConfig.Mounts[/x]`) the plan
    does not name is drift unless the image or the engine put it there."""
    skip = expected.unreported | observed.unreported
    found: list[Drift] = []
    for key in sorted(set(expected.fields) | set(observed.fields)):
        if key.partition("[")[0] in skip or key in skip:
            continue
        want, have = expected.fields.get(key), observed.fields.get(key)
        if key not in observed.fields:
            found.append(Drift(container, key, want, None, origin_of(key, table)))
        elif key not in expected.fields:
            if "[" in key and key not in observed.extras:
                found.append(Drift(container, key, None, have, origin_of(key, table)))
        elif not _same(key, want, have):
            if key.startswith("Env["):  # values may be credentials: never print them
                want, have = "(hidden)", "(a different value)"
            found.append(Drift(container, key, want, have, origin_of(key, table)))
    return found


def _same(key: str, want: Any, have: Any) -> bool:
    # a secret's value is filled in at launch and never recorded: only its presence counts
    if key.startswith("Env[") and isinstance(want, str) and _SECRET in want:
        return True
    return bool(want == have)


__all__ = ["BASELINE", "ENGINE_DEFAULT", "Drift", "compare", "origin_of", "origins"]
