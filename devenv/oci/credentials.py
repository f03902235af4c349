"""Registry credentials from Docker's ``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``).

Looked up in this order for a host: ``credHelpers[host]``, ``auths[host]`` (``auth`` = base64
``user:password``, or ``username``/``password``, or ``identitytoken``), then ``credsStore``. Helpers
are the ``docker-credential-<name>`` programs (``get`` with the server URL on stdin).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.errors import AuthError
from devenv.oci.reference import DEFAULT_DOMAIN

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth2 refresh token (docker login with a token-based flow)

    def __repr__(self) -> str:  # never print secrets
        return f"Credentials(username={self.username!r}, password=***)"


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _key_host(key: str) -> str:
    """``https://index.docker.io/v1/`` → ``docker.io``; ``http://h:5000/v2/`` → ``h:5000``."""
    host = key
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0]
    if host in ("index.docker.io", "registry-1.docker.io", "docker.io"):
        return DEFAULT_DOMAIN
    return host


def _server_url(host: str) -> str:
    return DOCKER_HUB_AUTH_KEY if host == DEFAULT_DOMAIN else host


class CredentialStore:
    """Reads ``config.json`` once; ``lookup(host)`` returns Credentials or None (anonymous)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or docker_config_path()
        self._config: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._config is None:
            try:
                obj = json.loads(self.path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                obj = {}
            except (OSError, ValueError) as exc:
                raise AuthError(
                    f"cannot read registry credentials from {self.path}: {exc}",
                    remedy="fix or remove that file (docker login rewrites it)",
                ) from None
            self._config = obj if isinstance(obj, dict) else {}
        return self._config

    def lookup(self, host: str) -> Credentials | None:
        cfg = self._load()
        helpers = cfg.get("credHelpers") or {}
        for key, helper in helpers.items():
            if _key_host(key) == host:
                return run_helper(str(helper), _server_url(host) if key != host else key)
        for key, entry in (cfg.get("auths") or {}).items():
            if _key_host(key) == host and isinstance(entry, dict):
                creds = _from_auth_entry(entry, key)
                if creds is not None:
                    return creds
        store = cfg.get("credsStore")
        if store:
            return run_helper(str(store), _server_url(host))
        return None


def _from_auth_entry(entry: dict[str, Any], key: str) -> Credentials | None:
    token = str(entry.get("identitytoken") or "")
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(str(entry["auth"])).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AuthError(
                f"the 'auth' entry for {key} in the Docker config is not base64 user:password",
                remedy="run `docker login` again for that registry",
            ) from None
        return Credentials(user, password, token)
    if entry.get("username") or token:
        return Credentials(str(entry.get("username") or ""), str(entry.get("password") or ""), token)
    return None


def run_helper(name: str, server_url: str) -> Credentials | None:
    """``docker-credential-<name> get``; None when the helper has nothing for this server."""
    program = f"docker-credential-{name}"
    try:
        proc = subprocess.run([program, "get"], input=server_url, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise AuthError(
            f"the credential helper {program} named in {docker_config_path()} is not installed",
            remedy=f"install {program}, or remove it from credsStore/credHelpers",
        ) from None
    except subprocess.TimeoutExpired:
        raise AuthError(f"the credential helper {program} did not answer within 60 s") from None
    if proc.returncode != 0:
        message = (proc.stdout + proc.stderr).strip()
        if "credentials not found" in message.lower():
            return None
        raise AuthError(f"the credential helper {program} failed: {message or f'exit {proc.returncode}'}")
    try:
        obj = json.loads(proc.stdout)
        user, secret = str(obj.get("Username", "")), str(obj.get("Secret", ""))
    except (ValueError, AttributeError):
        raise AuthError(f"the credential helper {program} printed something that is not JSON") from None
    if user == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(user, secret)
