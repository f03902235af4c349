"""The workspace of a container (``exec --container-id``): stdlib and the state module only — it is on
``devenv exec``'s fast path."""

from __future__ import annotations

from devenv.workspace import state as states


def state_of_container(container: str) -> states.WorkspaceState | None:
    """The workspace whose container is ``container`` (id, unique id prefix of 4+ characters, or name),
    None when no workspace's is."""
    found = [
        st
        for st in states.all_states()
        if st.container_id == container
        or st.container_name == container
        or (len(container) >= 4 and st.container_id.startswith(container))
    ]
    exact = [st for st in found if container in (st.container_id, st.container_name)]
    if exact:
        return exact[0]
    if len(found) > 1:
        from devenv.errors import WorkspaceError

        raise WorkspaceError(
            f"the container id prefix {container!r} matches {len(found)} workspaces", remedy="give more of the id"
        )
    return found[0] if found else None
