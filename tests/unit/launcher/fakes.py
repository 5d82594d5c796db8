"""An in-memory engine that implements the adapter's interface (`engine.ContainerEngine`,
signature for signature: `test_fakes.py` checks it), and a launch prepared against it
without asking an engine (`prepared`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcp_lok.launcher import accounts
from mcp_lok.launcher.engine import NotFound
from mcp_lok.launcher.launch import Prepared, new_nonce, plan_launch
from mcp_lok.launcher.request import LaunchRequest
from mcp_lok.launcher.state import Store
from mcp_lok.policy import Engine, Host

# what the fake's images hold in their /etc/passwd and /etc/group
BASE_PASSWD = b"root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/nonexistent:/bin/sh\n"
BASE_GROUP = b"root:x:0:\nnogroup:x:65534:\ndocker:x:105:nobody\n"


@dataclass
class FakeEngine:
    kind: Engine = Engine.DOCKER
    url: str = "unix:///fake/docker.sock"
    containers_by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks_by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    # a container's output, as `logs` reads it
    output: dict[str, list[bytes]] = field(default_factory=dict)
    # image → its files, as `read_image_files` reads them
    image_files: dict[str, dict[str, bytes]] = field(
        default_factory=lambda: {
            "mcp-lok/mcp-server-time": {"/etc/passwd": BASE_PASSWD, "/etc/group": BASE_GROUP}
        }
    )
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add_container(
        self, name: str, labels: dict[str, str], created: float = 0.0, state: str = "running"
    ) -> str:
        cid = f"c{next(self._ids):063d}"
        self.containers_by_id[cid] = {
            "Id": cid,
            "Names": [f"/{name}"],
            "Labels": labels,
            "Created": created,
            "State": state,
        }
        return cid

    def add_network(self, name: str, labels: dict[str, str]) -> str:
        nid = f"n{next(self._ids):063d}"
        self.networks_by_id[nid] = {"Id": nid, "Name": name, "Labels": labels}
        return nid

    @property
    def engine_version(self) -> str:
        return "20.10.0"

    def create_container(self, name: str, body: Mapping[str, Any]) -> str:
        self.calls.append(("create", name))
        return self.add_container(name, dict(body.get("Labels", {})), state="created")

    def create_network(self, body: Mapping[str, Any]) -> str:
        self.calls.append(("network", body["Name"]))
        return self.add_network(body["Name"], dict(body["Labels"]))

    def start(self, container: str) -> None:
        self.calls.append(("start", container))
        self.containers_by_id[container]["State"] = "running"

    def stop(self, container: str, timeout: int = 5) -> None:
        self.calls.append(("stop", container))
        if container in self.containers_by_id:
            self.containers_by_id[container]["State"] = "exited"

    def remove_container(self, container: str) -> None:
        self.calls.append(("remove", container))
        self.containers_by_id.pop(container, None)

    def remove_network(self, network: str) -> None:
        self.calls.append(("remove-network", network))
        self.networks_by_id.pop(network, None)

    def inspect(self, container: str) -> dict[str, Any] | None:
        for found in self.containers_by_id.values():
            if container in (found["Id"], found["Names"][0][1:]):
                state = {
                    "Status": found["State"],
                    "Running": found["State"] == "running",
                    "ExitCode": found.get("ExitCode", 0),
                    "FinishedAt": found.get("FinishedAt", "0001-01-01T00:00:00Z"),
                }
                return {**found, "State": state}
        return None

    def exit(self, container: str, code: int, finished: str) -> None:
        """The container stops by itself, with `code`, at `finished` (RFC 3339)."""
        self.containers_by_id[container].update(State="exited", ExitCode=code, FinishedAt=finished)

    def inspect_network(self, network: str) -> dict[str, Any] | None:
        return self.networks_by_id.get(network)

    def image_config(self, image: str) -> dict[str, Any] | None:
        return {} if image in self.image_files else None

    def containers(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        return [
            c
            for c in self.containers_by_id.values()
            if all(c["Labels"].get(k) == v for k, v in labels.items())
        ]

    def networks(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        return [
            n
            for n in self.networks_by_id.values()
            if all(n["Labels"].get(k) == v for k, v in labels.items())
        ]

    def logs(
        self,
        container: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
        since: datetime | None = None,
    ) -> Iterator[bytes]:
        stamp = b"2026-12-07T21:00:00.123456789Z " if timestamps else b""
        return iter([stamp + chunk for chunk in self.output.get(container, [b"gate log\n"])])

    def image_id(self, image: str) -> str:
        self.require_image(image)
        return f"sha256:{sum(image.encode()):064x}"

    def read_image_files(self, image_id: str, paths: Sequence[str], limit: int) -> dict[str, bytes]:
        self.calls.append(("read-image", image_id))
        (files,) = [f for i, f in self.image_files.items() if self.image_id(i) == image_id]
        return {path: files.get(path, b"")[:limit] for path in paths}

    def require_image(self, image: str) -> None:
        if image not in ("mcp-lok/mcp-server-time", "mcp-lok/gate:latest", *self.image_files):
            raise NotFound(f"the image `{image}` is not on docker")


def prepared(
    store: Store,
    engine: FakeEngine,
    request: LaunchRequest,
    host: Host | None = None,
    launch: str | None = None,
) -> Prepared:
    """`request` compiled and lowered for `engine` (its kind) and `store` (its root), as
    `launch.prepare` does after it found the engine: the launch's own nonce, the user
    resolved from the fake image's accounts; no images or port checked, nothing reaped."""
    target = request.target(engine.kind, str(store.root), launch or new_nonce())
    source = request.source(store.layout(target.name).inline_profile)
    compiled, plan = plan_launch(
        request, source, target, lambda: accounts.read(engine, request.image, None), host=host
    )
    return Prepared(request, source, engine, store, compiled, plan, target, None)
