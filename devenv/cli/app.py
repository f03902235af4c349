"""The root typer app of ``devenv`` and its global options. Imported only when a command needs typer."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from devenv import __version__
from devenv.cli import output

app = typer.Typer(
    name="devenv",
    help="Standardised development environments from devcontainer.json, without a Docker daemon.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"devenv {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", help="text, or json: JSON lines on stderr, result on stdout.")
    ] = "text",
) -> None:
    """Standardised development environments from devcontainer.json, without a Docker daemon."""
    output.settings.debug = debug
    output.set_log_format(log_format)


def _register() -> None:
    # One module per command group; each adds its commands to the root app.
    from devenv.cli import commands

    commands.register(app)


_register()
