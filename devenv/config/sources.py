"""What ``read-configuration`` learns outside devcontainer.json: the workspace's container and the base
image's ``devcontainer.metadata`` label.

The reference asks the Docker engine for both. devenv asks the runtime the workspace uses: ``--runtime``,
else the one its state records (``devenv up --runtime docker``), else ``DEVENV_RUNTIME``, else devenv's
own (embedded) runtime, whose images are in devenv's image store. Containers are found as the
workspace commands find them (:func:`devenv.workspace.up.find_container`: by the id labels); images as
``up`` gets them (the store, pulling when missing; on Docker, :class:`devenv.workspace.images.DockerImages`).

Like the reference, the image is never built: for a Dockerfile config the label comes from the image the
Dockerfile starts ``FROM`` (build args and the target stage applied, stages followed), and feature
metadata comes from the features themselves.

Looking for a container costs little when devenv has no state for the workspace: the embedded runtime's
records are read as plain JSON, and the runtime is imported only when one has the workspace's labels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from devenv.config.readconf import WorkspaceContainer

if TYPE_CHECKING:
    from devenv.config.loader import LoadedConfig
    from devenv.events import Reporter
    from devenv.workspace.state import WorkspaceState

EMBEDDED = "embedded"
SCRATCH = "scratch"


class WorkspaceSources:
    """The container and image providers of :func:`devenv.config.readconf.read_configuration`.

    The runtime is chosen when the container is looked for (always first) and the image is then read
    from the same place.
    """

    def __init__(self, runtime: str | None = None, reporter: Reporter | None = None) -> None:
        self.requested = runtime
        self.runtime_name: str | None = None
        self.reporter = reporter

    # --- the container ---------------------------------------------------------------------------

    def find_container(self, labels: Mapping[str, str], container_id: str | None) -> WorkspaceContainer | None:
        """The container with ``container_id``, else the newest one with all of ``labels``."""
        from devenv.workspace import state as states
        from devenv.workspace.identity import workspace_key

        known = states.load(workspace_key(labels)) if labels else None
        name = self._runtime_name(known)
        if self.runtime_name is None:
            self.runtime_name = name
        if name == EMBEDDED and known is None and container_id is None and not _embedded_may_have(labels):
            return None
        from devenv.workspace.backends import open_runtime
        from devenv.workspace.up import find_container

        runtime = open_runtime(name)
        container = runtime.get(container_id) if container_id else find_container(runtime, labels, known)
        if container is None:
            return None
        return WorkspaceContainer(container.id, dict(container.labels), tuple(container.spec.env))

    def _runtime_name(self, known: WorkspaceState | None) -> str:
        if self.requested:
            from devenv.workspace.backends import check_name

            return check_name(self.requested)
        if known is not None and known.runtime:
            return known.runtime
        if self.runtime_name is not None:
            return self.runtime_name
        if os.environ.get("DEVENV_RUNTIME", "").strip() or not _embedded_available():
            from devenv.workspace.backends import default_runtime_name

            return default_runtime_name()
        return EMBEDDED

    # --- the image ---------------------------------------------------------------------------------

    def image_metadata(self, loaded: LoadedConfig) -> list[dict[str, Any]]:
        """The entries of the base image's ``devcontainer.metadata`` label (not substituted)."""
        from devenv.config.merge import parse_metadata_label

        ref = base_image_ref(loaded)
        if ref is None:
            return []
        return parse_metadata_label(self.image_labels(ref, str(loaded.config_folder)).get("devcontainer.metadata"))

    def image_labels(self, ref: str, config_folder: str) -> Mapping[str, str]:
        """The labels of image ``ref`` where the workspace's runtime keeps images (pulled when missing)."""
        from devenv.events import NULL

        reporter = self.reporter or NULL
        name = self.runtime_name or self._runtime_name(None)
        if name == "docker":
            from devenv.workspace.backends import open_runtime
            from devenv.workspace.images import DockerImages, ImageRequest

            request = ImageRequest(kind="image", image=ref, config_folder=config_folder)
            return DockerImages(open_runtime("docker")).prepare(request, reporter).labels
        from devenv.errors import ImageNotFound
        from devenv.store.store import Store

        try:
            return Store().image(ref).config.labels  # without the pull machinery when the store has it
        except ImageNotFound:
            from devenv.api import get_image

            return get_image(ref, reporter=reporter).config.labels


def _embedded_available() -> bool:
    """``devenv.workspace.backends.embedded_available`` without importing that module (and the runtime
    contract it brings: dataclasses) on read-configuration's path."""
    import importlib.util

    try:
        return importlib.util.find_spec("devenv.runtime.embedded.runtime") is not None
    except ImportError:
        return False


def _embedded_may_have(labels: Mapping[str, str]) -> bool:
    """Whether the embedded runtime may have a container with all ``labels``, read from the container
    records as plain JSON (the runtime, its dataclasses and the snapshot modules are not imported).
    A record of another shape counts as a candidate: the runtime itself then decides."""
    from devenv.runtime.embedded.layout import RECORD, containers_dir, read_json
    from devenv.workspace.state import data_root

    base = containers_dir(data_root())
    try:
        names = [name for name in os.listdir(base) if not name.startswith(".")]
    except OSError:
        return False
    for name in names:
        try:
            record = read_json(os.path.join(base, name, RECORD))
        except (OSError, ValueError):
            continue  # being created or removed: the runtime skips it too
        spec = record.get("spec") if isinstance(record, dict) else None
        found = spec.get("labels") if isinstance(spec, dict) else None
        if not isinstance(found, dict) or all(found.get(k) == v for k, v in labels.items()):
            return True
    return False


def base_image_ref(loaded: LoadedConfig) -> str | None:
    """The image whose label the reference reads: ``image``, or the one a Dockerfile config starts from.

    ``None`` when there is none to read (``FROM scratch``, a missing target stage, stages in a cycle).
    """
    config = loaded.config
    kind = config.kind
    if kind == "image":
        return config.image
    if kind == "dockerfile":
        assert config.build is not None and config.build.dockerfile is not None
        path = loaded.config_folder / config.build.dockerfile
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise loaded.error(
                ("build", "dockerfile") if "build" in loaded.data else "dockerFile",
                f"cannot read the Dockerfile {path}: {exc.strerror}",
                remedy="fix the Dockerfile path (it is relative to the folder of devcontainer.json)",
            ) from None
        args = {str(k): str(v) for k, v in (config.build.args or {}).items()}
        return dockerfile_base_image(text, str(path), args, config.build.target)
    from devenv.errors import ConfigError

    if kind == "compose":
        raise ConfigError(
            "the merged configuration of a Docker Compose config is not supported yet (it needs the "
            "service's image from the compose files)",
            path=str(loaded.config_path),
            remedy="leave out --include-merged-configuration for this config",
        )
    raise ConfigError(
        'the config has no "image", "build.dockerfile" or "dockerComposeFile": there is no image to merge with',
        path=str(loaded.config_path),
        remedy='add "image" or "build": {"dockerfile": ...} to devcontainer.json',
    )


def dockerfile_base_image(
    text: str, path: str, build_args: Mapping[str, str], target: str | None, platform: str | None = None
) -> str | None:
    """The image a Dockerfile's target stage (default: the last) is built on, following ``FROM <stage>``.

    ``FROM`` is expanded as Docker (and devenv's builder) does: with the global ``ARG``s before the first
    ``FROM`` (build args win over their defaults) and the automatic platform args.
    """
    from devenv.build import dockerfile as df
    from devenv.build.lexer import DockerfileError
    from devenv.build.plan import host_platform
    from devenv.build.planner import platform_args
    from devenv.build.shell_words import ExpansionError, Lexer

    parsed = df.parse(text, path=path)
    lexer = Lexer(escape=parsed.escape)
    values = dict(platform_args(platform or host_platform()))

    def expand(word: str, line: int) -> str:
        try:
            return lexer.process_word(word, values)
        except ExpansionError as exc:
            raise DockerfileError(str(exc), path=path, line=line) from None

    for arg in parsed.global_args:
        for name, default in arg.args:
            value = build_args.get(name)
            if value is None and default is not None:
                value = expand(default, arg.line)
            if value is not None:
                values[name] = value
    if target:
        stage = next((s for s in parsed.stages if s.source.name == target.lower()), None)
    else:
        stage = parsed.stages[-1] if parsed.stages else None
    seen: set[int] = set()
    while stage is not None and stage.index not in seen:
        seen.add(stage.index)
        ref = expand(stage.source.image, stage.source.line)
        parent = parsed.find_stage(ref, stage.index)
        if parent is None:
            return None if ref.lower() == SCRATCH or not ref else ref
        stage = parent
    return None
