"""A registry client for the OCI distribution API v2 (httpx, thread-safe, one sync API).

``RegistryClient`` knows hosts (scheme, TLS, mirrors, credentials, tokens); ``Repository`` is one
repository on one endpoint and has the verbs: manifests (get/put/head), blobs (get with resume,
exists, mount, monolithic and chunked upload), tags. Every document is verified against its digest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO, Protocol

from devenv.errors import AuthError, ImageNotFound, RegistryError
from devenv.events import NULL, Reporter
from devenv.oci import mediatypes as mt
from devenv.oci.auth import Challenge, TokenCache, basic_header, fetch_token, parse_challenges, repository_scope
from devenv.oci.credentials import Credentials, CredentialStore
from devenv.oci.descriptor import Descriptor, sha256_digest
from devenv.oci.hosts import HostConfig, RegistriesConfig, is_loopback
from devenv.oci.manifest import sniff_media_type
from devenv.oci.reference import Reference

if TYPE_CHECKING:
    import httpx


class IngestTarget(Protocol):
    """Where ``fetch_blob`` writes (``devenv.store.blobs.Ingest`` or a wrapper around it)."""

    @property
    def offset(self) -> int: ...

    def write(self, data: bytes) -> None: ...

    def reset(self) -> None: ...

    def commit(self) -> object: ...


MAX_MANIFEST_BYTES = 4 << 20
RETRY_STATUS = (429, 500, 502, 503, 504)
USER_AGENT = "devenv (+https://github.com/devcontainers/spec)"
Progress = Callable[[int], None]  # called with the number of bytes just received / sent


def _http_failure(host: str, exc: Exception) -> RegistryError:
    text = str(exc) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return RegistryError(
            f"the TLS certificate of registry {host} is not trusted: {text}",
            remedy=f"put the registry's CA certificate in /etc/docker/certs.d/{host}/ca.crt "
            f'(or <devenv data root>/certs.d/{host}/ca.crt), or list {host} under "insecure" in registries.json',
        )
    return RegistryError(
        f"cannot reach registry {host}: {text}",
        remedy="check the registry address and the network (proxy settings: HTTPS_PROXY, NO_PROXY)",
    )


class RegistryClient:
    """Shared connection pools, endpoint probing, credentials and tokens for any number of repositories."""

    def __init__(
        self,
        *,
        config: RegistriesConfig | None = None,
        credentials: CredentialStore | None = None,
        timeout: float = 60.0,
        reporter: Reporter = NULL,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``transport``: an httpx transport to use instead of the network (tests: ``httpx.MockTransport``)."""
        self.transport = transport
        self.config = config or RegistriesConfig.load()
        self.credentials = credentials or CredentialStore()
        self.timeout = timeout
        self.reporter = reporter
        self.tokens = TokenCache()
        self._lock = threading.RLock()
        self._clients: dict[tuple[str, bool], httpx.Client] = {}
        self._bases: dict[str, str] = {}  # host or mirror URL → probed base URL
        self._challenges: dict[str, Challenge | None] = {}  # base URL → auth challenge from /v2/
        self._creds: dict[str, Credentials | None] = {}

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()

    # -- plumbing -------------------------------------------------------------------------------
    def http(self, hc: HostConfig) -> httpx.Client:
        import httpx

        key = (hc.host, hc.insecure)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                verify: bool | object = False if hc.insecure else _ssl_context(hc)
                client = httpx.Client(
                    verify=verify,  # type: ignore[arg-type]
                    timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 15.0)),
                    follow_redirects=True,
                    headers={"User-Agent": USER_AGENT},
                    limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
                    transport=self.transport,
                )
                self._clients[key] = client
            return client

    def creds(self, host: str) -> Credentials | None:
        with self._lock:
            if host not in self._creds:
                self._creds[host] = self.credentials.lookup(host)
            return self._creds[host]

    def base_url(self, hc: HostConfig, mirror: str | None = None) -> str:
        """Probe ``/v2/`` (HTTPS first; HTTP for loopback/insecure hosts) and remember the auth challenge."""
        import httpx

        key = mirror or hc.host
        with self._lock:
            if key in self._bases:
                return self._bases[key]
        https, http = f"https://{hc.endpoint}", f"http://{hc.endpoint}"
        if mirror:
            candidates = [mirror]
        elif is_loopback(hc.endpoint):
            # Local registries mostly speak plain HTTP (allowed on loopback): ask that first, saving a TLS
            # handshake; a TLS port answers 400 (or hangs up) and HTTPS — verified — is used.
            candidates = [http, https]
        else:
            candidates = [https] + ([http] if hc.allow_http else [])
        client = self.http(hc)
        error: Exception | None = None
        for i, base in enumerate(candidates):
            more = i + 1 < len(candidates)
            try:
                resp = client.get(f"{base}/v2/")
            except httpx.HTTPError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    raise _http_failure(hc.host, exc) from None
                error = error or exc
                continue
            if resp.status_code == 400 and base.startswith("http://") and more:
                continue  # we spoke HTTP to a TLS port
            challenge = None
            if resp.status_code == 401:
                found = parse_challenges(resp.headers.get("www-authenticate", ""))
                challenge = next((c for c in found if c.scheme == "bearer"), found[0] if found else None)
            with self._lock:
                self._bases[key] = base
                self._challenges[base] = challenge
            return base
        raise _http_failure(mirror or hc.host, error or RuntimeError("no usable endpoint"))

    def repository(self, ref: Reference, *, push: bool = False, mirror: str | None = None) -> Repository:
        hc = self.config.host(ref.domain)
        base = self.base_url(hc, mirror)
        actions = ("pull", "push") if push else ("pull",)
        return Repository(self, hc, base, ref.path, actions)

    def pull_candidates(self, ref: Reference) -> list[str | None]:
        """Mirror URLs to try for a pull, then None (the host itself)."""
        return [*self.config.host(ref.domain).mirrors, None]

    def authorization(self, hc: HostConfig, base: str, scopes: Sequence[str], force: bool = False) -> str | None:
        """The Authorization header for these scopes (token fetched and cached), or None when not needed."""
        with self._lock:
            challenge = self._challenges.get(base)
        if challenge is None:
            return None
        creds = self.creds(hc.host)
        if challenge.scheme == "basic":
            if creds is None or not creds.username:
                raise AuthError(
                    f"registry {hc.host} requires a login",
                    remedy=f"log in with `docker login {hc.host}` or add credentials to ~/.docker/config.json",
                )
            return basic_header(creds)
        if challenge.scheme != "bearer":
            raise AuthError(f"registry {hc.host} asks for unsupported authentication {challenge.scheme!r}")
        key = (challenge.realm, challenge.params.get("service", ""), tuple(sorted(scopes)))
        token = None if force else self.tokens.get(key)
        if token is None:
            token, expires = fetch_token(self.http(hc), challenge, scopes, creds, hc.host)
            self.tokens.put(key, token, expires)
        return f"Bearer {token}"

    def update_challenge(self, base: str, header: str) -> None:
        found = parse_challenges(header)
        if found:
            with self._lock:
                self._challenges[base] = next((c for c in found if c.scheme == "bearer"), found[0])


def _ssl_context(hc: HostConfig) -> object:
    import ssl

    ctx = ssl.create_default_context()
    for ca in hc.ca_files:
        ctx.load_verify_locations(cafile=str(ca))
    if hc.client_cert:
        ctx.load_cert_chain(str(hc.client_cert[0]), str(hc.client_cert[1]))
    return ctx


class Repository:
    """One repository on one endpoint: ``base/v2/<path>/...``."""

    def __init__(self, client: RegistryClient, hc: HostConfig, base: str, path: str, actions: Sequence[str]) -> None:
        self.client = client
        self.hc = hc
        self.base = base
        self.path = path
        self.scopes: list[str] = [repository_scope(path, actions)]

    @property
    def name(self) -> str:
        return f"{self.hc.host}/{self.path}"

    def url(self, tail: str) -> str:
        return f"{self.base}/v2/{self.path}/{tail}"

    # -- requests with auth and retries --------------------------------------------------------
    def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        stream: bool = False,
        scopes: Sequence[str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        import httpx

        http = self.client.http(self.hc)
        want = list(scopes or self.scopes)
        forced = False
        attempt = 0
        while True:
            attempt += 1
            hdrs = dict(headers or {})
            auth = self.client.authorization(self.hc, self.base, want, force=forced)
            if auth:
                hdrs["Authorization"] = auth
            try:
                request = http.build_request(method, url, headers=hdrs, content=content)
                resp = http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                if retry and attempt < 3 and method in ("GET", "HEAD"):
                    time.sleep(0.2 * attempt)
                    continue
                raise _http_failure(self.hc.host, exc) from None
            if resp.status_code == 401 and not forced and not isinstance(content, Iterator):
                header = resp.headers.get("www-authenticate", "")
                resp.close()
                if not header:
                    raise AuthError(f"registry {self.hc.host} refused access to {self.path} (401)")
                self.client.update_challenge(self.base, header)
                forced = True
                continue
            if resp.status_code in RETRY_STATUS and retry and attempt < 4 and method in ("GET", "HEAD"):
                resp.close()
                time.sleep(min(0.25 * 2**attempt, 4.0))
                continue
            return resp

    def _fail(self, resp: httpx.Response, what: str) -> RegistryError:
        if not resp.is_stream_consumed:
            resp.read()
        detail = resp.text[:300] if resp.content else ""
        if resp.status_code == 401:
            return AuthError(
                f"registry {self.hc.host} refused access to {self.path} while {what} (401 unauthorized)",
                remedy=f"check the credentials for {self.hc.host} (docker login {self.hc.host})",
                detail=detail,
            )
        if resp.status_code == 403:
            return AuthError(
                f"registry {self.hc.host} denied {what} in {self.path} (403 forbidden)",
                remedy="the account has no permission for this repository",
                detail=detail,
            )
        return RegistryError(f"registry {self.hc.host} answered {resp.status_code} while {what}", detail=detail)

    # -- manifests -----------------------------------------------------------------------------
    def get_manifest(self, reference: str, accept: Sequence[str] = mt.MANIFEST_ACCEPT) -> tuple[Descriptor, bytes]:
        """GET a manifest or index by tag or digest; returns its descriptor and the verified bytes."""
        resp = self.send("GET", self.url(f"manifests/{reference}"), headers={"Accept": ", ".join(accept)})
        if resp.status_code == 404:
            resp.close()
            raise ImageNotFound(
                f"{self.name}:{reference} not found in the registry"
                if ":" not in reference
                else f"{self.name}@{reference} not found in the registry",
                remedy="check the image name and tag (the registry has no manifest for it)",
            )
        if resp.status_code != 200:
            raise self._fail(resp, f"fetching manifest {reference}")
        data = resp.content
        if len(data) > MAX_MANIFEST_BYTES:
            raise RegistryError(f"manifest {self.name}:{reference} is larger than 4 MiB; refusing it")
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"registry {self.hc.host} served a manifest whose digest is {digest}, not {reference}")
        header = resp.headers.get("docker-content-digest", "")
        if header.startswith("sha256:") and header != digest:
            raise RegistryError(
                f"registry {self.hc.host} announced digest {header} for {reference} but the content is {digest}"
            )
        media_type = sniff_media_type(data, resp.headers.get("content-type", "").split(";")[0].strip())
        return Descriptor(media_type, digest, len(data)), data

    def head_manifest(self, reference: str) -> Descriptor | None:
        resp = self.send("HEAD", self.url(f"manifests/{reference}"), headers={"Accept": ", ".join(mt.MANIFEST_ACCEPT)})
        resp.close()
        if resp.status_code == 404:
            return None
        digest = resp.headers.get("docker-content-digest", "")
        if resp.status_code != 200 or not digest:
            return None
        return Descriptor(resp.headers.get("content-type", ""), digest, int(resp.headers.get("content-length", 0)))

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        resp = self.send("PUT", self.url(f"manifests/{reference}"), headers={"Content-Type": media_type}, content=data)
        if resp.status_code not in (200, 201, 202):
            raise self._fail(resp, f"pushing manifest {reference}")
        resp.close()
        return sha256_digest(data)

    def list_tags(self) -> list[str]:
        tags: list[str] = []
        url: str | None = self.url("tags/list")
        while url:
            resp = self.send("GET", url)
            if resp.status_code == 404:
                raise ImageNotFound(f"repository {self.name} not found in the registry")
            if resp.status_code != 200:
                raise self._fail(resp, "listing tags")
            tags += [str(t) for t in resp.json().get("tags") or []]
            link = resp.headers.get("link", "")
            url = None
            if link.startswith("<") and 'rel="next"' in link:
                url = self._absolute(link[1 : link.index(">")])
        return tags

    def _absolute(self, location: str) -> str:
        if location.startswith(("http://", "https://")):
            return location
        return self.base + (location if location.startswith("/") else "/" + location)

    # -- blobs -----------------------------------------------------------------------------------
    def get_blob_bytes(self, desc: Descriptor, limit: int = 64 << 20) -> bytes:
        """Fetch a small blob (config, feature metadata) into memory, verified."""
        if desc.size > limit:
            raise RegistryError(f"blob {desc.digest} is too large to fetch into memory ({desc.size} bytes)")
        resp = self.send("GET", self.url(f"blobs/{desc.digest}"))
        if resp.status_code == 404:
            resp.close()
            raise ImageNotFound(f"blob {desc.digest} not found in {self.name}")
        if resp.status_code != 200:
            raise self._fail(resp, f"fetching blob {desc.digest}")
        data = resp.content
        if sha256_digest(data) != desc.digest or len(data) != desc.size:
            raise RegistryError(
                f"registry {self.hc.host} served corrupted content for {desc.digest} "
                f"(got {sha256_digest(data)}, {len(data)} bytes)",
                remedy="nothing was stored; try again or report it to whoever runs the registry",
            )
        return data

    def fetch_blob(self, desc: Descriptor, ingest: IngestTarget, progress: Progress | None = None) -> None:
        """Stream a blob into an ingest, resuming from ``ingest.offset`` with a Range request; then commit."""
        import httpx

        failures = 0
        while True:
            headers = {"Range": f"bytes={ingest.offset}-"} if ingest.offset else {}
            resp = self.send("GET", self.url(f"blobs/{desc.digest}"), headers=headers, stream=True)
            try:
                if resp.status_code == 416 and ingest.offset:
                    ingest.reset()
                    continue
                if resp.status_code == 404:
                    raise ImageNotFound(f"blob {desc.digest} not found in {self.name}")
                if resp.status_code == 200:
                    if ingest.offset:
                        ingest.reset()  # the server ignored the Range: start over
                elif resp.status_code == 206:
                    start = resp.headers.get("content-range", "").removeprefix("bytes ").split("-")[0]
                    if not start.isdigit() or int(start) != ingest.offset:
                        ingest.reset()
                        continue
                else:
                    raise self._fail(resp, f"fetching blob {desc.digest}")
                if progress and ingest.offset:
                    progress(ingest.offset)
                try:
                    for chunk in resp.iter_raw():  # as received: nothing is lost if the connection drops
                        ingest.write(chunk)
                        if progress:
                            progress(len(chunk))
                except (httpx.TransportError, httpx.StreamError) as exc:
                    failures += 1
                    if failures > 3:
                        raise _http_failure(self.hc.host, exc) from None
                    continue  # resume from where we are
            finally:
                resp.close()
            ingest.commit()
            return

    def blob_exists(self, digest: str) -> bool:
        resp = self.send("HEAD", self.url(f"blobs/{digest}"))
        resp.close()
        if resp.status_code in (401, 403):
            raise self._fail(resp, f"checking blob {digest}")
        return resp.status_code == 200

    def mount_blob(self, digest: str, from_path: str) -> bool:
        """Cross-repository mount; True when the registry mounted it (no upload needed)."""
        scopes = [*self.scopes, repository_scope(from_path, ("pull",))]
        resp = self.send(
            "POST", self.url(f"blobs/uploads/?mount={digest}&from={from_path}"), content=b"", scopes=scopes
        )
        resp.close()
        if resp.status_code == 201:
            return True
        if resp.status_code == 202:
            self._cancel(resp.headers.get("location", ""))
            return False
        if resp.status_code in (401, 403):
            return False
        raise self._fail(resp, f"mounting blob {digest} from {from_path}")

    def _cancel(self, location: str) -> None:
        if location:
            self.send("DELETE", self._absolute(location), retry=False).close()

    def push_blob(
        self,
        desc: Descriptor,
        opener: Callable[[], BinaryIO],
        *,
        chunk_size: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Upload a blob: one PUT (monolithic), or PATCH chunks of ``chunk_size`` then PUT."""
        resp = self.send("POST", self.url("blobs/uploads/"), content=b"")
        resp.close()
        if resp.status_code != 202:
            raise self._fail(resp, f"starting the upload of {desc.digest}")
        location = self._absolute(resp.headers["location"])
        with opener() as f:
            if chunk_size is not None and desc.size > chunk_size:
                offset = 0
                while offset < desc.size:
                    chunk = f.read(chunk_size)
                    end = offset + len(chunk) - 1
                    resp = self.send(
                        "PATCH",
                        location,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Range": f"{offset}-{end}",
                            "Content-Length": str(len(chunk)),
                        },
                        content=chunk,
                    )
                    resp.close()
                    if resp.status_code != 202:
                        raise self._fail(resp, f"uploading a chunk of {desc.digest}")
                    location = self._absolute(resp.headers["location"])
                    offset += len(chunk)
                    if progress:
                        progress(len(chunk))
                body: bytes | Iterator[bytes] = b""
                headers = {"Content-Length": "0"}
            else:
                body = _read_chunks(f, progress)
                headers = {"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)}
            sep = "&" if "?" in location else "?"
            resp = self.send("PUT", f"{location}{sep}digest={desc.digest}", headers=headers, content=body)
        resp.close()
        if resp.status_code not in (201, 204):
            raise self._fail(resp, f"finishing the upload of {desc.digest}")


def _read_chunks(f: BinaryIO, progress: Progress | None) -> Iterator[bytes]:
    while chunk := f.read(1 << 20):
        if progress:
            progress(len(chunk))
        yield chunk
