"""``devenv exec``'s rarer options, off the fast path: ``--container-id``, ``--override-config`` and
``--default-user-env-probe``.

* ``--container-id ID`` (an id, a unique id prefix or a container name) names the workspace whose
  container it is, instead of ``--workspace-folder`` / ``--id-label``. A container no workspace knows
  is found in the default runtime, then the other one, and set up for this command only from its
  ``devcontainer.metadata`` label (see :func:`foreign_state`).
* ``--override-config FILE``: the remote user and ``remoteEnv`` come from that file (merged with the
  container's metadata, as ``up`` does) instead of the workspace's devcontainer.json.
* ``--default-user-env-probe``: when devcontainer.json sets no ``userEnvProbe``, the remote user's
  shell environment is probed that way for this command (``up`` cached the probe of its own default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devenv.errors import WorkspaceError
from devenv.workspace import state as states
from devenv.workspace.access import Target, load_state, resolve_target
from devenv.workspace.by_container import state_of_container


@dataclass(frozen=True)
class ExecOptions:
    workspace_folder: str | None = None
    config: str | None = None
    id_labels: tuple[str, ...] = ()
    container_id: str | None = None
    override_config: str | None = None
    default_user_env_probe: str | None = None
    remote_env: Mapping[str, str] | None = None


def _target(opts: ExecOptions) -> tuple[Target, states.WorkspaceState]:
    if opts.container_id:
        known = state_of_container(opts.container_id)
        st = known if known is not None else foreign_state(opts)
        return Target(st.workspace_folder, st.config_file, st.id_labels), st
    config = opts.config
    if opts.override_config and config is None:
        # The workspace may have no devcontainer.json: it counts as being where the reference puts it.
        from devenv.config.locator import default_config_path, well_known

        folder = os.path.abspath(opts.workspace_folder or ".")
        if not opts.id_labels or opts.workspace_folder is not None:
            config = well_known(folder) or default_config_path(folder)
    target = resolve_target(opts.workspace_folder, config, opts.id_labels)
    return target, load_state(target)


def run(opts: ExecOptions, argv: Sequence[str]) -> int:
    """``devenv exec`` with these options; returns the command's exit code."""
    from devenv.workspace import access

    target, st = _target(opts)
    env = None
    if not st.key:  # a container devenv did not bring up: foreign_state computed everything
        env = st.env
    elif opts.override_config or opts.default_user_env_probe:
        st = _recomputed(st, opts)
        env = st.env
    return access.run(target, argv, remote_env=dict(opts.remote_env or {}), state=st, env=env)


def _recomputed(st: states.WorkspaceState, opts: ExecOptions) -> states.WorkspaceState:
    """The state with the remote user and environment of the override config and/or the probe."""
    import copy

    from devenv.config.loader import load
    from devenv.workspace import session as sessions
    from devenv.workspace.backends import open_runtime
    from devenv.workspace.environment import remote_environment
    from devenv.workspace.up import merged_for_container, resolved_for

    runtime = open_runtime(st.runtime)
    container = runtime.get(st.container_id)
    if opts.override_config:
        loaded = load(
            st.workspace_folder or None, st.config_file or None, override_config=opts.override_config
        ).with_devcontainer_id(st.id_labels)
    else:
        loaded = load(st.workspace_folder or None, st.config_file or None).with_devcontainer_id(st.id_labels)
    merged = resolved_for(merged_for_container(container, loaded), container)
    out = copy.copy(st)
    out.remote_user = sessions.remote_user_of(merged, container)
    probed = st.probed_env
    if opts.default_user_env_probe and not merged.user_env_probe:
        session = sessions.Session(
            container, out.remote_user, st.remote_workspace_folder, st.shell, st.home, container_env=st.container_env
        )
        probed = sessions.probe_user_env(runtime, session, opts.default_user_env_probe)
    out.env = remote_environment(probed, merged.remote_env, st.container_env, st.cli_remote_env)
    out.remote_env_keys = list(merged.remote_env)
    return out


def foreign_state(opts: ExecOptions) -> states.WorkspaceState:
    """A container no devenv workspace knows (made by ``devenv container run``, by the reference, ...):
    its remote user, folder and environment from its ``devcontainer.metadata`` label (and ``--config`` /
    ``--override-config`` when given), probed for this command, as the reference's ``exec`` does. Nothing
    in the container is changed and nothing is remembered."""
    from devenv.config.merge import merge_metadata, parse_metadata_label
    from devenv.errors import ContainerNotFound, DevenvError
    from devenv.runtime.base import Container, ContainerStatus, Runtime
    from devenv.workspace import environment, incontainer, users
    from devenv.workspace import session as sessions
    from devenv.workspace.backends import default_runtime_name, open_runtime

    assert opts.container_id
    found: tuple[Runtime, Container] | None = None
    first = default_runtime_name()
    for name in (first, "docker" if first != "docker" else "embedded"):
        try:
            runtime = open_runtime(name)
            found = (runtime, runtime.get(opts.container_id))
            break
        except ContainerNotFound:
            continue
        except DevenvError:
            continue  # that runtime is not available here
    if found is None:
        raise WorkspaceError(
            f"no container {opts.container_id!r} (in devenv's runtime or in Docker)",
            remedy="see `devenv ls` or `devenv container ls -a`",
        )
    runtime, container = found
    if container.status is not ContainerStatus.RUNNING:
        raise WorkspaceError(f"the container {container.name} is not running", remedy="start it first")
    data: dict[str, object] = {}
    folder = ""
    if opts.config or opts.override_config:
        from devenv.config.loader import load

        loaded = load(opts.workspace_folder, opts.config, override_config=opts.override_config)
        data = dict(loaded.data)
        folder = loaded.workspace.workspace_folder or ""
    from devenv.workspace.up import resolved_for

    merged = merge_metadata(parse_metadata_label(container.labels.get("devcontainer.metadata")), [], data)
    merged = resolved_for(merged, container)
    remote_user = sessions.remote_user_of(merged, container)
    name = users.user_name(remote_user)
    _, out = incontainer.capture(
        runtime, container.id, ["/bin/sh", "-c", 'grep -E "^$1:|^[^:]*:[^:]*:$1:" /etc/passwd | head -n 1', "-", name]
    )
    passwd = users.parse_passwd_line(out.decode("utf-8", "replace").strip())
    container_env = environment.env_list_to_dict(list(container.spec.env))
    shell = container_env.get("SHELL") or (passwd.shell if passwd and passwd.shell else "/bin/sh")
    home = passwd.home if passwd and passwd.home else container_env.get("HOME", "/root")
    session = sessions.Session(container, remote_user, folder, shell, home, container_env=container_env)
    probe = merged.user_env_probe or opts.default_user_env_probe or environment.DEFAULT_PROBE
    probed = sessions.probe_user_env(runtime, session, probe)
    env = environment.remote_environment(probed, merged.remote_env, container_env)
    return states.WorkspaceState(
        key="",
        id_labels={},
        workspace_folder="",
        config_file="",
        runtime=runtime.name,
        container_id=container.id,
        container_name=container.name,
        remote_user=remote_user,
        remote_workspace_folder=folder or container.spec.workdir,
        shell=shell,
        home=home,
        env=env,
        remote_env_keys=list(merged.remote_env),
        container_env=container_env,
    )
