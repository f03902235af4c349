"""Image references normalise exactly as Docker does (the names users type must mean the same image)."""

from __future__ import annotations

import pytest

from devenv.errors import UsageError
from devenv.oci.reference import parse_reference


@pytest.mark.parametrize(
    ("text", "normalised", "familiar"),
    [
        ("debian", "docker.io/library/debian:latest", "debian:latest"),
        ("debian:bookworm", "docker.io/library/debian:bookworm", "debian:bookworm"),
        ("library/debian:12", "docker.io/library/debian:12", "debian:12"),
        ("docker.io/debian", "docker.io/library/debian:latest", "debian:latest"),
        ("index.docker.io/library/debian", "docker.io/library/debian:latest", "debian:latest"),
        ("mcr.microsoft.com/devcontainers/base:ubuntu", "mcr.microsoft.com/devcontainers/base:ubuntu", None),
        ("ghcr.io/devcontainers/features/node:1", "ghcr.io/devcontainers/features/node:1", None),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("localhost/app", "localhost/app:latest", None),
        ("localhost:5000/app:v1", "localhost:5000/app:v1", None),
        ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest", None),
        ("[::1]:5000/app", "[::1]:5000/app:latest", None),
        ("a-b_c__d/x.y", "docker.io/a-b_c__d/x.y:latest", None),
    ],
)
def test_normalisation(text: str, normalised: str, familiar: str | None) -> None:
    ref = parse_reference(text)
    assert str(ref) == normalised
    if familiar:
        assert ref.familiar() == familiar


def test_digest_references_keep_the_digest_and_get_no_default_tag() -> None:
    digest = "sha256:" + "a" * 64
    ref = parse_reference(f"127.0.0.1:5000/busybox@{digest}")
    assert ref.tag is None and ref.digest == digest
    assert ref.reference == digest
    assert str(ref) == f"127.0.0.1:5000/busybox@{digest}"
    both = parse_reference(f"debian:12@{digest}")
    assert both.tag == "12" and both.reference == digest  # the digest wins when both are given


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Debian", "lowercase"),
        ("debian:", "tag"),
        ("debian:-x", "tag"),
        ("debian@sha256:abc", "sha256"),
        ("", "empty"),
        ("a//b", "invalid image reference"),
        ("debian@md5", "digest"),
    ],
)
def test_invalid_references_say_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_reference(text)
    assert why in info.value.message


def test_uppercase_registry_host_is_a_domain_not_a_path() -> None:
    # Docker: a first component with uppercase letters can only be a host name.
    assert parse_reference("MyRegistry/app").domain == "MyRegistry"
