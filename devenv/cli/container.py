"""CLI: ``devenv container`` — low-level containers of the embedded runtime, shaped like Docker's."""

from __future__ import annotations

import typer

group = typer.Typer(
    help="Low-level containers (run, create, start, stop, rm, ls, exec, logs, inspect).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="container")
