"""The image a workspace container is created from, on each backend.

:class:`PreparedImage` is what ``up`` needs of it: a reference the runtime understands, the image
config (user, env, entrypoint, cmd) and the ``devcontainer.metadata`` entries it carries.
The Docker backend pulls (``image``) or builds (``build.dockerfile``) with the engine; the embedded
backend asks devenv's own builder (:mod:`devenv.build`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from devenv.events import Reporter
from devenv.workspace.identity import METADATA_LABEL


@dataclass(frozen=True)
class PreparedImage:
    ref: str
    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def metadata(self) -> list[dict[str, Any]]:
        from devenv.config.merge import parse_metadata_label

        return parse_metadata_label(self.labels.get(METADATA_LABEL))


@dataclass(frozen=True)
class ImageRequest:
    """What to build or pull, from a loaded devcontainer.json."""

    kind: str  # "image" or "dockerfile"
    image: str | None
    config_folder: str
    dockerfile: str | None = None  # relative to the config folder
    context: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    build_options: tuple[str, ...] = ()
    features: bool = False  # the config (or --additional-features) has features
    tag: str = "devenv-workspace"  # the name given to a built image
    no_cache: bool = False
    workspace_folder: str | None = None
    config_file: str | None = None
    additional_features: Mapping[str, Any] | None = None
    inputs: str = ""  # digest of everything the image is built from; "" = unknown (always build)
    cache_file: str | None = None  # where the last build of this workspace is remembered
    no_lockfile: bool = False  # the features' lockfile is neither read nor written
    frozen_lockfile: bool = False  # the lockfile must exist and stay unchanged


class ImageSource(Protocol):
    def prepare(self, request: ImageRequest, reporter: Reporter) -> PreparedImage: ...


def from_docker_inspect(ref: str, info: Mapping[str, Any]) -> PreparedImage:
    config = info.get("Config") or {}
    return PreparedImage(
        ref=ref,
        user=config.get("User") or "",
        env=tuple(config.get("Env") or ()),
        entrypoint=tuple(config.get("Entrypoint") or ()),
        cmd=tuple(config.get("Cmd") or ()),
        labels=dict(config.get("Labels") or {}),
    )


def image_tag(basename: str, key: str) -> str:
    """A readable, valid image name for a workspace's built image (``devenv-<folder>-<id prefix>``)."""
    clean = re.sub(r"[^a-z0-9._-]+", "-", basename.lower()).strip("-._") or "workspace"
    return f"devenv-{clean}-{key[:12]}"


def build_in_store(request: ImageRequest, reporter: Reporter) -> PreparedImage:
    """Build (cached) the workspace image with devenv's own builder into the store.

    When the inputs are the same as for the image this workspace got last time and the store still
    has it, the builder is not even asked (its planning would only find every step cached).
    """
    import json

    from devenv.errors import ImageNotFound

    if request.inputs and request.cache_file and not request.no_cache:
        try:
            with open(request.cache_file, encoding="utf-8") as f:
                cached = json.load(f)
            if cached.get("inputs") == request.inputs and cached.get("tag") == request.tag:
                found = _cached_image(request.tag, cached.get("id"))
                if found is not None:
                    reporter.event("image.cached", image=request.tag, message=f"Using {request.tag} (up to date)")
                    return found
        except (OSError, ValueError, ImageNotFound):
            pass
    from devenv.build.builder import BuildOptions, build
    from devenv.store.store import Store

    result = build(
        BuildOptions(
            workspace_folder=request.workspace_folder,
            config=request.config_file,
            image_names=(request.tag,),
            no_cache=request.no_cache,
            additional_features=request.additional_features,
            no_lockfile=request.no_lockfile,
            frozen_lockfile=request.frozen_lockfile,
        ),
        reporter=reporter,
    )
    image = Store().image(result.image_names[0])
    if request.inputs and request.cache_file:
        from pathlib import Path

        from devenv.fsutil import atomic_write_json

        atomic_write_json(Path(request.cache_file), {"inputs": request.inputs, "tag": request.tag, "id": image.id})
    return from_oci_config(result.image_names[0], image.config.to_dict().get("config") or {})


def _cached_image(tag: str, image_id: str | None) -> PreparedImage | None:
    """The store's image ``tag`` if it is still ``image_id``: first through the runtime's lean lookup
    (the store's name records and the runtime's cache of what an image resolved to), else the store."""
    from devenv.paths import data_root_str
    from devenv.runtime.embedded.image_source import quick_lookup

    quick = quick_lookup(data_root_str(), tag)
    if quick is not None:
        if quick.image_id != image_id:
            return None
        return PreparedImage(
            ref=tag,
            user=quick.user,
            env=tuple(quick.env),
            entrypoint=tuple(quick.entrypoint),
            cmd=tuple(quick.cmd),
            labels=dict(quick.labels),
        )
    from devenv.store.store import Store

    image = Store().image(tag)
    return from_oci_config(tag, image.config.to_dict().get("config") or {}) if image.id == image_id else None


def from_oci_config(ref: str, config: Mapping[str, Any]) -> PreparedImage:
    return PreparedImage(
        ref=ref,
        user=config.get("User") or "",
        env=tuple(config.get("Env") or ()),
        entrypoint=tuple(config.get("Entrypoint") or ()),
        cmd=tuple(config.get("Cmd") or ()),
        labels=dict(config.get("Labels") or {}),
    )


class DockerImages:
    """Pull or build with the Docker engine the runtime talks to.

    Features are installed by devenv's own builder (the same layers as on the embedded runtime) and the
    result is loaded into the engine (``docker load``).
    """

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime  # a DockerRuntime

    def prepare(self, request: ImageRequest, reporter: Reporter) -> PreparedImage:
        if request.features:
            return self._with_features(request, reporter)
        if request.kind == "dockerfile":
            assert request.dockerfile is not None
            dockerfile = os.path.join(request.config_folder, request.dockerfile)
            context = os.path.join(request.config_folder, request.context or ".")
            reporter.event("image.build", image=request.tag, message=f"Building {request.tag} from {dockerfile}")
            info = self.runtime.build(
                context,
                dockerfile,
                request.tag,
                build_args=request.build_args,
                target=request.target,
                no_cache=request.no_cache,
                extra=request.build_options,
                on_output=lambda line: reporter.event("build.output", line=line, message=f"  {line}"),
            )
            return from_docker_inspect(request.tag, info)
        assert request.image is not None
        info = self.runtime.image_inspect(request.image)
        if info is None:
            reporter.event("image.pull", image=request.image, message=f"Pulling {request.image}")
            info = self.runtime.pull(request.image)
        return from_docker_inspect(request.image, info)

    def _with_features(self, request: ImageRequest, reporter: Reporter) -> PreparedImage:
        import tempfile

        from devenv.errors import ImageError
        from devenv.paths import data_root
        from devenv.store.save import save

        built = build_in_store(request, reporter)
        info = self.runtime.image_inspect(request.tag)
        if info is not None and info.get("Id") == _store_image_id(request.tag):
            return from_docker_inspect(request.tag, info)  # the engine has this very build already
        reporter.event("image.load", image=request.tag, message=f"Loading {request.tag} into the Docker engine")
        tmp_dir = data_root() / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=tmp_dir, suffix=".tar") as archive:
            save([request.tag], archive, format="docker")
            archive.flush()
            res = self.runtime.host.run([self.runtime.docker, "load", "--quiet", "--input", archive.name])
        if not res.ok:
            raise ImageError(f"loading {request.tag} into the Docker engine failed", detail=res.error_text())
        info = self.runtime.image_inspect(request.tag)
        return from_docker_inspect(request.tag, info) if info is not None else built


def _store_image_id(ref: str) -> str:
    from devenv.store.store import Store

    return Store().image(ref).id


class EmbeddedImages:
    """devenv's own store and builder (:mod:`devenv.build`): pulls, Dockerfiles and features, cached."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def prepare(self, request: ImageRequest, reporter: Reporter) -> PreparedImage:
        return build_in_store(request, reporter)
