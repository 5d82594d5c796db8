"""The images mcp-lok builds, on one engine: found by their labels, built, imported, removed.

Requests go through the engine adapter's client and its `mapped` (the one place the SDK's
exceptions become `EngineError`s); this module never imports the SDK itself. Podman keeps
unqualified names under `localhost/`, and its compat import ignores the name it is given
and makes one of its own: `ref` and `import_rootfs` say so once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any

from mcp_lok.launcher import engine as adapter
from mcp_lok.launcher.engine import EngineClient, EngineError, NotFound, mapped
from mcp_lok.launcher.errors import LokError
from mcp_lok.policy import Engine


def client(choice: str | None) -> EngineClient:
    """The engine `choice` names (or the one found), as a client that builds images."""
    found = adapter.discover(choice)
    if not isinstance(found, EngineClient):  # `discover` finds only clients; tests fake it
        raise LokError("this engine cannot build images")
    return found


def ref(engine: EngineClient, repository: str, tag: str) -> str:
    """How `engine` names `repository:tag` so that it never looks at a registry."""
    return (
        f"localhost/{repository}:{tag}" if engine.kind is Engine.PODMAN else f"{repository}:{tag}"
    )


def inspect(engine: EngineClient, image: str) -> dict[str, Any] | None:
    """The engine's inspect of `image`, None when it has no such image."""
    try:
        with mapped(f"inspect the image `{image}`"):
            return dict(engine.api.inspect_image(image))
    except NotFound:
        return None


def labelled(engine: EngineClient, label: str) -> list[dict[str, Any]]:
    """Every image that carries the label key `label`, whatever its value."""
    with mapped("list images"):
        found = engine.api.images(filters={"label": [label]})
    return [dict(i) for i in found if label in (i.get("Labels") or {})]


def build(engine: EngineClient, context: IO[bytes], tag: str, args: dict[str, str]) -> str:
    """Build the tar `context` (a Dockerfile and the files it copies) as `tag`, with no
    network (`networkmode=none`) and no pull: the base is local; `args` are its build
    arguments. Returns the image's id."""
    with mapped(f"build the image `{tag}`"):
        for event in engine.api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            buildargs=args,
            network_mode="none",
            pull=False,
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "error" in event:
                raise EngineError(f"the engine could not build `{tag}`: {event['error']!s}")
    return engine.image_id(tag)


def import_rootfs(
    engine: EngineClient, tar: str, repository: str, tag: str, changes: Sequence[str]
) -> str:
    """Import the root filesystem `tar` as `repository:tag` with the image config
    `changes`; tagged afterwards, since Podman's compat import ignores the name."""
    name = ref(engine, repository, tag)
    with mapped(f"import `{name}`"):
        out = str(
            engine.api.import_image(src=tar, repository=repository, tag=tag, changes=list(changes))
        )
        lines = out.strip().splitlines()
        found = json.loads(lines[-1]) if lines else {}
        image = str(found.get("id") or found.get("status") or "")
        if not image.startswith("sha256:"):
            raise EngineError(f"the engine did not import `{name}`: {out.strip()[:200]}")
        repo, _, tagged = name.rpartition(":")
        engine.api.tag(image, repo, tagged)
        # Podman 4.3's compat import names what it imported `docker.io/REPOSITORY:latest`
        # on its own: a name that is no registry's to hold a local image, so it goes
        stray = f"docker.io/{repository}:latest"
        if engine.kind is Engine.PODMAN and stray in (inspect(engine, image) or {}).get(
            "RepoTags", []
        ):
            engine.api.remove_image(stray)
    return image


def remove(engine: EngineClient, image: str) -> None:
    """Remove the image's tag (its layers when no other tag holds them)."""
    with mapped(f"remove the image `{image}`"):
        engine.api.remove_image(image)
