"""Workspaces: a folder with a devcontainer.json as a long-lived, ready container.

``up`` (find / start / create, then set up), ``session`` (users, environment), ``hooks`` (lifecycle
commands and their markers), ``access`` (``exec``/``shell``, on the fast path), ``manage`` (stop, down, ls,
status, logs), ``usercommands`` (run-user-commands, set-up), ``state`` (what ``exec`` needs, cached),
``images`` (the image on each runtime), ``spec`` and ``runargs`` (the container spec). See
docs/workspace.md.
"""
