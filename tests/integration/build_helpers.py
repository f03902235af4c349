"""Helpers of the build tests: publish devcontainer features to the local registry as OCI artifacts."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Mapping
from typing import Any

from devenv.store.artifacts import ArtifactLayer, push_artifact


def feature_tarball(files: Mapping[str, str]) -> bytes:
    """A gzipped tar of ``files``, byte-identical for identical input (mtime 0 everywhere)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def publish_feature(ref: str, metadata: Mapping[str, Any], install: str = "#!/bin/sh\nset -e\n") -> str:
    """Push a feature (``devcontainer-feature.json`` + ``install.sh``) to ``ref``; returns the manifest digest."""
    files = {"devcontainer-feature.json": json.dumps(metadata), "install.sh": install}
    layer = ArtifactLayer(
        data=feature_tarball(files),
        annotations={"org.opencontainers.image.title": f"devcontainer-feature-{metadata['id']}.tgz"},
    )
    return push_artifact(ref, [layer], annotations={"dev.containers.metadata": json.dumps(metadata)}).digest


def publish_versions(repository: str, feature_id: str, versions: Mapping[str, str], **extra: Any) -> dict[str, str]:
    """Publish ``{tag: version}`` (several tags may carry one version); returns ``{tag: digest}``."""
    digests = {}
    for tag, version in versions.items():
        metadata = {"id": feature_id, "version": version, "name": feature_id.title(), **extra}
        digests[tag] = publish_feature(f"{repository}:{tag}", metadata)
    return digests
