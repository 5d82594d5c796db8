"""A package's whole dependency tree, pinned with the index's hashes, for the base's Python.

The host's pip resolves the spec for CPython 3.11 on manylinux x86_64, wheels only, without
installing or building anything (`wheels.report`). When it cannot, the reason is found and
said, naming the package: one that does not exist, a version that does not exist, or a
package (the one asked, or a dependency, with who needs it) that has no wheel for the
target, only a source distribution, whose build would run the package's own code. Nothing
here asks the index but pip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcp_lok.launcher.errors import LokError, Rejected, UsageError

from . import wheels
from .spec import PackageSpec

# pip's words when no distribution fits: the requirement, who asked for it, what the index
# holds that fits the target
NO_MATCH = re.compile(
    r"Could not find a version that satisfies the requirement (?P<req>\S+)"
    r"(?: \(from (?P<parent>[^)]*)\))? \(from versions: (?P<versions>[^)]*)\)"
)
REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
PIP_HINT = "check that pip on this host reaches the package index (`pip download PACKAGE`)"


class ResolveError(LokError):
    """pip could not resolve the spec, for a reason that is not the package's."""


@dataclass(frozen=True)
class Pin:
    """One package of the tree: its name and version, and the sha256 of its wheel."""

    name: str
    version: str
    sha256: str

    @property
    def project(self) -> str:
        return re.sub(r"[-_.]+", "-", self.name).lower()


@dataclass(frozen=True)
class Resolution:
    """The spec as asked, the version it resolved to, and every package, by name."""

    spec: PackageSpec
    version: str
    pins: tuple[Pin, ...]

    @property
    def pinned(self) -> str:
        return self.spec.pinned(self.version)

    def lock(self) -> str:
        """The hashed requirements pip installs from (`--require-hashes`)."""
        return wheels.lock_text([(p.name, p.version, p.sha256) for p in self.pins])


def resolve(spec: PackageSpec) -> Resolution:
    """The pinned tree of `spec`; a `ResolveError` naming what cannot be had, and why."""
    wanted = f"{spec.project}=={spec.version}" if spec.version else spec.project
    try:
        items = wheels.report([wanted])
        lines = wheels.lock_lines(items)
    except wheels.PipError as error:
        raise refusal(spec, error.stderr) from None
    pins = tuple(Pin(name, version, digest) for name, version, digest in lines)
    top = next((p for p in pins if p.project == spec.project), None)
    if top is None:  # pip installs what it was asked, or fails
        raise ResolveError(f"pip resolved `{spec.request}` without the package itself")
    return Resolution(spec, top.version, pins)


def refusal(spec: PackageSpec, stderr: str) -> Exception:
    """Why pip found nothing to install, in words that name the package: a `UsageError`
    for a package or version that does not exist (the command line asks for what cannot
    be), `Rejected` for one with no wheel (mcp-lok refuses to build it), a `ResolveError`
    for anything else pip said."""
    found = NO_MATCH.search(stderr)
    if found is None:
        return ResolveError(f"pip cannot resolve `{spec.request}`:\n{_tail(stderr)}", hint=PIP_HINT)
    requirement, parent = found["req"], found["parent"]
    fitting = [v.strip() for v in found["versions"].split(",") if v.strip() != "none"]
    name_match = REQUIREMENT_NAME.match(requirement)
    name = name_match.group(0) if name_match else requirement
    known = index_versions(name)
    needed = f", needed by `{parent}`," if parent else ""
    if not known:
        what = "the package" if parent is None else "the dependency"
        return UsageError.of(
            "",
            f"{what} `{name}`{needed} does not exist on the package index",
            "check the spelling of the name on https://pypi.org",
        )
    if parent is None and spec.version and spec.version not in known:
        latest = ", ".join(known[:5])
        return UsageError.of(
            "",
            f"`{spec.project}` has no version `{spec.version}` on the package index",
            f"the newest are {latest}; or leave the version out for the newest",
        )
    which = "the package" if parent is None else "the dependency"
    fits = f" (wheels exist for {', '.join(fitting[-3:])})" if fitting else ""
    return Rejected(
        f"error: {which} `{requirement}`{needed} has no wheel for {wheels.TARGET}, only a "
        f"source distribution{fits}: building it would run the package's own code\n"
        "  = hint: mcp-lok installs wheels only; pick a version that ships one, or build "
        "the image yourself"
    )


def index_versions(name: str) -> list[str]:
    """Every version the index holds of `name`, wheels or not, newest first; empty when
    it holds none. `pip index versions` reads the index's listing and builds nothing."""
    try:
        out = wheels.pip("index", "versions", name)
    except wheels.PipError:
        return []
    for line in out.splitlines():
        if line.startswith("Available versions:"):
            return [v.strip() for v in line.partition(":")[2].split(",") if v.strip()]
    return []


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
