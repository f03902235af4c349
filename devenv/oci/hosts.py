"""How to reach a registry host: scheme, TLS trust, mirrors.

Settings come from ``registries.json`` — the first found of ``$DEVENV_REGISTRIES_CONFIG``,
``<data root>/registries.json``, ``/etc/devenv/registries.json``::

    {
      "insecure": ["build-box:5000"],                  # plain HTTP allowed, TLS not verified
      "mirrors": {"docker.io": ["http://127.0.0.1:5000"]}   # tried in order before the host itself (pull only)
    }

CA certificates and client certificates follow Docker's ``certs.d`` convention: ``<dir>/<host>/*.crt``
(trusted CAs), ``<dir>/<host>/*.cert`` + ``*.key`` (client certificate), looked up in
``<data root>/certs.d``, ``/etc/devenv/certs.d``, ``/etc/docker/certs.d`` and ``/etc/containers/certs.d``.
Loopback hosts (``localhost``, ``127.0.0.0/8``, ``::1``) may use plain HTTP when HTTPS is not answered,
as Docker allows; TLS, when used, is always verified unless the host is listed as insecure.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.errors import ConfigError
from devenv.fsutil import read_json
from devenv.oci.reference import DEFAULT_DOMAIN
from devenv.paths import data_root

DOCKER_HUB_ENDPOINT = "registry-1.docker.io"


def config_paths() -> list[Path]:
    env = os.environ.get("DEVENV_REGISTRIES_CONFIG")
    if env:
        return [Path(env)]
    return [data_root() / "registries.json", Path("/etc/devenv/registries.json")]


def certs_dirs() -> list[Path]:
    return [
        data_root() / "certs.d",
        Path("/etc/devenv/certs.d"),
        Path("/etc/docker/certs.d"),
        Path("/etc/containers/certs.d"),
    ]


def is_loopback(host: str) -> bool:
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HostConfig:
    """Everything needed to talk to one registry host."""

    host: str  # as in references: 127.0.0.1:5000, docker.io
    endpoint: str  # host[:port] to connect to (docker.io → registry-1.docker.io)
    insecure: bool = False  # allow HTTP, do not verify TLS
    allow_http: bool = False  # may fall back to HTTP (loopback or insecure)
    ca_files: tuple[Path, ...] = ()
    client_cert: tuple[Path, Path] | None = None
    mirrors: tuple[str, ...] = ()  # base URLs (scheme://host[:port]) tried first, for pulls


@dataclass(frozen=True)
class RegistriesConfig:
    insecure: frozenset[str] = frozenset()
    mirrors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: Path | None = None

    @classmethod
    def load(cls) -> RegistriesConfig:
        for path in config_paths():
            if path.is_file():
                return cls.parse(_read(path), path)
        return cls()

    @classmethod
    def parse(cls, obj: Any, source: Path | None = None) -> RegistriesConfig:
        if not isinstance(obj, dict):
            raise ConfigError("expected a JSON object", path=source)
        insecure = obj.get("insecure", [])
        mirrors = obj.get("mirrors", {})
        if not isinstance(insecure, list) or not all(isinstance(h, str) for h in insecure):
            raise ConfigError("expected a list of host names", path=source, pointer="insecure")
        if not isinstance(mirrors, dict) or not all(
            isinstance(v, list) and all(isinstance(u, str) for u in v) for v in mirrors.values()
        ):
            raise ConfigError("expected an object of host → list of mirror URLs", path=source, pointer="mirrors")
        for host, urls in mirrors.items():
            for url in urls:
                if not url.startswith(("http://", "https://")):
                    raise ConfigError(
                        f"mirror URL must start with http:// or https://, got {url!r}",
                        path=source,
                        pointer=f"mirrors.{host}",
                    )
        return cls(
            frozenset(insecure),
            {str(h): tuple(u.rstrip("/") for u in v) for h, v in mirrors.items()},
            source,
        )

    def host(self, host: str) -> HostConfig:
        endpoint = DOCKER_HUB_ENDPOINT if host == DEFAULT_DOMAIN else host
        insecure = host in self.insecure or endpoint in self.insecure
        ca_files: list[Path] = []
        client_cert = None
        for base in certs_dirs():
            d = base / host
            if not d.is_dir():
                continue
            ca_files += sorted(d.glob("*.crt"))
            for cert in sorted(d.glob("*.cert")):
                key = cert.with_suffix(".key")
                if key.is_file() and client_cert is None:
                    client_cert = (cert, key)
        return HostConfig(
            host=host,
            endpoint=endpoint,
            insecure=insecure,
            allow_http=insecure or is_loopback(endpoint),
            ca_files=tuple(ca_files),
            client_cert=client_cert,
            mirrors=self.mirrors.get(host, ()),
        )


def _read(path: Path) -> Any:
    try:
        return read_json(path)
    except ValueError as exc:
        raise ConfigError(f"not valid JSON: {exc}", path=path) from None
