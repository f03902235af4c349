"""Where devenv keeps its state.

The data root holds the content store, snapshots, containers and volumes. It is
``$DEVENV_ROOT`` when set, ``/var/lib/devenv`` for root, else ``$XDG_DATA_HOME/devenv``
(``~/.local/share/devenv``). Runtime state that must not survive a reboot (sockets, pid files)
lives under ``run_root()``: ``$DEVENV_RUN_ROOT``, ``/run/devenv`` for root, else
``$XDG_RUNTIME_DIR/devenv``.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def data_root() -> Path:
    from pathlib import Path

    return Path(data_root_str())


def data_root_str() -> str:
    """:func:`data_root` as a string, without importing pathlib (for the CLI's fast paths)."""
    env = os.environ.get("DEVENV_ROOT")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/lib/devenv"
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(xdg, "devenv")


def run_root() -> Path:
    from pathlib import Path

    env = os.environ.get("DEVENV_RUN_ROOT")
    if env:
        return Path(env)
    if os.environ.get("DEVENV_ROOT"):
        # A private data root gets a private run root so test roots never share state.
        return Path(os.environ["DEVENV_ROOT"]) / "run"
    if os.geteuid() == 0:
        return Path("/run/devenv")
    xdg = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/devenv-{os.getuid()}"
    return Path(xdg) / "devenv"


def cache_root() -> Path:
    from pathlib import Path

    env = os.environ.get("DEVENV_CACHE")
    if env:
        return Path(env)
    return data_root() / "cache"
