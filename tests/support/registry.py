"""A real OCI registry (Debian's ``docker-registry``, distribution v2) on 127.0.0.1 for tests.

Three flavours: plain HTTP without auth, HTTPS with htpasswd basic auth (self-signed certificate
generated here), and HTTPS with ``auth: token`` pointing at a token server the caller runs.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGISTRY_BINARY = "docker-registry"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TLSFiles:
    cert: Path
    key: Path


def make_self_signed_cert(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TLSFiles:
    """A self-signed certificate valid for the given hosts (IP addresses and DNS names)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "devenv-test-registry")])
    alt: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TLSFiles(cert=directory / "cert.pem", key=directory / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    import bcrypt

    lines = [f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5)).decode()}" for u, p in users.items()]
    path.write_text("\n".join(lines) + "\n")


@dataclass
class Registry:
    """A running registry process. ``host`` is ``127.0.0.1:PORT`` (what image references use)."""

    workdir: Path
    port: int
    tls: TLSFiles | None = None
    users: dict[str, str] = field(default_factory=dict)
    token: dict[str, Any] | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def config_text(self) -> str:
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.workdir / 'data'}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
        ]
        if self.tls:
            lines += ["  tls:", f"    certificate: {self.tls.cert}", f"    key: {self.tls.key}"]
        if self.users:
            htpasswd = self.workdir / "htpasswd"
            write_htpasswd(htpasswd, self.users)
            lines += ["auth:", "  htpasswd:", "    realm: devenv-test", f"    path: {htpasswd}"]
        elif self.token:
            lines += ["auth:", "  token:"] + [f"    {k}: {v}" for k, v in self.token.items()]
        return "\n".join(lines) + "\n"

    def start(self) -> Registry:
        if shutil.which(REGISTRY_BINARY) is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yml"
        config.write_text(self.config_text())
        with open(self.workdir / "registry.log", "wb") as log:  # the child keeps its own copy of the fd
            self.proc = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"registry exited: {(self.workdir / 'registry.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("registry did not start listening within 20 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def get(self, path: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """Plain HTTP GET against an unauthenticated, non-TLS registry (for assertions in tests)."""
        req = urllib.request.Request(self.url + path)
        if accept:
            req.add_header("Accept", accept)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()


def start_registry(workdir: Path, **kwargs: Any) -> Registry:
    return Registry(workdir=workdir, port=free_port(), **kwargs).start()
