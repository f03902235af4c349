"""CLI: ``devenv image`` — the image store (pull, push, ls, inspect, rm, tag, load, save, bootstrap, prune)."""

from __future__ import annotations

import typer

group = typer.Typer(help="Manage images in devenv's own store.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="image")
