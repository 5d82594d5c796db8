"""Test-side access to the real engines: find them, create containers from payloads
exactly as given, clean up by id. A missing engine fails the run in CI and skips locally."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest

SOCKETS = {"docker": "/var/run/docker.sock", "podman": "/run/podman/podman.sock"}
PROBE_IMAGE = "mcp-lok/base:latest"
# HostConfig fields the engine's inspect reports exactly as the create body set them
HARDENED_FIELDS = (
    "Memory",
    "MemorySwap",
    "NanoCpus",
    "PidsLimit",
    "ReadonlyRootfs",
    "Privileged",
    "NetworkMode",
    "Init",
)


def unavailable(reason: str) -> None:
    """In CI a missing engine or image is a failure, never a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI=true: engines must be set up by `make test`)")
    pytest.skip(reason)


@dataclass
class EngineUnderTest:
    name: str
    api: docker.APIClient
    created: list[str] = field(default_factory=list)

    def write_files(self, files: list[dict[str, str]]) -> None:
        for entry in files:
            path = Path(entry["path"])
            if entry["directory"]:
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(entry["content"])
            path.chmod(int(entry["mode"], 8))
            if entry["owner"]:
                uid, gid = (int(part) for part in entry["owner"].split(":"))
                os.chown(path, uid, gid)

    def create(self, body: dict[str, Any], name: str) -> str:
        """POST /containers/create with the body exactly as compiled."""
        created = self.api.create_container_from_config(body, name=name)
        self.created.append(created["Id"])
        return str(created["Id"])

    def run_to_end(self, container: str, timeout: int = 90) -> tuple[int, str, str]:
        self.api.start(container)
        status = self.api.wait(container, timeout=timeout)
        out = self.api.logs(container, stdout=True, stderr=False).decode()
        err = self.api.logs(container, stdout=False, stderr=True).decode()
        return int(status["StatusCode"]), out, err

    def inspect(self, container: str) -> dict[str, Any]:
        return dict(self.api.inspect_container(container))

    def update_memory(self, container: str, limit: int) -> None:
        """`docker update --memory`, or what `podman update --memory` sends: tampering
        behind mcp-lok's back, as someone with access to the engine would."""
        if self.name == "docker":
            self.api.update_container(container, mem_limit=limit)
            return
        # Podman 4.3's compat API has no `update`; its own API does (what `podman update` calls)
        response = self.api._post_json(
            f"{self.api.base_url}/v4.3.0/libpod/containers/{container}/update",
            data={"memory": {"limit": limit}},
        )
        self.api._raise_for_status(response)

    def cleanup(self) -> None:
        for container in self.created:
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(container, force=True)


def connect(name: str) -> EngineUnderTest:
    socket = SOCKETS[name]
    if not os.path.exists(socket):
        unavailable(f"{name} is not running ({socket} does not exist)")
    api = docker.APIClient(base_url=f"unix://{socket}", version="1.41", timeout=120)
    try:
        api.version()
    except Exception as error:  # any failure to answer means the engine is not usable
        unavailable(f"{name} does not answer on {socket}: {error}")
    try:
        api.inspect_image(PROBE_IMAGE)
    except docker.errors.ImageNotFound:
        unavailable(f"{PROBE_IMAGE} is missing on {name}; run `make images`")
    return EngineUnderTest(name, api)


def unique_name(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def parse_probe(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"the probe printed no report: {stdout!r}"
    return dict(json.loads(lines[-1]))
