"""The command groups of the CLI. Each module listed here has ``register(app)``.

Adding a command group: write ``devenv/cli/<group>.py`` with ``register(app: typer.Typer) -> None``
and list it below. Keep modules thin: parse options, call :mod:`devenv.api`, render the result.
"""

from __future__ import annotations

import importlib

import typer

MODULES = [
    "devenv.cli.workspace",  # up, exec, shell, stop, down, rebuild, ls, logs, status, ports, ...
    "devenv.cli.config",  # read-configuration
    "devenv.cli.build",  # build, outdated, upgrade
    "devenv.cli.image",  # devenv image ...
    "devenv.cli.container",  # devenv container ...
    "devenv.cli.network",  # ports
]


def register(app: typer.Typer) -> None:
    for name in MODULES:
        importlib.import_module(name).register(app)
