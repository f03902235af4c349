"""``devenv exec``'s rarer options, off the fast path: ``--container-id``, ``--override-config`` and
``--default-user-env-probe``.

* ``--container-id ID`` (an id, a unique id prefix or a container name) names the workspace whose
  container it is, instead of ``--workspace-folder`` / ``--id-label``.
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


@dataclass(frozen=True)
class ExecOptions:
    workspace_folder: str | None = None
    config: str | None = None
    id_labels: tuple[str, ...] = ()
    container_id: str | None = None
    override_config: str | None = None
    default_user_env_probe: str | None = None
    remote_env: Mapping[str, str] | None = None


def state_of_container(container: str) -> states.WorkspaceState:
    """The workspace whose container is ``container`` (id, unique id prefix or name)."""
    found = [
        st
        for st in states.all_states()
        if st.container_id == container
        or st.container_name == container
        or (len(container) >= 4 and st.container_id.startswith(container))
    ]
    exact = [st for st in found if container in (st.container_id, st.container_name)]
    if exact:
        found = exact[:1]
    if not found:
        raise WorkspaceError(
            f"no devenv workspace uses the container {container!r}",
            remedy="bring the workspace up with `devenv up`, or pass --workspace-folder; see `devenv ls`",
        )
    if len(found) > 1:
        raise WorkspaceError(
            f"the container id prefix {container!r} matches {len(found)} workspaces", remedy="give more of the id"
        )
    return found[0]


def _target(opts: ExecOptions) -> tuple[Target, states.WorkspaceState]:
    if opts.container_id:
        st = state_of_container(opts.container_id)
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
    if opts.override_config or opts.default_user_env_probe:
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
    from devenv.workspace.up import merged_for_container

    runtime = open_runtime(st.runtime)
    container = runtime.get(st.container_id)
    if opts.override_config:
        loaded = load(
            st.workspace_folder or None, st.config_file or None, override_config=opts.override_config
        ).with_devcontainer_id(st.id_labels)
    else:
        loaded = load(st.workspace_folder or None, st.config_file or None).with_devcontainer_id(st.id_labels)
    merged = merged_for_container(container, loaded)
    out = copy.copy(st)
    out.remote_user = sessions.remote_user_of(merged, container)
    probed = st.probed_env
    if opts.default_user_env_probe and not merged.user_env_probe:
        session = sessions.Session(
            container, out.remote_user, st.remote_workspace_folder, st.shell, st.home, container_env=st.container_env
        )
        probed = sessions.probe_user_env(runtime, session, opts.default_user_env_probe)
    out.env = remote_environment(probed, merged.remote_env, st.container_env, st.cli_remote_env)
    return out
