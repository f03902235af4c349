"""Recompute a workspace's tool environment after devcontainer.json changed (``remoteEnv`` edits apply
without a rebuild, as with the reference, which re-reads the config on every ``exec``)."""

from __future__ import annotations

from devenv.workspace import state as states
from devenv.workspace.identity import METADATA_LABEL


def refresh_env(st: states.WorkspaceState) -> dict[str, str]:
    from devenv.config.load import load
    from devenv.config.merge import merge_metadata, parse_metadata_label
    from devenv.fsutil import file_lock
    from devenv.workspace.backends import open_runtime
    from devenv.workspace.environment import remote_environment

    loaded = load(st.workspace_folder or None, st.config_file).with_devcontainer_id(st.id_labels)
    container = open_runtime(st.runtime).get(st.container_id)
    entries = parse_metadata_label(container.labels.get(METADATA_LABEL))[:-1]
    merged = merge_metadata(entries, [], loaded.data)
    env = remote_environment(st.probed_env, merged.remote_env, st.container_env, st.cli_remote_env)
    with file_lock(states.lock_path(st.key), timeout=5, what="the workspace state"):
        current = states.load(st.key)
        if current is not None and current.container_id == st.container_id:
            current.env = env
            current.config_stamp = states.config_stamp(st.config_file)
            states.save(current)
    return env
