"""Recompute a workspace's tool environment after devcontainer.json changed (``remoteEnv`` edits apply
without a rebuild, as with the reference, which re-reads the config on every ``exec``)."""

from __future__ import annotations

from devenv.workspace import state as states


def refresh_env(st: states.WorkspaceState) -> dict[str, str]:
    from devenv.config.loader import load
    from devenv.fsutil import LockTimeout, file_lock
    from devenv.workspace.backends import open_runtime
    from devenv.workspace.environment import remote_environment
    from devenv.workspace.up import merged_for_container

    loaded = load(st.workspace_folder or None, st.config_file).with_devcontainer_id(st.id_labels)
    container = open_runtime(st.runtime).get(st.container_id)
    merged = merged_for_container(container, loaded)
    env = remote_environment(st.probed_env, merged.remote_env, st.container_env, st.cli_remote_env)
    st.remote_env_keys = list(merged.remote_env)  # (exec's --remote-env does not override these)
    try:
        with file_lock(states.lock_path(st.key), timeout=2, what="the workspace state"):
            current = states.load(st.key)
            if current is not None and current.container_id == st.container_id:
                current.env = env
                current.remote_env_keys = st.remote_env_keys
                current.config_stamp = states.config_stamp(st.config_file)
                states.save(current)
    except LockTimeout:
        pass  # an `up` is running; it will write the state itself
    return env
