"""A package spec, `uvx://PACKAGE[@VERSION]`: read strictly, before anything is asked.

The name must be a PEP 508 name and the version a PEP 440 version, exactly: a spec reaches
pip's command line and an image's labels, so anything else (a URL, a path, extras, a
version range, a shell metacharacter) is refused with the reason, as a `UsageError` on
the field that gave it. `npx://` is recognised and refused for now. Talks to nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcp_lok.launcher.errors import UsageError

PYPI = "uvx"
NPM = "npx"
SCHEMES = (PYPI, NPM)
LATEST = "latest"
MAX_LENGTH = 200

# PEP 508's name: letters, digits, `.`, `_`, `-`; a letter or digit at each end
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# PEP 440's public version, as its appendix writes it, but for an epoch (`!` is refused
# with the shell's characters) and a local `+label` (PyPI has none)
VERSION = re.compile(
    r"""
    v?
    [0-9]+(?:\.[0-9]+)*                           # release
    (?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?  # pre-release
    (?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)? # post-release
    (?:[-_.]?dev[-_.]?[0-9]*)?                    # development release
    """,
    re.VERBOSE | re.IGNORECASE,
)
SHELL = set("`$&|;<>()[]{}*?!~'\"\\ \t\n\r#%^,=")
HINT = "write `uvx://PACKAGE` or `uvx://PACKAGE@VERSION`, e.g. `uvx://mcp-server-time@2025.9.25`"


@dataclass(frozen=True)
class PackageSpec:
    """A package to build an image of: the index (`uvx`), the name as written, and the
    version asked (None: the newest, which the build records)."""

    scheme: str
    name: str
    version: str | None = None

    @property
    def project(self) -> str:
        """The name as the index knows it (PEP 503: lower case, one `-` for any run of
        `-`, `_` and `.`)."""
        return re.sub(r"[-_.]+", "-", self.name).lower()

    @property
    def request(self) -> str:
        """The spec as asked, spelt one way: what a warm run looks its image up by."""
        at = f"@{self.version}" if self.version else ""
        return f"{self.scheme}://{self.project}{at}"

    def pinned(self, version: str) -> str:
        """The spec with the version the build resolved: what the image records."""
        return f"{self.scheme}://{self.project}@{version}"


def is_spec(text: str) -> bool:
    """Whether IMAGE names a package rather than an image: `SCHEME://…`."""
    return "://" in text


def parse(text: str, field: str = "image") -> PackageSpec:
    """The `PackageSpec` `text` writes; a `UsageError` on `field` saying what is wrong."""
    scheme, _, rest = text.partition("://")
    if scheme not in SCHEMES:
        raise UsageError.of(
            field, f"`{_shown(scheme)}://` is not a package index mcp-lok builds from", HINT
        )
    if scheme == NPM:
        raise UsageError.of(
            field,
            "`npx://` packages are not built yet",
            "build the image yourself and run it by name, or use a `uvx://` package",
        )
    if len(text) > MAX_LENGTH:
        raise UsageError.of(field, f"a package spec is at most {MAX_LENGTH} characters", HINT)
    if bad := sorted({c for c in rest if c in SHELL or not c.isprintable()}):
        shown = " ".join(f"`{c}`" if c.isprintable() and c != "`" else repr(c) for c in bad)
        raise UsageError.of(
            field,
            f"`{_shown(text)}` holds characters no package spec has: {shown}",
            f"{HINT}; a version range, extras or a URL cannot be given",
        )
    name, at, version = rest.partition("@")
    if not NAME.fullmatch(name):
        raise UsageError.of(field, f"`{_shown(name)}` is not a package name (PEP 508)", HINT)
    if not at or version == LATEST:
        return PackageSpec(scheme, name)
    if not VERSION.fullmatch(version):
        raise UsageError.of(
            field,
            f"`{_shown(version)}` is not a version (PEP 440)",
            f"{HINT}, or `@latest` for the newest",
        )
    return PackageSpec(scheme, name, version)


def _shown(text: str) -> str:
    """`text` as a message may quote it: printable, and not too long."""
    printable = "".join(c if c.isprintable() else "?" for c in text)
    return printable if len(printable) <= 60 else printable[:57] + "..."
