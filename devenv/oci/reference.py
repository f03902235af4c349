"""Image references, parsed and normalised the way Docker does.

``debian`` → ``docker.io/library/debian:latest``; ``ghcr.io/o/r`` → ``ghcr.io/o/r:latest``;
``127.0.0.1:5000/busybox@sha256:…`` keeps its digest (and no default tag).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devenv.errors import UsageError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised image reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``domain/path`` (what ``docker images`` calls REPOSITORY)."""
        return f"{self.domain}/{self.path}"

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def familiar(self) -> str:
        """The short form Docker shows: ``debian:bookworm`` for ``docker.io/library/debian:bookworm``."""
        name = self.repository
        if self.domain == DEFAULT_DOMAIN:
            name = self.path[len(OFFICIAL_PREFIX) :] if self.path.startswith(OFFICIAL_PREFIX) else self.path
        out = name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise an image reference; raises UsageError with the rule that was broken."""
    raw = text.strip()
    if not raw:
        raise UsageError("empty image reference", remedy="give an image name such as debian:bookworm")
    name, digest = raw, None
    if "@" in raw:
        name, _, digest = raw.partition("@")
        if not _DIGEST_RE.match(digest):
            raise UsageError(f"invalid digest in image reference {text!r}: {digest!r}")
        if digest.startswith("sha256:") and not SHA256_RE.match(digest):
            raise UsageError(f"invalid sha256 digest in image reference {text!r} (expected 64 lowercase hex digits)")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise UsageError(f"invalid tag {tag!r} in image reference {text!r}")
    domain, path = _split_domain(name)
    if not _DOMAIN_RE.match(domain):
        raise UsageError(f"invalid registry host {domain!r} in image reference {text!r}")
    if path.lower() != path:
        raise UsageError(f"invalid image reference {text!r}: repository name must be lowercase")
    if not _PATH_RE.match(path):
        raise UsageError(
            f"invalid image reference {text!r}",
            remedy="a repository name is lowercase letters, digits and separators (. _ - /), e.g. debian:bookworm",
        )
    if len(f"{domain}/{path}") > 255:
        raise UsageError(f"invalid image reference {text!r}: repository name longer than 255 characters")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def normalise(text: str) -> str:
    """``debian`` → ``docker.io/library/debian:latest``."""
    return str(parse_reference(text))


def looks_like_reference(text: str) -> bool:
    try:
        parse_reference(text)
    except UsageError:
        return False
    return True
