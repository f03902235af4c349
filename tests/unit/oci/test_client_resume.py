"""The registry client against scripted HTTP (httpx.MockTransport): dropped connections resume with
Range, servers that ignore Range restart cleanly, flaky 5xx answers are retried, digests are checked."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devenv.errors import RegistryError
from devenv.oci.client import RegistryClient
from devenv.oci.credentials import CredentialStore
from devenv.oci.descriptor import Descriptor
from devenv.oci.hosts import RegistriesConfig
from devenv.oci.reference import parse_reference
from devenv.store.blobs import BlobStore

BLOB = os.urandom(500_000)
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
DESC = Descriptor("application/octet-stream", DIGEST, len(BLOB))


class _Broken(httpx.SyncByteStream):
    """Sends ``data`` then fails like a dropped connection."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self.data
        raise httpx.ReadError("connection reset by peer")


def _body(data: bytes) -> httpx.ByteStream:
    """A response body that arrives as a stream, as from the network."""
    return httpx.ByteStream(data)


def _client(handler: httpx.MockTransport, tmp_path: Path) -> RegistryClient:
    return RegistryClient(
        config=RegistriesConfig(), credentials=CredentialStore(tmp_path / "none.json"), transport=handler
    )


def _fetch(client: RegistryClient, tmp_path: Path) -> bytes:
    blobs = BlobStore(tmp_path / "store")
    repo = client.repository(parse_reference("127.0.0.1:5000/app:1"))
    with blobs.ingest(DIGEST, len(BLOB)) as ing:
        assert ing is not None
        repo.fetch_blob(DESC, ing)
    return blobs.read_bytes(DIGEST)


def test_dropped_connection_resumes_with_range(tmp_path: Path) -> None:
    ranges: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        ranges.append(request.headers.get("range"))
        if len(ranges) == 1:
            return httpx.Response(200, stream=_Broken(BLOB[:200_000]))
        start = int(request.headers["range"].split("=")[1].rstrip("-"))
        return httpx.Response(
            206, stream=_body(BLOB[start:]), headers={"content-range": f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"}
        )

    assert _fetch(_client(httpx.MockTransport(handle), tmp_path), tmp_path) == BLOB
    assert ranges == [None, "bytes=200000-"]


def test_server_ignoring_range_restarts_from_zero(tmp_path: Path) -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        if request.url.path == "/v2/":
            return httpx.Response(200)
        calls += 1
        if calls == 1:
            return httpx.Response(200, stream=_Broken(BLOB[:100_000]))
        return httpx.Response(200, stream=_body(BLOB))  # no 206: the whole blob again

    assert _fetch(_client(httpx.MockTransport(handle), tmp_path), tmp_path) == BLOB


def test_flaky_5xx_is_retried_then_reported(tmp_path: Path) -> None:
    statuses = iter([503, 502, 200])

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        code = next(statuses)
        return httpx.Response(code, stream=_body(BLOB if code == 200 else b"busy"))

    assert _fetch(_client(httpx.MockTransport(handle), tmp_path), tmp_path) == BLOB

    def always_down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200) if request.url.path == "/v2/" else httpx.Response(503, stream=_body(b"down"))

    with pytest.raises(RegistryError) as info:
        _fetch(_client(httpx.MockTransport(always_down), tmp_path / "2"), tmp_path / "2")
    assert "503" in info.value.message


def test_manifest_digest_must_match_what_was_asked(tmp_path: Path) -> None:
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}'

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        return httpx.Response(200, content=body, headers={"content-type": "application/vnd.oci.image.manifest.v1+json"})

    repo = _client(httpx.MockTransport(handle), tmp_path).repository(parse_reference("127.0.0.1:5000/app:1"))
    with pytest.raises(RegistryError) as info:
        repo.get_manifest("sha256:" + "0" * 64)
    assert "digest" in info.value.message
    desc, data = repo.get_manifest("1")
    assert data == body and desc.digest == "sha256:" + hashlib.sha256(body).hexdigest()


def test_plain_http_only_for_loopback(tmp_path: Path) -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.port == 5443:  # a TLS registry on loopback: plain HTTP gets Go's 400
            if request.url.scheme == "http":
                return httpx.Response(400, stream=_body(b"Client sent an HTTP request to an HTTPS server.\n"))
            return httpx.Response(200)
        if request.url.scheme == "https":
            raise httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number")
        return httpx.Response(200)

    client = _client(httpx.MockTransport(handle), tmp_path)
    assert client.repository(parse_reference("127.0.0.1:5000/app:1")).base == "http://127.0.0.1:5000"
    assert client.repository(parse_reference("localhost:5443/app:1")).base == "https://localhost:5443"
    assert seen == ["http://127.0.0.1:5000/v2/", "http://localhost:5443/v2/", "https://localhost:5443/v2/"]
    seen.clear()
    with pytest.raises(RegistryError):  # anywhere else: HTTPS only
        client.repository(parse_reference("registry.example:5000/app:1"))
    assert seen and all(u.startswith("https://") for u in seen)
