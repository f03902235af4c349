"""Entry point of the ``devenv`` command: the root typer app, global options and the error handler."""

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


def _report(exc: BaseException, code: int, message: str, description: str | None = None) -> int:
    if output.settings.debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    if output.settings.log_format == "json":
        output.result({"outcome": "error", "message": message, "description": description or message})
    else:
        sys.stderr.write(f"error: {message}\n")
        if description and description != message:
            sys.stderr.write(description.rstrip() + "\n")
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    from devenv.errors import DevenvError

    if argv is None:
        argv = sys.argv[1:]
    output.settings.debug = "--debug" in argv
    try:
        rv = app(args=argv, prog_name="devenv", standalone_mode=False)
    except DevenvError as exc:
        rendered = exc.render()
        return _report(exc, exc.exit_code, exc.message, rendered)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except (typer.Abort, KeyboardInterrupt) as exc:
        return _report(exc, 130, "interrupted")
    except Exception as exc:
        # Usage errors of the (possibly vendored) click that typer runs on: print as click does.
        show = getattr(exc, "show", None)
        if show is not None and isinstance(getattr(exc, "exit_code", None), int):
            show()
            return int(exc.exit_code)  # type: ignore[attr-defined]
        raise
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
