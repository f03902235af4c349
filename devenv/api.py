"""The façade the CLI uses. Each function takes an options dataclass and returns a result dataclass.

The library never prints: progress goes to a :class:`devenv.events.Reporter`, results are returned.
Heavy modules are imported inside the functions so that importing ``devenv.api`` stays cheap.
Functions are added here by the issue that implements them (config, image, container, build,
workspace).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devenv.config.readconf import ReadConfigurationOptions, ReadConfigurationResult
    from devenv.events import Reporter


# --- config ---


def read_configuration(options: ReadConfigurationOptions, reporter: Reporter | None = None) -> ReadConfigurationResult:
    """``devenv read-configuration``: the config after substitution, in the reference's JSON shape; the
    workspace's container (if any) and base image are looked up where the workspace's runtime keeps them."""
    from devenv.config.readconf import read_configuration as _read_configuration
    from devenv.config.readconf import resolved_features
    from devenv.config.sources import WorkspaceSources

    sources = WorkspaceSources(options.runtime, reporter)
    return _read_configuration(
        options, features=resolved_features, image_metadata=sources.image_metadata, container=sources.find_container
    )


# --- images ---
# devenv's own image store (issue 4). Heavy modules load inside the functions.
# For the runtime: get_image(ref) → Image (.config: Env, Cmd, Entrypoint, User, WorkingDir, Labels,
# ExposedPorts, StopSignal); image_layers(image) → read-only Mounts, lowest first; lease_image/release_image
# so prune never removes what a container uses. For the builder: devenv.store.commit (layer_from_dir,
# layer_from_files, commit_image), devenv.store.artifacts (fetch_artifact, push_artifact).

if TYPE_CHECKING:
    from pathlib import Path
    from typing import IO, Any

    from devenv.events import Reporter
    from devenv.oci.descriptor import Descriptor
    from devenv.snapshots.base import Mount
    from devenv.store.bootstrap import BootstrapOptions
    from devenv.store.gc import PruneResult
    from devenv.store.load import LoadResult
    from devenv.store.pull import PullOptions
    from devenv.store.push import PushOptions
    from devenv.store.store import Image, ImageSummary


def _reporter(reporter: Reporter | None) -> Reporter:
    from devenv.events import NULL

    return reporter if reporter is not None else NULL


def pull_image(opts: PullOptions, reporter: Reporter | None = None) -> Image:
    from devenv.store.pull import pull

    return pull(opts, reporter=_reporter(reporter))


def get_image(
    ref: str, *, pull: str = "missing", platform: str | None = None, reporter: Reporter | None = None
) -> Image:
    """The image ``ref`` from the store; ``pull``: "missing" (pull when absent), "always", "never"."""
    from devenv.errors import ImageNotFound
    from devenv.oci.descriptor import Platform
    from devenv.store.pull import PullOptions
    from devenv.store.pull import pull as do_pull
    from devenv.store.store import Store

    store = Store()
    opts = PullOptions(ref, Platform.parse(platform) if platform else None)
    if pull == "always":
        return do_pull(opts, store=store, reporter=_reporter(reporter))
    try:
        return store.image(ref)
    except ImageNotFound:
        if pull == "never":
            raise
        return do_pull(opts, store=store, reporter=_reporter(reporter))


def image_layers(image: Image) -> list[Mount]:
    """Read-only bind mounts of the image's layers, lowest first (unpacks any layer not unpacked yet).

    Each ``Mount.source`` is a layer directory in overlayfs format; stack them with
    ``devenv.snapshots.snapshotter.overlay_mount([Path(m.source) for m in mounts], upper, work)``.
    """
    from devenv.store.store import Store

    return Store().layer_mounts(image)


def lease_image(owner: str, image: Image) -> None:
    """Record that ``owner`` (a container ID) uses ``image``: prune and rm keep it until released."""
    from devenv.store.store import Store

    Store().leases.add(owner, manifests=[image.digest], snapshots=image.chain_ids)


def release_image(owner: str) -> None:
    from devenv.store.store import Store

    Store().leases.release(owner)


def push_image(opts: PushOptions, reporter: Reporter | None = None) -> Descriptor:
    from devenv.store.push import push

    return push(opts, reporter=_reporter(reporter))


def list_images() -> list[ImageSummary]:
    from devenv.store.store import ImageSummary, Store, is_untagged

    out = []
    for image in Store().images():
        ref = image.reference
        if ref is None or is_untagged(image.name):
            repo, tag = "<none>", "<none>"
        else:
            familiar = ref.familiar()
            repo = familiar.split("@")[0].rsplit(":", 1)[0] if ref.tag else familiar.split("@")[0]
            tag = ref.tag or "<none>"
        out.append(
            ImageSummary(
                name=image.name if ref is not None else "",
                repository=repo,
                tag=tag,
                id=image.id,
                digest=image.target.digest,
                size=image.size,
                created=image.config.created,
                platform=str(image.config.platform),
            )
        )
    return out


def inspect_image(ref: str) -> dict[str, Any]:
    """Docker-like ``inspect`` output for an image in the store."""
    from devenv.oci.reference import parse_reference
    from devenv.store.store import Store, is_untagged

    store = Store()
    image = store.image(ref)
    names = [r.name for r in store.records.all() if r.manifest.digest == image.digest]
    tagged = [n for n in names if not is_untagged(n)]
    return {
        "Id": image.id,
        "RepoTags": [n for n in tagged if "@" not in n],
        "RepoDigests": sorted({f"{parse_reference(n).repository}@{image.target.digest}" for n in tagged}),
        "ManifestDigest": image.digest,
        "MediaType": image.descriptor.media_type,
        "Created": image.config.created,
        "Architecture": image.config.platform.architecture,
        "Os": image.config.platform.os,
        "Variant": image.config.platform.variant or None,
        "Size": image.size,
        "Config": dict(image.config.raw.get("config") or {}),
        "RootFS": {"Type": "layers", "Layers": image.diff_ids},
        "Layers": [layer.to_json() for layer in image.layers],
        "UsedBy": store.users_of(image),
    }


def remove_images(refs: list[str], *, force: bool = False) -> list[str]:
    """Remove names; content no image uses any more is freed at once when the store is idle."""
    import contextlib

    from devenv.errors import DevenvError
    from devenv.store.gc import prune
    from devenv.store.store import Store

    store = Store()
    removed: list[str] = []
    for ref in refs:
        removed += store.remove(ref, force=force)
    with contextlib.suppress(DevenvError):  # another devenv is pulling or building: the next prune frees it
        prune(store, timeout=0.5)
    return removed


def tag_image(src: str, dest: str) -> str:
    from devenv.store.store import Store

    return Store().tag(src, dest).name


def load_images(source: Path | IO[bytes], *, name: str | None = None, reporter: Reporter | None = None) -> LoadResult:
    from devenv.store.load import load

    return load(source, name=name, reporter=_reporter(reporter))


def save_images(
    refs: list[str], out: Path | IO[bytes], *, format: str = "docker", reporter: Reporter | None = None
) -> None:
    from devenv.store.save import save

    if format not in ("docker", "oci"):
        from devenv.errors import UsageError

        raise UsageError(f"unknown format {format!r}", remedy="use --format docker or --format oci")
    save(refs, out, format=format, reporter=_reporter(reporter))  # type: ignore[arg-type]


def bootstrap_image(opts: BootstrapOptions, reporter: Reporter | None = None) -> Image:
    from devenv.store.bootstrap import bootstrap

    return bootstrap(opts, reporter=_reporter(reporter))


def prune_images(*, dry_run: bool = False) -> PruneResult:
    from devenv.store.gc import prune
    from devenv.store.store import Store

    return prune(Store(), dry_run=dry_run)


# --- workspace ---
# devenv up / exec / shell / stop / down / rebuild / ls / logs / status / run-user-commands / set-up.

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from devenv.workspace.manage import DownResult, StopResult, WorkspaceInfo, WorkspaceRef
    from devenv.workspace.up import UpOptions, UpResult
    from devenv.workspace.usercommands import (
        RunUserCommandsOptions,
        SetUpOptions,
        SetUpResult,
        UserCommandsResult,
    )


def up(opts: UpOptions, reporter: Reporter | None = None) -> UpResult:
    """``devenv up``: the workspace's container running and set up (created, started or as it is)."""
    from devenv.workspace.up import up as _up

    return _up(opts, _reporter(reporter))


def rebuild(opts: UpOptions, reporter: Reporter | None = None) -> UpResult:
    """``devenv rebuild``: a new container (and image, rebuilt from the config) for the workspace."""
    from dataclasses import replace

    from devenv.workspace.up import up as _up

    return _up(replace(opts, remove_existing_container=True), _reporter(reporter))


def exec_in_workspace(
    argv: Sequence[str],
    *,
    workspace_folder: str | None = None,
    config: str | None = None,
    id_labels: Sequence[str] = (),
    remote_env: dict[str, str] | None = None,
    tty: bool | None = None,
) -> int:
    """``devenv exec``: run ``argv`` in the workspace (the caller's stdio); returns its exit code."""
    from devenv.workspace.access import resolve_target, run

    return run(resolve_target(workspace_folder, config, id_labels), argv, tty=tty, remote_env=remote_env)


def shell_in_workspace(
    workspace_folder: str | None = None, config: str | None = None, id_labels: Sequence[str] = ()
) -> int:
    """``devenv shell``: the remote user's login shell in the workspace folder."""
    from devenv.workspace.access import resolve_target, run

    return run(resolve_target(workspace_folder, config, id_labels), [], login_shell=True)


def stop_workspace(ref: WorkspaceRef, *, force: bool = False, reporter: Reporter | None = None) -> StopResult:
    from devenv.workspace.manage import stop

    return stop(ref, force=force, reporter=_reporter(reporter))


def down_workspace(ref: WorkspaceRef, *, volumes: bool = False, reporter: Reporter | None = None) -> DownResult:
    from devenv.workspace.manage import down

    return down(ref, volumes=volumes, reporter=_reporter(reporter))


def list_workspaces(runtimes: Sequence[str] | None = None) -> list[WorkspaceInfo]:
    from devenv.workspace.manage import ls

    return ls(runtimes)


def workspace_status(ref: WorkspaceRef) -> WorkspaceInfo:
    from devenv.workspace.manage import status

    return status(ref)


def workspace_logs(ref: WorkspaceRef, *, follow: bool = False) -> Iterator[bytes]:
    from devenv.workspace.manage import logs

    return logs(ref, follow=follow)


def run_user_commands(opts: RunUserCommandsOptions, reporter: Reporter | None = None) -> UserCommandsResult:
    from devenv.workspace.usercommands import run_user_commands as _run

    return _run(opts, _reporter(reporter))


def set_up(opts: SetUpOptions, reporter: Reporter | None = None) -> SetUpResult:
    from devenv.workspace.usercommands import set_up as _set_up

    return _set_up(opts, _reporter(reporter))


# --- containers ---
# devenv's own container runtime (issue 5): `devenv container ...` and `devenv volume ...`.
# The Runtime itself is devenv.runtime.embedded.runtime.EmbeddedRuntime (the base.Runtime protocol plus
# start_attached, wait, log_records, rootfs_changes); these functions are what the CLI calls.

if TYPE_CHECKING:
    from devenv.runtime.base import Container, ExecIO, ExecSpec
    from devenv.runtime.embedded.run import RunOptions, RunResult
    from devenv.runtime.embedded.runtime import EmbeddedRuntime
    from devenv.runtime.embedded.volumes import Volume


def container_runtime(reporter: Reporter | None = None) -> EmbeddedRuntime:
    from devenv.runtime.embedded.runtime import EmbeddedRuntime

    return EmbeddedRuntime(reporter=_reporter(reporter))


def run_container(opts: RunOptions, reporter: Reporter | None = None) -> RunResult:
    """``devenv container run``: create and start; attached (the caller's stdio) unless ``opts.detach``."""
    from devenv.runtime.embedded import run

    return run.run(container_runtime(reporter), opts)


def create_container(opts: RunOptions, reporter: Reporter | None = None) -> Container:
    from devenv.runtime.embedded import run

    return run.create(container_runtime(reporter), opts)


def start_container(id_or_name: str, reporter: Reporter | None = None) -> Container:
    return container_runtime(reporter).start(id_or_name)


def stop_container(id_or_name: str, timeout: float | None = None, reporter: Reporter | None = None) -> Container:
    return container_runtime(reporter).stop(id_or_name, timeout)


def remove_container(
    id_or_name: str, *, force: bool = False, volumes: bool = False, reporter: Reporter | None = None
) -> None:
    container_runtime(reporter).remove(id_or_name, force=force, volumes=volumes)


def list_containers(*, all: bool = False, labels: dict[str, str] | None = None) -> list[Container]:
    return container_runtime().list(labels, all=all)


def get_container(id_or_name: str) -> Container:
    return container_runtime().get(id_or_name)


def exec_in_container(id_or_name: str, spec: ExecSpec, io: ExecIO | None = None, *, detach: bool = False) -> int:
    """Run a process in a running container (the caller's stdio unless ``io``); its exit code.
    ``detach``: return once it runs (its output is discarded)."""
    from devenv.paths import data_root
    from devenv.runtime.embedded import exec as exec_mod

    return exec_mod.exec_command(str(data_root()), id_or_name, spec, io, detach=detach)  # lean: no runtime import


def container_logs(id_or_name: str, *, follow: bool = False) -> Iterator[tuple[int, float, bytes]]:
    """``(stream, unix time, data)`` records; stream 1 = stdout, 2 = stderr. ``follow``: until it stops."""
    return container_runtime().log_records(id_or_name, follow=follow)


def inspect_container(id_or_name: str) -> dict[str, Any]:
    """Docker-like ``inspect`` output."""
    from devenv.runtime.embedded.inspect import inspect

    return inspect(container_runtime(), id_or_name)


def list_volumes() -> list[Volume]:
    from devenv.paths import data_root
    from devenv.runtime.embedded import volumes

    return volumes.list_all(str(data_root()))


def create_volume(name: str) -> Volume:
    from devenv.paths import data_root
    from devenv.runtime.embedded import volumes

    return volumes.ensure(str(data_root()), name)


def remove_volume(name: str) -> None:
    """Remove a volume no container uses (the containers using it are named in the error)."""
    from devenv.errors import ContainerError
    from devenv.paths import data_root
    from devenv.runtime.embedded import volumes

    users = container_runtime().volume_users(name)
    try:
        volumes.remove(str(data_root()), name, users)
    except volumes.VolumeError as exc:
        raise ContainerError(str(exc)) from None


# --- network ---
# devenv ports: what a workspace's container forwards (configured and auto-forwarded ports).

if TYPE_CHECKING:
    from devenv.network.state import PortsState


def workspace_ports(ref: WorkspaceRef) -> tuple[str, PortsState]:
    """The container id of the workspace and the ports forwarded to it now.

    Embedded runtime: what the container's forwarder serves (configured ports, then auto-forwarded
    ones, and why some listening ports were not forwarded). Docker engine: the published ports.
    """
    from devenv.errors import WorkspaceError
    from devenv.network import forwarded_ports
    from devenv.network.state import ForwardedPort, PortsState
    from devenv.workspace.manage import find

    found = find(ref)
    if found.container is None:
        raise WorkspaceError(
            f"no container for the workspace {found.target.workspace_folder or found.target.labels}",
            remedy="create it: `devenv up`",
        )
    container = found.container
    if found.runtime.name == "embedded":
        return container.id, forwarded_ports(container.id)
    published = tuple(
        ForwardedPort(p.container_port, p.host_ip or "0.0.0.0", p.host_port, p.protocol, p.label)
        for p in container.ports
    )
    return container.id, PortsState(published)


# --- build ---
# The image builder (issue 6): Dockerfiles and devcontainer features into cached layers, without a
# Docker daemon. See devenv.build (plan, executor) and devenv.features (resolve, lockfile).

if TYPE_CHECKING:
    from devenv.build.builder import BuildOptions, BuildResult
    from devenv.features.versions import OutdatedResult, UpgradeResult


def build(opts: BuildOptions, reporter: Reporter | None = None) -> BuildResult:
    """``devenv build``: build the workspace image (base + Dockerfile + features) into the store."""
    from devenv.build.builder import build as _build

    return _build(opts, reporter=_reporter(reporter))


def outdated(workspace_folder: str | None, config: str | None, reporter: Reporter | None = None) -> OutdatedResult:
    """``devenv outdated``: current, wanted and latest versions of the config's OCI features."""
    from devenv.config import load
    from devenv.features.versions import outdated as _outdated

    return _outdated(load(workspace_folder, config), reporter=_reporter(reporter))


def upgrade(
    workspace_folder: str | None,
    config: str | None,
    *,
    dry_run: bool = False,
    feature: str | None = None,
    target_version: str | None = None,
    reporter: Reporter | None = None,
) -> UpgradeResult:
    """``devenv upgrade``: re-resolve the features (optionally re-targeting one) and write the lockfile."""
    from devenv.features.versions import upgrade as _upgrade

    return _upgrade(
        workspace_folder,
        config,
        dry_run=dry_run,
        feature=feature,
        target_version=target_version,
        reporter=_reporter(reporter),
    )
