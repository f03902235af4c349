"""A small token server for distribution's ``auth: token`` (the Bearer flow Docker Hub and GHCR use).

It answers ``GET /token?service=…&scope=repository:NAME:ACTIONS`` with a JWT (ES256, ``x5c`` header
with the certificate the registry trusts via ``rootcertbundle``). Policy: anonymous clients may pull
repositories under ``public/``; known users (Basic credentials) may pull and push everything.
Every request is logged (``requests``) so tests can assert what clients asked for.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.registry import TLSFiles, free_port

ISSUER = "devenv-test-issuer"
SERVICE = "devenv-test-registry"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenRequest:
    account: str | None
    scopes: list[str]
    granted: list[dict[str, Any]]
    method: str = "GET"


@dataclass
class TokenServer:
    tls: TLSFiles  # the key signs tokens; the registry trusts the certificate
    users: dict[str, str]
    port: int = field(default_factory=free_port)
    requests: list[TokenRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_config(self) -> dict[str, str]:
        return {"realm": self.realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(self.tls.cert)}

    def sign(self, claims: dict[str, Any]) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        cert = x509.load_pem_x509_certificate(self.tls.cert.read_bytes())
        key = serialization.load_pem_private_key(self.tls.key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def grant(self, account: str | None, scope: str) -> dict[str, Any] | None:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind != "repository" or not name:
            return None
        wanted = [a for a in actions.split(",") if a]
        public = [a for a in wanted if a == "pull" and name.startswith("public/")]
        allowed = wanted if account is not None else public
        return {"type": "repository", "name": name, "actions": allowed}

    def issue(self, account: str | None, scopes: list[str], method: str = "GET") -> dict[str, Any]:
        granted = [g for g in (self.grant(account, s) for s in scopes) if g is not None]
        self.requests.append(TokenRequest(account, scopes, granted, method))
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": account or "",
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": granted,
        }
        token = self.sign(claims)
        return {
            "token": token,
            "access_token": token,
            "expires_in": 300,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def start(self) -> TokenServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _account(self) -> tuple[bool, str | None]:
                header = self.headers.get("Authorization", "")
                if not header:
                    return True, None
                if not header.startswith("Basic "):
                    return False, None
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return server.users.get(user) == password, user

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path != "/token":
                    self._reply(404, {"error": "not found"})
                    return
                ok, account = self._account()
                if not ok:
                    self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                    return
                query = parse_qs(url.query)
                scopes = [s for item in query.get("scope", []) for s in item.split(" ")]
                self._reply(200, server.issue(account, scopes))

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def start_token_server(workdir: Path, users: dict[str, str]) -> TokenServer:
    from tests.support.registry import make_self_signed_cert

    tls = make_self_signed_cert(workdir / "token-signing", hosts=("localhost",))
    return TokenServer(tls, users).start()
