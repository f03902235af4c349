"""Media types of OCI and Docker v2 schema 2 images, and what each one is."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

# Dev Container features are OCI artifacts with these types.
DEVCONTAINERS_CONFIG = "application/vnd.devcontainers"
DEVCONTAINERS_LAYER = "application/vnd.devcontainers.layer.v1+tar"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
IMAGE_CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)

# What we ask a registry for, most wanted first.
MANIFEST_ACCEPT = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)


def is_manifest(media_type: str) -> bool:
    return media_type in MANIFEST_TYPES


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def layer_compression(media_type: str) -> str | None:
    """``"gzip"``, ``"zstd"`` or ``""`` (uncompressed) for a layer media type; None when it is not a layer."""
    if media_type in (OCI_LAYER_GZIP, DOCKER_LAYER_GZIP, DOCKER_FOREIGN_LAYER_GZIP, OCI_LAYER_NONDIST_GZIP):
        return "gzip"
    if media_type == OCI_LAYER_ZSTD:
        return "zstd"
    if media_type in (OCI_LAYER, DOCKER_LAYER, OCI_LAYER_NONDIST):
        return ""
    return None


def is_layer(media_type: str) -> bool:
    return layer_compression(media_type) is not None


def layer_media_type(compression: str, *, docker: bool = False) -> str:
    """The layer media type for ``compression`` ("gzip", "zstd", ""), OCI unless ``docker``."""
    if docker:
        if compression == "zstd":
            raise ValueError("Docker v2 schema 2 has no zstd layer type")
        return DOCKER_LAYER_GZIP if compression == "gzip" else DOCKER_LAYER
    return {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "": OCI_LAYER}[compression]
