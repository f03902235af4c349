"""Registry authentication: ``WWW-Authenticate`` challenges, Basic auth and the Bearer token flow.

The token flow (Docker Hub, GHCR, distribution's ``auth: token``): the registry answers 401 with
``Bearer realm=…,service=…,scope=…``; we ask the realm for a token for the scopes we need —
anonymously, with Basic credentials, or with an OAuth2 refresh token (identity token) — and send
``Authorization: Bearer <token>``. Tokens are cached per realm, service and scopes until they expire.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devenv.errors import AuthError, RegistryError
from devenv.oci.credentials import Credentials

if TYPE_CHECKING:
    import httpx

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenges(header: str) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` (possibly several challenges in one header)."""
    out: list[Challenge] = []
    rest = header.strip()
    while rest:
        m = re.match(r"([A-Za-z][A-Za-z0-9-]*)\s*", rest)
        if not m:
            break
        scheme = m.group(1).lower()
        rest = rest[m.end() :]
        params: dict[str, str] = {}
        while True:
            pm = _PARAM_RE.match(rest)
            if not pm:
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
            rest = rest[pm.end() :]
        out.append(Challenge(scheme, params))
        rest = rest.lstrip(", ")
    return out


def basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def repository_scope(path: str, actions: Sequence[str]) -> str:
    return f"repository:{path}:{','.join(actions)}"


class TokenCache:
    """Bearer tokens by (realm, service, scopes); thread-safe (parallel layer downloads share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, tuple[str, ...]], tuple[str, float]] = {}

    def get(self, key: tuple[str, str, tuple[str, ...]]) -> str | None:
        with self._lock:
            hit = self._tokens.get(key)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        return None

    def put(self, key: tuple[str, str, tuple[str, ...]], token: str, expires_in: float) -> None:
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(expires_in - 10.0, 5.0))


def fetch_token(
    client: httpx.Client,
    challenge: Challenge,
    scopes: Sequence[str],
    creds: Credentials | None,
    host: str,
) -> tuple[str, float]:
    """Ask the challenge's realm for a token; returns (token, lifetime seconds)."""
    import httpx

    realm = challenge.realm
    if not realm.startswith(("http://", "https://")):
        raise AuthError(f"registry {host} sent a Bearer challenge without a usable realm: {realm!r}")
    service = challenge.params.get("service", "")
    scope_list = list(scopes) or ([challenge.params["scope"]] if challenge.params.get("scope") else [])
    try:
        if creds is not None and creds.identity_token:
            data = {
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "service": service,
                "client_id": "devenv",
                "scope": " ".join(scope_list),
            }
            resp = client.post(realm, data=data)
        else:
            params: list[tuple[str, str | int | float | bool | None]] = [("service", service)] if service else []
            params += [("scope", s) for s in scope_list]
            headers = {}
            if creds is not None and creds.username:
                headers["Authorization"] = basic_header(creds)
                params.append(("account", creds.username))
            resp = client.get(realm, params=params, headers=headers)
    except httpx.HTTPError as exc:
        raise RegistryError(
            f"cannot reach the token service {realm} of registry {host}: {exc}",
            remedy="check the network path to the token service",
        ) from None
    if resp.status_code in (401, 403):
        who = f"as {creds.username!r}" if creds and creds.username else "anonymously"
        raise AuthError(
            f"the token service of {host} refused access {who} ({resp.status_code})",
            remedy=f"check the credentials for {host} in ~/.docker/config.json (docker login {host})",
        )
    if resp.status_code >= 400:
        raise RegistryError(f"the token service of {host} answered {resp.status_code}: {resp.text[:200]}")
    try:
        body: Any = resp.json()
        token = str(body.get("token") or body.get("access_token") or "")
        expires = float(body.get("expires_in") or 60)
    except (ValueError, AttributeError):
        raise RegistryError(f"the token service of {host} answered with something that is not JSON") from None
    if not token:
        raise RegistryError(f"the token service of {host} answered without a token")
    return token, expires
