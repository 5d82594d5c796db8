"""`mcp-lok build`, `images`, `images rm` and `base build`: images of packages, made ahead of
a launch or looked at afterwards (`run`/`start` with a `uvx://` spec build through `built`).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from mcp_lok.launcher import images
from mcp_lok.launcher.engine import Conflict, EngineClient
from mcp_lok.launcher.errors import LokError, UsageError
from mcp_lok.launcher.images import base, builder, store

from .command import LokCommand, LokGroup, echo
from .options import ENGINE, FORMAT

ENTRYPOINT = click.option(
    "--entrypoint",
    metavar="NAME",
    help="A `uvx://` package's console script to run, when it has several.",
)
REFRESH = click.option(
    "--refresh",
    is_flag=True,
    help="Resolve a `uvx://` package again, even when an image of it exists.",
)
COLUMNS = ("image", "spec", "packages", "size", "created")


def progress(message: str) -> None:
    """Long work says how it goes on stderr, when a person is watching."""
    if sys.stderr.isatty():
        echo(f"mcp-lok: {message}", err=True)


def built(choice: str | None, spec_text: str, entrypoint: str | None, refresh: bool) -> str:
    """The image of the package `spec_text` on the engine `choice`, built if need be; its
    name there. What `run`, `start` and `build` share."""
    spec = images.parse(spec_text)
    found = images.ensure(store.client(choice), spec, progress, entrypoint, refresh)
    return found.ref


def package_only(entrypoint: str | None, refresh: bool) -> None:
    """`--entrypoint` and `--refresh` are about a package spec: given with an image, a
    usage error."""
    for field, given in (("entrypoint", entrypoint is not None), ("refresh", refresh)):
        if given:
            raise UsageError.of(
                field,
                "only a `uvx://` package spec is built: an image is run as it is",
                "leave the option out, or give `uvx://PACKAGE[@VERSION]`",
            )


@click.command(cls=LokCommand)
@ENGINE
@ENTRYPOINT
@REFRESH
@FORMAT
@click.argument("spec")
def build(spec: str, engine: str | None, entrypoint: str | None, refresh: bool, fmt: str) -> None:
    """Build the image of SPEC, `uvx://PACKAGE[@VERSION]`, and print its name.

    The host's pip resolves the package and its whole tree to wheels for the image's
    Python (CPython 3.11, manylinux x86_64) and checks their hashes; the image is the base
    plus those files, built with no network and nothing run inside, with a CycloneDX bill
    of materials at /opt/mcp-lok/sbom.cdx.json. An image built before for the same SPEC is
    used as it is unless `--refresh`.
    """
    parsed = _spec(spec)
    found = images.ensure(store.client(engine), parsed, progress, entrypoint, refresh)
    if fmt == "json":
        row = {"image": found.ref, "spec": found.spec, "packages": found.packages}
        echo(json.dumps({**row, "entrypoint": found.entrypoint, "built": found.built}))
        return
    echo(found.ref)
    top = found.packages.get(parsed.project, "?")
    echo(f"{found.spec} ({len(found.packages)} packages, {parsed.project} {top})", err=True)


@click.group(cls=LokGroup, invoke_without_command=True)
@ENGINE
@FORMAT
@click.pass_context
def images_(ctx: click.Context, engine: str | None, fmt: str) -> None:
    """List the images mcp-lok built: spec, packages, size, when.

    `mcp-lok images rm` removes them.
    """
    if ctx.invoked_subcommand is not None:
        return
    rows = listed(store.client(engine))
    if fmt == "json":
        echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    table = [[c.upper() for c in COLUMNS]] + [
        [
            r["image"],
            r["spec"],
            str(len(r["packages"])),
            f"{r['size'] / 1e6:.0f} MB",
            r["created"],
        ]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def listed(engine: EngineClient) -> list[dict[str, Any]]:
    """Every image mcp-lok built on `engine`, newest first, one row each."""
    rows = []
    for image in store.labelled(engine, builder.SPEC_LABEL):
        labels = image.get("Labels") or {}
        created = datetime.fromtimestamp(int(image.get("Created") or 0), UTC)
        for tag in image.get("RepoTags") or ["<none>"]:
            rows.append(
                {
                    "image": tag,
                    "id": image.get("Id"),
                    "spec": labels.get(builder.SPEC_LABEL),
                    "requested": labels.get(builder.REQUEST_LABEL),
                    "packages": builder.packages_of(labels),
                    "entrypoint": labels.get(builder.ENTRYPOINT_LABEL),
                    "sbom": labels.get(builder.SBOM_LABEL),
                    "size": int(image.get("Size") or 0),
                    "created": created.isoformat(timespec="seconds"),
                }
            )
    return sorted(rows, key=lambda r: (r["created"], r["image"]), reverse=True)


@images_.command("rm")
@ENGINE
@click.argument("targets", nargs=-1, required=True, metavar="SPEC|IMAGE...")
def images_rm(targets: tuple[str, ...], engine: str | None) -> None:
    """Remove images mcp-lok built: every one of a SPEC (`uvx://PACKAGE[@VERSION]`), or
    one IMAGE by name. An image mcp-lok did not build is never removed."""
    specs = {t: _spec(t, "targets") for t in targets if images.is_spec(t)}
    client = store.client(engine)
    rows = listed(client)
    for target in targets:
        if target in specs:
            wanted = specs[target]
            chosen = [
                r
                for r in rows
                if wanted.request in (r["requested"], r["spec"])
                or (wanted.version is None and _project(r["spec"]) == wanted.project)
            ]
        else:
            chosen = [r for r in rows if target in (r["image"], _unqualified(r["image"]))]
        if not chosen:
            raise LokError(
                f"no image mcp-lok built is `{target}`",
                hint="`mcp-lok images` lists them",
            )
        for row in chosen:
            try:
                store.remove(client, row["image"])
            except Conflict as error:
                raise LokError(
                    f"`{row['image']}` is in use: {error.message}",
                    hint="remove the servers that run it first (`mcp-lok rm NAME`)",
                ) from None
            echo(row["image"])


@click.group(cls=LokGroup)
def base_() -> None:
    """The base image every `uvx://` image is built on."""


@base_.command("build")
@ENGINE
@click.option("--force", is_flag=True, help="Import the base again even when it exists.")
def base_build(engine: str | None, force: bool) -> None:
    """Build the Python base from Debian packages (debootstrap; needs root), or reuse it.

    Debian bookworm's minimal system with python3, tzdata and ca-certificates, imported
    into the engine as `mcp-lok/base:<content key>`. Prints its name.
    """
    found, made = base.ensure(store.client(engine), progress, force=force)
    echo(found.ref)
    if not made:
        echo("the base exists already: reused", err=True)


def _spec(text: str, field: str = "spec") -> images.PackageSpec:
    if not images.is_spec(text):
        raise UsageError.of(field, f"`{text}` is not a package spec", images.spec.HINT)
    return images.parse(text, field)


def _unqualified(image: str) -> str:
    return image.removeprefix("localhost/")


def _project(spec: Any) -> str:
    return str(spec or "").partition("://")[2].partition("@")[0]


__all__ = ["base_", "build", "built", "images_", "package_only"]
