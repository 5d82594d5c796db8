"""Reading an image's files through the engine without running it: a container created and
never started, each file read from its archive (symlinks followed inside the image, within
bounds), the container removed whatever happens."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import docker
import pytest

from mcp_lok.launcher.engine import MAX_LINKS, READER_LABEL, EngineClient, EngineError
from mcp_lok.launcher.errors import LokError
from mcp_lok.policy import Engine


def archive(
    name: str, *, data: bytes = b"", link: str | None = None, folder: bool = False
) -> bytes:
    """An archive as the engines send one: the one member `path` names."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        if link is not None:
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
        elif folder:
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        else:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.asked: list[int] = []

    def read(self, amount: int) -> bytes:
        self.asked.append(amount)
        return self.data[:amount]


class Response:
    def __init__(self, status: int, data: bytes = b"") -> None:
        self.status_code = status
        self.raw = Raw(data)
        self.closed = False

    def close(self) -> None:
        self.closed = True


class ArchiveAPI:
    """What the adapter asks of docker-py: create, archive reads, remove."""

    def __init__(self, files: dict[str, bytes | int]) -> None:
        self.files = files  # path → archive bytes, or an HTTP status
        self.created: list[dict[str, Any]] = []
        self.removed: list[str] = []
        self.read: list[str] = []
        self.responses: list[Response] = []

    def _url(self, path: str, *args: str) -> str:
        return path.format(*args)

    def _post(self, url: str, params: Any, data: bytes, headers: dict[str, str]) -> bytes:
        self.created.append({"params": params, "body": json.loads(data)})
        return data

    def _result(self, response: bytes, as_json: bool) -> dict[str, str]:
        return {"Id": "reader1"}

    def _get(self, url: str, params: dict[str, str], headers: Any, stream: bool) -> Response:
        assert url == "/containers/reader1/archive"
        assert headers == {"Accept-Encoding": "identity"}  # never gzip: the bound is on bytes
        self.read.append(params["path"])
        found = self.files.get(params["path"], 404)
        response = Response(found, b"") if isinstance(found, int) else Response(200, found)
        self.responses.append(response)
        return response

    def _raise_for_status(self, response: Response) -> None:
        if response.status_code >= 400:
            raise docker.errors.APIError("refused", response=None, explanation="refused")

    def remove_container(self, container: str, force: bool, v: bool) -> None:
        assert force
        assert v  # anonymous volumes the image declares go too
        self.removed.append(container)


def read(files: dict[str, bytes | int], *paths: str, limit: int = 100) -> dict[str, bytes]:
    api = ArchiveAPI(files)
    client = EngineClient(Engine.DOCKER, "unix:///x.sock", {}, api)
    try:
        return client.read_image_files("sha256:abc", paths, limit)
    finally:
        assert api.removed == ["reader1"]  # whatever happened
        assert all(r.closed for r in api.responses)


def test_files_are_read_from_a_container_that_is_never_started() -> None:
    api = ArchiveAPI({"/etc/passwd": archive("passwd", data=b"app:x:1:1\n")})
    client = EngineClient(Engine.PODMAN, "unix:///x.sock", {}, api)
    assert client.read_image_files("sha256:abc", ["/etc/passwd", "/etc/group"], 100) == {
        "/etc/passwd": b"app:x:1:1\n",
        "/etc/group": b"",  # missing: no entries
    }
    (created,) = api.created
    body = created["body"]
    assert created["params"]["name"].startswith("mcp-lok-reader-")
    assert body["Image"] == "sha256:abc"
    assert body["Labels"] == {READER_LABEL: created["params"]["name"]}
    assert body["Entrypoint"] == ["/mcp-lok-never-started"]
    assert body["HostConfig"]["NetworkMode"] == "none"
    assert body["HostConfig"]["CapDrop"] == ["ALL"]
    assert body["HostConfig"]["Privileged"] is False
    assert "mcp-lok" not in body["Labels"]  # not a server: `list`, `rm` and the reaper skip it
    assert api.removed == ["reader1"]


def test_a_file_is_read_only_to_its_bound() -> None:
    api = ArchiveAPI({"/etc/passwd": archive("passwd", data=b"x" * 5000)})
    client = EngineClient(Engine.DOCKER, "unix:///x.sock", {}, api)
    assert client.read_image_files("sha256:abc", ["/etc/passwd"], 10) == {"/etc/passwd": b"x" * 10}
    assert max(api.responses[0].raw.asked) <= 10 + 64 * 1024


@pytest.mark.parametrize(
    ("link", "followed"),
    [
        ("../usr/share/acc/passwd", "/usr/share/acc/passwd"),
        ("/usr/share/acc/passwd", "/usr/share/acc/passwd"),
        ("//usr/share/acc/passwd", "/usr/share/acc/passwd"),
        ("../../../../usr/share/acc/passwd", "/usr/share/acc/passwd"),  # `..` stops at `/`
    ],
)
def test_a_symlink_is_followed_inside_the_image(link: str, followed: str) -> None:
    files: dict[str, bytes | int] = {
        "/etc/passwd": archive("passwd", link=link),
        followed: archive("passwd", data=b"linked:x:4242:4343\n"),
    }
    assert read(files, "/etc/passwd") == {"/etc/passwd": b"linked:x:4242:4343\n"}


def test_a_chain_of_symlinks_is_bounded() -> None:
    files: dict[str, bytes | int] = {
        f"/l{i}": archive(f"l{i}", link=f"/l{i + 1}") for i in range(MAX_LINKS + 2)
    }
    with pytest.raises(EngineError, match="a chain of more than 8 symlinks") as caught:
        read(files, "/l0")
    assert caught.value.hint


def test_a_symlink_loop_is_bounded() -> None:
    files: dict[str, bytes | int] = {"/etc/passwd": archive("passwd", link="passwd")}
    with pytest.raises(EngineError, match="symlinks"):
        read(files, "/etc/passwd")


@pytest.mark.parametrize(
    "served",
    [archive("passwd", folder=True), b"not an archive", b""],
)
def test_what_is_not_a_regular_file_reads_as_empty(served: bytes) -> None:
    assert read({"/etc/passwd": served}, "/etc/passwd") == {"/etc/passwd": b""}


def test_an_engine_error_is_mapped_and_the_container_still_removed() -> None:
    with pytest.raises(LokError, match="the engine refused to read `/etc/passwd` from the image"):
        read({"/etc/passwd": 500}, "/etc/passwd")


def test_the_image_id_of_a_missing_image_hints_at_building_it() -> None:
    class MissingImageAPI:
        def inspect_image(self, image: str) -> None:
            raise docker.errors.ImageNotFound("gone", response=None, explanation="gone")

    client = EngineClient(Engine.PODMAN, "unix:///x.sock", {}, MissingImageAPI())
    with pytest.raises(LokError, match="the image `a/b:1` is not on podman") as caught:
        client.image_id("a/b:1")
    assert caught.value.hint


def test_the_image_id_is_the_engines() -> None:
    class API:
        def inspect_image(self, image: str) -> dict[str, str]:
            return {"Id": "sha256:feed"}

    assert EngineClient(Engine.DOCKER, "unix:///x", {}, API()).image_id("a") == "sha256:feed"
