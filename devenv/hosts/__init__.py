"""Where devenv runs host-side commands: the local machine now, a remote one over SSH later.

Everything the workspace does *on the host* (``initializeCommand``, ``git``, the ``docker`` CLI, reading
the owner of the workspace folder) goes through a :class:`~devenv.hosts.base.Host`, so a remote host is a
new sibling of :mod:`devenv.hosts.local`, not a change to the callers.
"""
