"""Entry point of the ``devenv`` command: fast paths, then the typer app, and the shared error handler.

Start-up time matters (``devenv exec`` runs on every keystroke path of tools), so this module imports
nothing heavy: typer and the command modules are imported only when the fast paths do not apply.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # (typing is not imported at run time: start-up)
if TYPE_CHECKING:
    from typing import NoReturn


def _fast_path(argv: list[str]) -> int | None:
    """Commands answered without importing typer. Returns an exit code, or None to go the normal way."""
    if argv == ["--version"]:
        from devenv import __version__

        sys.stdout.write(f"devenv {__version__}\n")
        return 0
    if argv[:1] == ["read-configuration"]:
        from devenv.cli.config import fast_main

        return fast_main(argv[1:])
    if argv[:1] == ["exec"]:
        from devenv.cli.workspace_fast import fast_exec

        return fast_exec(argv[1:])
    if argv[:1] == ["up"]:
        from devenv.cli.workspace_fast import fast_up

        return fast_up(argv[1:])
    if argv[:1] == ["build"]:
        from devenv.cli.build_fast import fast_build

        return fast_build(argv[1:])
    if argv[:1] == ["container"] and argv[1:2] in (["run"], ["create"], ["exec"]):
        from devenv.cli.container_fast import main as container_main

        return container_main(argv[1:])
    return None


def _report(exc: BaseException, code: int, message: str, description: str | None = None) -> int:
    from devenv.cli import output

    if output.settings.debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    if output.settings.log_format == "json":
        output.result({"outcome": "error", "message": message, "description": description or message})
    else:
        sys.stderr.write(f"error: {message}\n")
        if description and description != message:
            rest = description[len(message) :].lstrip("\n") if description.startswith(message) else description
            if rest.strip():
                sys.stderr.write(rest.rstrip() + "\n")
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    if argv is None:
        argv = sys.argv[1:]
    fast = _fast_path(argv)
    if fast is not None:
        return fast

    import typer

    from devenv.cli import output
    from devenv.cli.app import app
    from devenv.errors import DevenvError

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


# Commands that run without the cyclic garbage collector: they live a fraction of a second, their
# collections during the imports cost time, and in the processes they fork (a container's supervisor, an
# exec's child before it enters the container) a collection would copy the pages the parent shares with
# them. Reference cycles are few and die with the process. A long job inside one of them (a build step, a
# pull) turns the collector back on; forked daemons turn it on for their own long life.
_SHORT_LIVED = frozenset(
    {"up", "exec", "stop", "down", "status", "ls", "read-configuration", "run-user-commands", "set-up", "container"}
)


# Commands whose path defines no dataclass (importing ``dataclasses`` alone costs them milliseconds), or
# (``up``, ``container run``) that enable the cache themselves once they know they need more than their
# quick path (a running workspace; a lingering starter): the others compile dataclass methods through
# devenv.fastclasses' cache.
_NO_DATACLASSES = (
    ["--version"],
    ["exec"],
    ["up"],
    ["container", "run"],
    ["container", "create"],
    ["container", "exec"],
)


def run() -> NoReturn:
    """The ``devenv`` command: :func:`main`, then exit without the interpreter's finalization.

    Tearing down the interpreter (its modules, their objects) takes ~20 ms after a command such as
    ``up`` that imported a few hundred modules; nothing is left for it to do: devenv closes its files
    and joins its threads itself. The standard streams are flushed first (a closed pipe is ignored).
    Exceptions take the usual way out.
    """
    if sys.argv[1:2] and sys.argv[1] in _SHORT_LIVED:
        import gc

        gc.disable()  # see _SHORT_LIVED
    fast_classes = not any(sys.argv[1 : 1 + len(lean)] == lean for lean in _NO_DATACLASSES)
    if fast_classes:
        from devenv import fastclasses

        fastclasses.enable()
    code = main()
    import contextlib
    import os

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    enabled = sys.modules.get("devenv.fastclasses")
    if enabled is not None:
        enabled.save()
    os._exit(code)


if __name__ == "__main__":
    run()
