"""Registry mirrors (how machines without Docker Hub still resolve `debian`), and the bootstrap hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv.errors import RegistryError
from devenv.store.pull import PullOptions, pull
from devenv.store.store import Store
from tests.support import images
from tests.support.registry import Registry, free_port

pytestmark = pytest.mark.registry


def test_docker_hub_name_is_served_by_a_configured_mirror(
    devenv_root: Path, registry: Registry, busybox_layout: tuple[images.OCILayout, Path]
) -> None:
    images.skopeo_push(busybox_layout[0], f"{registry.host}/library/busybox:mirrored")
    (devenv_root / "registries.json").write_text(
        json.dumps({"mirrors": {"docker.io": [f"http://127.0.0.1:{free_port()}", registry.url]}})
    )  # the first mirror is down: the next one is tried
    image = pull(PullOptions("busybox:mirrored"))
    assert image.name == "docker.io/library/busybox:mirrored"
    assert Store().image("busybox:mirrored").digest == busybox_layout[0].manifest_digest


def test_unreachable_docker_hub_suggests_bootstrap(devenv_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Route HTTPS through a proxy that is not there: Docker Hub is unreachable, deterministically.
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_PROXY", "")
    with pytest.raises(RegistryError) as info:
        pull(PullOptions("debian:bookworm"))
    assert "cannot reach registry docker.io" in info.value.message
    assert "devenv image bootstrap debian:bookworm --suite bookworm" in (info.value.remedy or "")
    with pytest.raises(RegistryError) as info:
        pull(PullOptions("ubuntu:noble"))
    assert "devenv image bootstrap ubuntu:noble --suite noble" in (info.value.remedy or "")
