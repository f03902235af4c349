"""``devenv up``: a workspace container that is running and ready, created only when needed.

1. Load devcontainer.json (``${devcontainerId}`` from the id labels); run ``initializeCommand`` on the host.
2. Under the workspace's lock: find the container by its id labels. Running and already set up for this
   start → the fast path (no image work, no probe; only ``postAttachCommand``). Stopped → start it.
   Missing → prepare the image (pull/build, cached) and create it.
3. Prepare the session (users, environment) and run the hooks that are due; remember the result in the
   workspace state so ``exec`` needs nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from devenv.errors import ContainerNotFound, UsageError, WorkspaceError
from devenv.events import NULL, Reporter
from devenv.runtime.base import Container, ContainerStatus, Runtime
from devenv.sha import sha256
from devenv.workspace import identity, state
from devenv.workspace.hooks import CREATE_HOOKS, to_json
from devenv.workspace.identity import CONFIG_LABEL, IMAGE_ENTRIES_LABEL, METADATA_LABEL
from devenv.workspace.up_args import parse_remote_env

if TYPE_CHECKING:
    from devenv.config.loader import LoadedConfig
    from devenv.config.merge import MergedConfig
    from devenv.workspace.dotfiles import Dotfiles
    from devenv.workspace.hookbatch import Step
    from devenv.workspace.images import PreparedImage
    from devenv.workspace.session import Session

# Properties that are baked into the container: changing them needs a new container.
CONTAINER_PROPERTIES = (
    "image", "build", "dockerFile", "context", "features", "containerEnv", "containerUser", "mounts",
    "workspaceMount", "workspaceFolder", "runArgs", "privileged", "capAdd", "securityOpt", "init",
    "overrideCommand", "appPort", "forwardPorts",
)  # fmt: skip


@dataclass(frozen=True)
class UpOptions:
    workspace_folder: str | None = None
    config: str | None = None
    id_labels: tuple[str, ...] = ()
    runtime: str | None = None
    remove_existing_container: bool = False
    build_no_cache: bool = False
    expect_existing_container: bool = False
    skip_post_create: bool = False
    skip_post_attach: bool = False
    skip_non_blocking_commands: bool = False
    mounts: tuple[str, ...] = ()
    remote_env: tuple[str, ...] = ()
    additional_features: str | None = None
    mount_workspace_git_root: bool = True
    update_remote_user_uid_default: str = "on"
    default_user_env_probe: str = "loginInteractiveShell"
    override_config: str | None = None  # read instead of the workspace's devcontainer.json
    omit_config_remote_env_from_metadata: bool = False  # the config's remoteEnv stays out of the label
    secrets: Mapping[str, str] = field(default_factory=dict)  # --secrets-file: hooks and dotfiles only
    dotfiles: Dotfiles | None = None  # --dotfiles-repository ...
    no_lockfile: bool = False  # features' lockfile (the builder's): not used
    frozen_lockfile: bool = False  # must exist and stay unchanged


@dataclass(frozen=True)
class UpResult:
    container_id: str
    remote_user: str
    remote_workspace_folder: str
    container_name: str = ""
    runtime: str = ""
    created: bool = False
    started: bool = False
    config_changes: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The reference's result object."""
        return {
            "outcome": "success",
            "containerId": self.container_id,
            "remoteUser": self.remote_user,
            "remoteWorkspaceFolder": self.remote_workspace_folder,
        }


def load_config(opts: UpOptions) -> tuple[LoadedConfig, dict[str, str]]:
    """The config through phase 2 of substitution, and the id labels."""
    from devenv.config.loader import load

    if opts.workspace_folder is None and opts.config is None and not opts.id_labels and not opts.override_config:
        folder: str | None = os.getcwd()
    else:
        folder = opts.workspace_folder
    loaded = load(
        folder, opts.config, mount_git_root=opts.mount_workspace_git_root, override_config=opts.override_config
    )
    labels = identity.parse_id_labels(opts.id_labels) if opts.id_labels else loaded.id_labels
    return loaded.with_devcontainer_id(labels), labels


def config_digests(loaded: LoadedConfig) -> dict[str, str]:
    """Short digests of the properties baked into the container (and of the Dockerfile it was built from)."""
    out: dict[str, str] = {}
    for key in CONTAINER_PROPERTIES:
        if key in loaded.data:
            text = json.dumps(loaded.data[key], sort_keys=True, separators=(",", ":"))
            out[key] = sha256(text.encode()).hexdigest()[:12]
    build = loaded.config.build
    if build is not None and build.dockerfile:
        try:
            with open(loaded.config_folder / build.dockerfile, "rb") as f:
                out["Dockerfile"] = sha256(f.read()).hexdigest()[:12]
        except OSError:
            pass
    return out


IMAGE_PROPERTIES = ("image", "build", "dockerFile", "context", "features", "overrideFeatureInstallOrder")


def image_inputs(loaded: LoadedConfig, additional: Mapping[str, Any] | None) -> str:
    """A digest of what the workspace image is built from (an image and local features), or "" when it
    cannot be known cheaply: a Dockerfile's context, or features from a registry or a URL (a tag may
    have moved to a new version) — then devenv's builder decides, from its own cache."""
    refs = [*(loaded.data.get("features") or {}), *(additional or {})]
    if loaded.config.build is not None or any(not str(ref).startswith(("./", "../")) for ref in refs):
        return ""
    h = sha256()
    for key in IMAGE_PROPERTIES:
        h.update(json.dumps([key, loaded.data.get(key)], sort_keys=True).encode())
    h.update(json.dumps(additional or {}, sort_keys=True).encode())
    for ref in refs:
        folder = loaded.config_folder / str(ref)
        for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
            st = path.stat()
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode}\n".encode())
    return h.hexdigest()


def changed_properties(container: Container, digests: Mapping[str, str]) -> tuple[str, ...]:
    label = container.labels.get(CONFIG_LABEL)
    if not label:
        return ()
    try:
        before = json.loads(label)
    except ValueError:
        return ()
    keys = sorted(set(before) | set(digests))
    return tuple(k for k in keys if before.get(k) != digests.get(k))


def find_container(runtime: Runtime, labels: Mapping[str, str], known: state.WorkspaceState | None) -> Container | None:
    """The workspace's container: the one the state remembers if its labels still match, else by labels."""
    if known is not None and known.runtime == runtime.name and known.container_id:
        try:
            c = runtime.get(known.container_id)
        except ContainerNotFound:
            c = None
        if c is not None and all(c.labels.get(k) == v for k, v in labels.items()):
            return c
    found = runtime.list(labels)
    found.sort(key=lambda c: c.created, reverse=True)
    return found[0] if found else None


def run_initialize_command(loaded: LoadedConfig, reporter: Reporter) -> None:
    command = loaded.config.initialize_command
    if command is None:
        return
    from devenv.hosts.local import LocalHost
    from devenv.workspace.hooks import Hook, run_hook

    host = LocalHost()
    cwd = str(loaded.workspace_folder or loaded.config_folder)

    def run(argv: Any, on_line: Any) -> int:
        return host.stream(list(argv), on_line, cwd=cwd)

    run_hook("initializeCommand", [Hook("devcontainer.json", command)], run, reporter)


def up(opts: UpOptions, reporter: Reporter = NULL) -> UpResult:
    from devenv.fsutil import file_lock
    from devenv.workspace import backends

    extra_env = parse_remote_env(opts.remote_env)
    from devenv.workspace.spec import check_mount_arg

    for m in opts.mounts:
        check_mount_arg(m)
    loaded, labels = load_config(opts)
    if loaded.config.kind == "compose":
        raise WorkspaceError(
            "Docker Compose configurations are not supported yet", remedy="use an image or a Dockerfile config"
        )
    key = identity.workspace_key(labels)
    with file_lock(state.lock_path(key), timeout=None, what=f"workspace {loaded.workspace_folder or key}"):
        known = state.load(key)
        runtime = backends.open_runtime(opts.runtime or (known.runtime if known else None))
        run_initialize_command(loaded, reporter)
        return _up_locked(opts, loaded, labels, key, known, runtime, extra_env, reporter)


def _up_locked(
    opts: UpOptions,
    loaded: LoadedConfig,
    labels: dict[str, str],
    key: str,
    known: state.WorkspaceState | None,
    runtime: Runtime,
    extra_env: dict[str, str],
    reporter: Reporter,
) -> UpResult:
    from devenv.config.merge import merge_metadata

    container = find_container(runtime, labels, known)
    if container is not None and opts.remove_existing_container:
        reporter.event("workspace.remove", container=container.id, message="Removing the existing container")
        runtime.remove(container.id, force=True)
        state.forget(key)
        container, known = None, None
    if container is None and opts.expect_existing_container:
        raise WorkspaceError("The expected container does not exist.", remedy="run `devenv up` without the option")
    digests = config_digests(loaded)
    created = started = False
    changes: tuple[str, ...] = ()
    if container is None:
        image = _prepare_image(opts, loaded, key, runtime, reporter)
        entries = image_entries(image.metadata, loaded)
        merged = merge_metadata(entries, [], loaded.data)
        container = _create(opts, loaded, labels, key, runtime, image, entries, merged, digests, reporter)
        created = True
    else:
        merged = merged_for_container(container, loaded)
        changes = changed_properties(container, digests)
        if changes:
            reporter.event(
                "workspace.config_changed",
                properties=list(changes),
                message=f"warning: devcontainer.json changed since this container was created ({', '.join(changes)}); "
                "run `devenv up --remove-existing-container` or `devenv rebuild` to apply it",
            )
    if container.status is not ContainerStatus.RUNNING:
        reporter.event("workspace.start", container=container.id, message=f"Starting container {container.name}")
        container = runtime.start(container.id, meanwhile=partial(_load_what_follows_a_start, runtime.name))
        started = True
    from devenv.workspace import session as sessions

    merged = resolved_for(merged, container)
    hook_opts = sessions.HookOptions(opts.skip_post_create, opts.skip_post_attach, opts.skip_non_blocking_commands)
    stamp = state.config_stamp(str(loaded.config_path))
    ready = (
        known is not None
        and known.container_id == container.id
        and known.started == sessions.started_stamp(container)
        and known.setup_done
        and known.config_stamp == stamp
        and not extra_env
    )
    if ready:
        assert known is not None
        session = sessions.Session(
            container, known.remote_user, known.remote_workspace_folder, known.shell, known.home, known.env,
            known.probed_env, known.container_env,
        )  # fmt: skip
        created_at, started_at = sessions.created_stamp(container), sessions.started_stamp(container)
        session.markers = {h: created_at for h in CREATE_HOOKS} | {"postStartCommand": started_at}
        if not opts.skip_post_create:
            sessions.run_hooks(
                runtime, session, merged, hook_opts, reporter, secrets=opts.secrets, dotfiles=opts.dotfiles
            )
        return _result(session, runtime, created, started, changes)
    early: tuple[Step, ...] = ()
    if created:  # a new container: every hook is due; the set-up exec may run them itself
        early = sessions.early_hooks(merged, container, hook_opts, secrets=opts.secrets, dotfiles=opts.dotfiles)
    session = _prepare_session(opts, loaded, runtime, container, merged, extra_env, reporter, early)
    if session.uid_changed and created and _same_user(container.spec.user, session.remote_user):
        # pid 1 runs as the remote user: restart it so that it has the new UID too.
        runtime.stop(container.id)
        container = runtime.start(container.id)
        session = _prepare_session(opts, loaded, runtime, container, merged, extra_env, reporter)
    st = _state(key, labels, loaded, runtime, container, session, stamp, extra_env)
    st.initialize_command = loaded.data.get("initializeCommand")
    st.post_attach = [[h.origin, to_json(h.command)] for h in merged.hook("postAttachCommand")]
    st.remote_env_keys = list(merged.remote_env)
    state.save(st)
    if session.early is not None:  # the hooks ran in the set-up exec
        if session.early.error is not None:
            raise session.early.error
        outcome = "done"
    else:
        outcome = sessions.run_hooks(
            runtime, session, merged, hook_opts, reporter, secrets=opts.secrets, dotfiles=opts.dotfiles
        )
    st.setup_done = outcome == "done" and not opts.skip_post_create
    state.save(st)
    return _result(session, runtime, created, started, changes)


def _load_what_follows_a_start(runtime: str) -> None:
    """Import the code that sets the workspace up in its container while the container starts (the
    kernel's work, in another process), not after."""
    import devenv.workspace.session

    if runtime == "embedded":
        import devenv.runtime.embedded.exec  # noqa: F401


def image_entries(metadata: list[dict[str, Any]], loaded: LoadedConfig) -> list[dict[str, Any]]:
    """The image's metadata entries without devcontainer.json's own (a built image ends with it)."""
    from devenv.config.merge import config_metadata_entry

    if metadata and metadata[-1] in (config_metadata_entry(loaded.raw), config_metadata_entry(loaded.data)):
        return metadata[:-1]
    return metadata


def merged_for_container(container: Container, loaded: LoadedConfig) -> MergedConfig:
    """An existing container's metadata with the current devcontainer.json.

    Containers devenv made record how many entries came from the image: those plus the current config
    (so edited hooks and remoteEnv apply without a rebuild). For others (the reference's), do as the
    reference: the container's entries plus the current remoteUser, userEnvProbe and remoteEnv.
    """
    from devenv.config.merge import merge_metadata, parse_metadata_label

    entries = parse_metadata_label(container.labels.get(METADATA_LABEL))
    count = container.labels.get(IMAGE_ENTRIES_LABEL, "")
    if count.isdigit():
        return merge_metadata(entries[: int(count)], [], loaded.data)
    updatable = {k: loaded.data[k] for k in ("remoteUser", "userEnvProbe", "remoteEnv") if k in loaded.data}
    return merge_metadata([*entries, *([updatable] if updatable else [])], [], {})


def resolved_for(merged: MergedConfig, container: Container) -> MergedConfig:
    """``${containerEnv:...}`` resolved across the merged config, from the container's environment."""
    from devenv.workspace.environment import env_list_to_dict, with_container_env

    return with_container_env(merged, env_list_to_dict(list(container.spec.env)))


def _same_user(a: str, b: str) -> bool:
    return bool(a) and a.split(":", 1)[0] == b.split(":", 1)[0]


def _prepare_image(
    opts: UpOptions, loaded: LoadedConfig, key: str, runtime: Runtime, reporter: Reporter
) -> PreparedImage:
    from devenv.workspace import backends
    from devenv.workspace.images import ImageRequest, image_tag

    cfg = loaded.config
    folder = str(loaded.workspace_folder or loaded.config_folder)
    additional: dict[str, Any] | None = None
    if opts.additional_features:
        try:
            additional = json.loads(opts.additional_features)
        except ValueError as exc:
            raise UsageError(f"--additional-features is not valid JSON: {exc}") from None
        if not isinstance(additional, dict):
            raise UsageError('--additional-features must be a JSON object like "features"')
    request = ImageRequest(
        kind=cfg.kind,
        image=cfg.image,
        config_folder=str(loaded.config_folder),
        dockerfile=cfg.build.dockerfile if cfg.build else None,
        context=cfg.build.context if cfg.build else None,
        build_args=dict(cfg.build.args) if cfg.build else {},
        target=cfg.build.target if cfg.build else None,
        build_options=cfg.build.options if cfg.build else (),
        features=bool(cfg.features or additional),
        tag=image_tag(os.path.basename(folder), key),
        no_cache=opts.build_no_cache,
        workspace_folder=str(loaded.workspace_folder) if loaded.workspace_folder else None,
        # (the builder reads the config itself: with --override-config, that file)
        config_file=os.path.abspath(opts.override_config) if opts.override_config else str(loaded.config_path),
        additional_features=additional,
        inputs=image_inputs(loaded, additional),
        cache_file=os.path.join(state.state_dir(key), "image.json"),
        no_lockfile=opts.no_lockfile,
        frozen_lockfile=opts.frozen_lockfile,
    )
    if cfg.kind not in ("image", "dockerfile"):
        raise loaded.error("image", 'the config needs "image" or "build.dockerfile"')
    source = backends.image_source(runtime)
    prepared: PreparedImage = source.prepare(request, reporter)
    return prepared


def _create(
    opts: UpOptions,
    loaded: LoadedConfig,
    labels: Mapping[str, str],
    key: str,
    runtime: Runtime,
    image: PreparedImage,
    entries: list[dict[str, Any]],
    merged: MergedConfig,
    digests: Mapping[str, str],
    reporter: Reporter,
) -> Container:
    from dataclasses import replace

    from devenv.config.merge import config_metadata_entry
    from devenv.network.ports import from_merged
    from devenv.workspace import spec as specs

    workspace_mount = None
    mount_text = loaded.workspace.workspace_mount
    if isinstance(mount_text, str) and mount_text:
        workspace_mount = specs.parse_mount(mount_text, "workspaceMount")
    others = [specs.mount_from_config(m) for m in merged.mounts]
    others += [specs.parse_mount(m, "--mount") for m in opts.mounts]
    all_labels = dict(labels)
    config_entry = config_metadata_entry(loaded.data)
    if opts.omit_config_remote_env_from_metadata and config_entry:
        config_entry = {k: v for k, v in config_entry.items() if k != "remoteEnv"}
    all_labels[METADATA_LABEL] = json.dumps(
        [*entries, *([config_entry] if config_entry else [])], separators=(",", ":")
    )
    all_labels[IMAGE_ENTRIES_LABEL] = str(len(entries))
    all_labels[CONFIG_LABEL] = json.dumps(digests, sort_keys=True, separators=(",", ":"))
    user = merged.container_user or image.user
    merged_for_spec = merged if not user or merged.container_user else _with_user(merged, user)
    folder = os.path.basename(str(loaded.workspace_folder or loaded.config_folder).rstrip("/")) or "workspace"
    ports, ports_policy = from_merged(
        merged.forward_ports, loaded.config.app_port, merged.ports_attributes, merged.other_ports_attributes
    )
    spec = specs.workspace_spec(
        image=image.ref,
        name=f"{identity.container_name_prefix(folder)}-{key[:8]}",
        labels=all_labels,
        settings=merged_for_spec,
        mounts=specs.WorkspaceMounts(workspace_mount, tuple(others)),
        image_env=image.env,
        image_entrypoint=image.entrypoint,
        image_cmd=image.cmd,
        ports=ports,
    )
    spec = replace(spec, ports_policy=ports_policy)  # portsAttributes + auto-forward (embedded runtime)
    if loaded.config.run_args:
        from devenv.workspace.runargs import apply_run_args

        spec, warnings = apply_run_args(spec, loaded.config.run_args)
        for warning in warnings:
            reporter.event("warning", message=f"warning: {warning}")
    reporter.event("workspace.create", image=image.ref, message=f"Creating container {spec.name} from {image.ref}")
    return runtime.create(spec)


def _with_user(merged: MergedConfig, user: str) -> MergedConfig:
    from dataclasses import replace

    return replace(merged, container_user=user)


def _prepare_session(
    opts: UpOptions,
    loaded: LoadedConfig,
    runtime: Runtime,
    container: Container,
    merged: MergedConfig,
    extra_env: dict[str, str],
    reporter: Reporter,
    early_hooks: tuple[Step, ...] = (),
) -> Session:
    from devenv.workspace import session as sessions

    owner = None
    if loaded.workspace_folder is not None:
        folder = str(loaded.workspace_folder)
        try:  # (LocalHost.owner, without importing the hosts package)
            st = os.stat(folder)
        except OSError as exc:
            from devenv.errors import HostError

            raise HostError(f"cannot read the owner of {folder}: {exc.strerror}") from exc
        owner = (st.st_uid, st.st_gid)
    sopts = sessions.SessionOptions(
        remote_workspace_folder=loaded.workspace.workspace_folder or "",
        uid_owner=owner,
        update_uid_default=opts.update_remote_user_uid_default,
        default_user_env_probe=opts.default_user_env_probe,
        extra_remote_env=extra_env,
        early_hooks=early_hooks,
    )
    return sessions.prepare(runtime, container, merged, sopts, reporter)


def _state(
    key: str,
    labels: dict[str, str],
    loaded: LoadedConfig,
    runtime: Runtime,
    container: Container,
    session: Session,
    stamp: str,
    extra_env: dict[str, str],
) -> state.WorkspaceState:
    from devenv.workspace.session import created_stamp, started_stamp

    return state.WorkspaceState(
        key=key,
        id_labels=labels,
        workspace_folder=str(loaded.workspace_folder or ""),
        config_file=str(loaded.config_path),
        runtime=runtime.name,
        container_id=container.id,
        container_name=container.name,
        created=created_stamp(container),
        started=started_stamp(container),
        remote_user=session.remote_user,
        remote_workspace_folder=session.remote_workspace_folder,
        shell=session.shell,
        home=session.home,
        env=session.env,
        probed_env=session.probed_env,
        cli_remote_env=dict(extra_env),
        container_env=session.container_env,
        config_stamp=stamp,
        shutdown_action=loaded.config.effective_shutdown_action,
        image=container.spec.image,
    )


def _result(session: Session, runtime: Runtime, created: bool, started: bool, changes: tuple[str, ...]) -> UpResult:
    ports = tuple(f"{p.host_ip or '0.0.0.0'}:{p.host_port}->{p.container_port}" for p in session.container.ports)
    return UpResult(
        container_id=session.container.id,
        remote_user=session.remote_user,
        remote_workspace_folder=session.remote_workspace_folder,
        container_name=session.container.name,
        runtime=runtime.name,
        created=created,
        started=started,
        config_changes=changes,
        ports=ports,
    )
