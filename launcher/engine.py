"""The engine adapter: the one module that imports `docker` (ruff's TID251 keeps it so).

Finds the engine (Docker or Podman, through its Docker-compatible Unix socket), identifies
it from `GET /_ping`, and sends the plan's payloads to it exactly as compiled: the body
of `POST /containers/create` and `POST /networks/create` is `canonical_json(body)`, bytes
the launcher never rebuilds. Every `docker`/`requests` exception is mapped here, once, to
a `LokError` with a hint. What to create, and in which order, is the launch's business
(`launch.py`). The rest of the launcher depends on `ContainerEngine`, the adapter's
interface, which the unit tests' in-memory engine implements too (`tests/unit/launcher/
test_fakes.py` holds it to the same signatures).
"""

from __future__ import annotations

import os
import posixpath
import signal
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import docker  # noqa: TID251 - this is the engine adapter, the one module allowed
import requests

from mcp_lok.policy import Engine, canonical_json

from .errors import LokError
from .image_files import READER_LABEL, TAR_HEADERS, first_member, reader_body
from .sockets import START_HINT, candidates, identify_ping, named, socket_path

API_VERSION = "1.41"  # Docker 20.10's, and what Podman 4.3's compat API speaks
TIMEOUT = 30  # seconds for one request; `stop` adds its own grace period
PROBE_TIMEOUT = 3  # seconds for `GET /_ping` while looking for an engine
MAX_LINKS = 8  # symlinks followed inside an image while reading one of its files


class ContainerEngine(Protocol):
    """What the launcher asks of an engine: payloads sent unchanged, containers and
    networks found by label, an image's files read without running it."""

    kind: Engine
    url: str

    @property
    def engine_version(self) -> str: ...

    def create_container(self, name: str, body: Mapping[str, Any]) -> str: ...

    def create_network(self, body: Mapping[str, Any]) -> str: ...

    def start(self, container: str) -> None: ...

    def stop(self, container: str, timeout: int = 5) -> None: ...

    def remove_container(self, container: str) -> None: ...

    def inspect(self, container: str) -> dict[str, Any] | None: ...

    def containers(self, labels: Mapping[str, str]) -> list[dict[str, Any]]: ...

    def logs(
        self,
        container: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
        since: datetime | None = None,
    ) -> Iterator[bytes]: ...

    def networks(self, labels: Mapping[str, str]) -> list[dict[str, Any]]: ...

    def inspect_network(self, network: str) -> dict[str, Any] | None: ...

    def image_config(self, image: str) -> dict[str, Any] | None: ...

    def remove_network(self, network: str) -> None: ...

    def image_id(self, image: str) -> str: ...

    def read_image_files(
        self, image_id: str, paths: Sequence[str], limit: int
    ) -> dict[str, bytes]: ...

    def require_image(self, image: str) -> None: ...


class EngineError(LokError):
    """The engine refused a request, or did not answer."""

    def __init__(self, message: str, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class NotFound(EngineError):
    """The engine has no such container, network or image (HTTP 404)."""


class Conflict(EngineError):
    """A name is taken, or an object is in use (HTTP 409)."""


def discover(
    choice: str | None = None, environ: Mapping[str, str] | None = None
) -> ContainerEngine:
    """The engine CHOICE or the environment names, or else the first well-known one that
    answers `GET /_ping` (`sockets.candidates`). Raises `LokError` saying what was tried
    and how to start an engine. Every engine at once: `census.take`."""
    env = os.environ if environ is None else environ
    choice = named(choice, env)
    tried: list[str] = []
    for url in candidates(choice, env):
        path = socket_path(url)
        if not os.path.exists(path):
            tried.append(f"{path} (does not exist)")
            continue
        try:
            client = EngineClient.connect(url)
        except EngineError as error:
            tried.append(f"{path} ({error.message})")
            continue
        if choice in (Engine.DOCKER.value, Engine.PODMAN.value) and client.kind.value != choice:
            tried.append(f"{path} (is {client.kind.value}, not {choice})")
            continue
        return client
    what = f"the engine `{choice}` does not answer" if choice else "no container engine answers"
    raise LokError(f"{what}; tried {'; '.join(tried)}", hint=START_HINT)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while a create request is in flight: interrupted half-way, the
    engine could finish creating the object after the launcher's cleanup looked for it.
    A signal that arrives meanwhile is delivered as soon as the request returns."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def mapped(action: str) -> Iterator[None]:
    """Turn the SDK's and requests' exceptions into `EngineError`s, once, here."""
    try:
        yield
    except docker.errors.APIError as error:
        status = error.status_code
        reason = str(error.explanation or error).strip()
        missing = status == 404 or isinstance(error, docker.errors.NotFound)
        kind = NotFound if missing else Conflict if status == 409 else EngineError
        raise kind(f"the engine refused to {action}: {reason}", status=status) from error
    except requests.exceptions.ConnectionError as error:
        raise EngineError(f"cannot reach the engine to {action}", hint=START_HINT) from error
    except requests.exceptions.Timeout as error:
        raise EngineError(
            f"the engine did not answer in time to {action}",
            hint="the engine may be overloaded; check it with `docker info` or `podman info`",
        ) from error
    except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
        raise EngineError(f"cannot {action}: {error}") from error


@dataclass
class EngineClient:
    """One engine, reached through its socket."""

    kind: Engine
    url: str
    version: dict[str, Any]
    api: Any  # docker.APIClient (the SDK ships no type information mypy can use)

    @classmethod
    def connect(cls, url: str, timeout: int = PROBE_TIMEOUT) -> EngineClient:
        with mapped("report its version"):
            api: Any = docker.APIClient(base_url=url, version=API_VERSION, timeout=timeout)
            response = api._get(api._url("/_ping"))
            api._raise_for_status(response)
        api.timeout = TIMEOUT
        kind, version = identify_ping(response.headers)
        return cls(kind, url, version, api)

    @property
    def socket(self) -> str:
        return socket_path(self.url)

    @property
    def engine_version(self) -> str:
        return str(self.version.get("Version", "unknown"))

    # --- payloads, sent unchanged -------------------------------------------------------

    def _post_payload(self, path: str, body: Mapping[str, Any], params: dict[str, str]) -> Any:
        # INVARIANT: the bytes sent are the compiled payload's canonical JSON, nothing added
        data = canonical_json(body).encode()
        response = self.api._post(
            self.api._url(path),
            params=params,
            data=data,
            headers={"Content-Type": "application/json"},
        )
        return self.api._result(response, True)

    def create_container(self, name: str, body: Mapping[str, Any]) -> str:
        with uninterrupted(), mapped(f"create the container `{name}`"):
            result = self._post_payload("/containers/create", body, {"name": name})
        return str(result["Id"])

    def create_network(self, body: Mapping[str, Any]) -> str:
        with uninterrupted(), mapped(f"create the network `{body.get('Name')}`"):
            result = self._post_payload("/networks/create", body, {})
        return str(result["Id"])

    # --- containers -----------------------------------------------------------------------

    def start(self, container: str) -> None:
        with mapped(f"start the container `{container[:12]}`"):
            self.api.start(container)

    def stop(self, container: str, timeout: int = 5) -> None:
        """Stop a container; one that is already stopped or gone is fine."""
        try:
            with mapped(f"stop the container `{container[:12]}`"):
                self.api.stop(container, timeout=timeout)
        except NotFound:
            return
        except EngineError as error:
            if error.status != 304:  # "not modified": it was not running
                raise

    def remove_container(self, container: str) -> None:
        """Remove a container by id, forcibly; one that is gone already is fine."""
        try:
            with mapped(f"remove the container `{container[:12]}`"):
                self.api.remove_container(container, force=True, v=True)
        except NotFound:
            return

    def inspect(self, container: str) -> dict[str, Any] | None:
        try:
            with mapped(f"inspect the container `{container[:12]}`"):
                return dict(self.api.inspect_container(container))
        except NotFound:
            return None

    def containers(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every container (running or not) that carries all of `labels`."""
        filters = {"label": [f"{k}={v}" for k, v in sorted(labels.items())]}
        with mapped("list containers"):
            found = self.api.containers(all=True, filters=filters)
        return [dict(c) for c in found if _has_labels(c.get("Labels"), labels)]

    def logs(
        self,
        container: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        timestamps: bool = False,
        since: datetime | None = None,
    ) -> Iterator[bytes]:
        """The container's stdout and stderr, demultiplexed; with `follow`, until it stops;
        each line opening with the engine's stamp with `timestamps`; from `since` on."""
        with mapped(f"read the logs of `{container[:12]}`"):
            chunks = self.api.logs(
                container,
                stream=True,
                follow=follow,
                tail="all" if tail is None else tail,
                timestamps=timestamps,
                since=since,
            )
            yield from chunks

    # --- networks and images -------------------------------------------------------------

    def networks(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        filters = {"label": [f"{k}={v}" for k, v in sorted(labels.items())]}
        with mapped("list networks"):
            found = self.api.networks(filters=filters)
        return [dict(n) for n in found if _has_labels(n.get("Labels"), labels)]

    def inspect_network(self, network: str) -> dict[str, Any] | None:
        try:
            with mapped(f"inspect the network `{network[:40]}`"):
                return dict(self.api.inspect_network(network))
        except NotFound:
            return None

    def image_config(self, image: str) -> dict[str, Any] | None:
        """The image's `Config` (its environment, labels, user), None when it is gone."""
        try:
            with mapped(f"inspect the image `{image}`"):
                found = self.api.inspect_image(image)
        except NotFound:
            return None
        return dict(found.get("Config") or {})

    def remove_network(self, network: str) -> None:
        try:
            with mapped(f"remove the network `{network[:12]}`"):
                self.api.remove_network(network)
        except NotFound:
            return

    def image_id(self, image: str) -> str:
        """The id of the local `image`; a `LokError` with a hint when the engine lacks it."""
        try:
            with mapped(f"inspect the image `{image}`"):
                return str(self.api.inspect_image(image)["Id"])
        except NotFound:
            self.require_image(image)  # raises with the hint
            raise

    def read_image_files(self, image_id: str, paths: Sequence[str], limit: int) -> dict[str, bytes]:
        """The first `limit` bytes of each file `paths` names in the image, read without
        running it: a container is created from the image, never started (no command runs,
        no network, nothing mounted), each file is read through `GET /containers/{id}/archive`,
        and the container is removed. A symlink is followed inside the image, at most
        `MAX_LINKS` deep; a missing file, or one that is not a regular file, reads as empty.
        (Docker 20.10 answers a symlink with the link itself, Podman 4.3 with its target.)"""
        name = f"mcp-lok-reader-{os.urandom(6).hex()}"
        container = self.create_container(name, reader_body(image_id, name))
        try:
            return {path: self._read_file(container, path, limit) for path in paths}
        finally:
            self.remove_container(container)

    def _read_file(self, container: str, path: str, limit: int) -> bytes:
        for _ in range(MAX_LINKS + 1):
            member = self._archive_member(container, path, limit)
            if member is None or isinstance(member, bytes):
                return member or b""
            path = posixpath.normpath(posixpath.join(posixpath.dirname(path), member))
            path = "/" + path.lstrip("/")  # `normpath` keeps a leading `//`
        raise EngineError(
            f"`{path}` in the image is a chain of more than {MAX_LINKS} symlinks",
            hint="mcp-lok reads the image's /etc/passwd and /etc/group to resolve a user name; "
            "write the user as numbers (`user 1000:1000`) instead",
        )

    def _archive_member(self, container: str, path: str, limit: int) -> bytes | str | None:
        """The first `limit` bytes of the regular file at `path` (bytes), the target of the
        symlink at `path` (str), or None when `path` is missing or neither."""
        with mapped(f"read `{path}` from the image"):
            response = self.api._get(
                self.api._url("/containers/{0}/archive", container),
                params={"path": path},
                # Docker gzips the archive when asked to; plain bytes keep the bound exact
                headers={"Accept-Encoding": "identity"},
                stream=True,
            )
            try:
                if response.status_code == 404:
                    return None
                self.api._raise_for_status(response)
                data = response.raw.read(limit + TAR_HEADERS)
            finally:
                response.close()
        return first_member(data, limit)

    def require_image(self, image: str) -> None:
        """Raise a `LokError` with a hint when the engine does not have `image` locally."""
        try:
            with mapped(f"inspect the image `{image}`"):
                self.api.inspect_image(image)
        except NotFound:
            tool = self.kind.value
            raise LokError(
                f"the image `{image}` is not on {tool}",
                hint=f"pull it with `{tool} pull {image}`, or build it; mcp-lok never pulls "
                "an image itself",
            ) from None


def _has_labels(found: object, wanted: Mapping[str, str]) -> bool:
    # filters are applied by the engine; this re-checks them, since a label filter the
    # engine ignores would otherwise make `rm` touch containers that are not ours
    return isinstance(found, Mapping) and all(found.get(k) == v for k, v in wanted.items())


__all__ = [
    "READER_LABEL",
    "Conflict",
    "ContainerEngine",
    "EngineClient",
    "EngineError",
    "NotFound",
    "discover",
    "mapped",
]
