"""``devenv container run`` and ``exec`` without typer: these two are on the hot path (tools call
``exec`` for every command; ``run --rm`` is a container's whole life), so the CLI answers them from
:func:`devenv.cli.main._fast_path` with the small parser of :mod:`devenv.cli.container_args`. Anything
that parser does not know (``--help``, an unknown option) falls back to the typer commands, which call
the same :func:`do_run` / :func:`do_exec`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # (typing is not imported at run time: start-up time)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from devenv.runtime.embedded.lifecycle import Prestart


short_lived = False  # this process is the command's (the CLI, or a starter's worker): it exits soon


def main(argv: list[str]) -> int | None:
    """``argv`` starts after ``container``. Returns an exit code, or None to use the full parser.

    When this process is the ``devenv container ...`` command itself, :func:`devenv.cli.main.run` runs it
    without the cyclic garbage collector and exits without the interpreter's teardown.
    """
    global short_lived
    own = sys.argv[1:2] == ["container"] and sys.argv[2:] == argv
    short_lived = short_lived or own
    warm = own and argv[:1] == ["run"]
    if warm:  # a starter with the start path loaded already (see its module; nothing else imported yet)
        import posix

        from devenv.runtime.embedded import starter_client

        root = starter_client.data_root()
        code = starter_client.run(root, argv) if root and starter_client.linger() > 0 else None
        if code is not None:
            posix._exit(code)
    import os

    if own and argv[:1] != ["exec"]:  # (exec defines no dataclass)
        from devenv import fastclasses

        fastclasses.enable()  # (after the starter's chance: its client imports nothing; see cli.main.run)
    code = _main(argv)
    if (
        code is not None
        and warm
        and root
        and starter_client.linger() > 0
        and not starter_client.declined
        and os.path.isdir(root)
    ):
        sys.stdout.flush()  # (the output first, then the starter for the next run)
        sys.stderr.flush()
        from devenv.runtime.embedded import starter

        starter.spawn(root)
    return code


def _main(argv: list[str]) -> int | None:
    from devenv.cli import container_args as args
    from devenv.errors import DevenvError

    try:
        if argv[0] == "create":
            parsed = args.parse_argv(argv[1:], args.RUN_OPTIONS, args.RUN_SHORT)
            return do_run(args.run_options(parsed.values, parsed.positional), create_only=True)
        if argv[0] == "run":
            parsed = args.parse_argv(argv[1:], args.RUN_OPTIONS, args.RUN_SHORT)
            pre = _prestart(parsed.values)
            try:
                return do_run(args.run_options(parsed.values, parsed.positional), prestarted=pre)
            finally:
                if pre is not None:
                    pre.cancel()  # (unless the start took it)
        if argv[0] == "exec":
            parsed = args.parse_argv(argv[1:], args.EXEC_OPTIONS, args.EXEC_SHORT)
            return do_exec(parsed.values, parsed.positional)
    except args.NeedsFullParser:
        return None
    except DevenvError as exc:
        from devenv.cli.main import _report

        return _report(exc, exc.exit_code, exc.message, exc.render())
    return None


def _prestart(values: Mapping[str, Any]) -> Prestart | None:
    """Spawn the container's supervisor now, before the code that creates the container is even imported:
    its cgroup, namespaces and network get made meanwhile (see :mod:`devenv.runtime.embedded.spawn`).
    None when the options are not usable as they are (the full path reports the problem)."""
    network = values.get("network") or "bridge"
    if network not in ("bridge", "host", "none"):
        return None
    from devenv.cli import container_args as args
    from devenv.errors import UsageError

    try:
        ports = [args.publish_fields(p) for p in values.get("publish") or []]
    except UsageError:
        return None
    from devenv.paths import data_root_str
    from devenv.runtime.embedded import spawn

    early, sock = spawn.prestart(
        data_root_str(),
        network=network,
        ports=ports,
        tty=bool(values.get("tty")),
        stdin_open=bool(values.get("interactive")),
        short_lived=short_lived,
    )
    from devenv.runtime.embedded.lifecycle import Prestart

    return Prestart(early, sock)


def do_run(opts: object, *, create_only: bool = False, prestarted: Prestart | None = None) -> int:
    """Run (or create) a container; the exit code of the command (attached), 0 (detached), or 125-127
    when it could not start (as docker run). Works on the runtime's plain records (:mod:`devenv.runtime.
    embedded.run`): no dataclass-heavy module is imported on the way."""
    from devenv.cli import output
    from devenv.paths import data_root_str
    from devenv.runtime.embedded import run
    from devenv.runtime.embedded.lifecycle import StartFailed

    assert isinstance(opts, run.RunOptions)
    reporter = output.reporter()

    def warn(message: str) -> None:
        reporter.event("container.warning", message=message)

    root = data_root_str()
    if create_only:
        record = run.create_plain(root, opts, warn=warn, reporter=reporter)
        output.result({"id": record["id"], "name": record["name"]}, lambda r: str(r["id"]))
        return 0
    try:
        record, code = run.run_plain(root, opts, warn=warn, reporter=reporter, prestarted=prestarted)
    except StartFailed as exc:
        from devenv.cli.main import _report

        return _report(exc, exc.command_exit_code, exc.message, exc.render())
    if opts.detach:
        output.result({"id": record["id"], "name": record["name"]}, lambda r: str(r["id"]))
        return 0
    return code if code is not None else 0


def do_exec(values: Mapping[str, object], positional: list[str]) -> int:
    from types import SimpleNamespace

    from devenv.cli import container_args as args
    from devenv.errors import UsageError
    from devenv.paths import data_root_str
    from devenv.runtime.embedded import exec as exec_mod

    if len(positional) < 2:
        raise UsageError("container exec needs a CONTAINER and a COMMAND")
    env = args.parse_env(list(values.get("env") or []), list(values.get("env_file") or []))  # type: ignore[call-overload]
    # An ExecSpec's fields, without importing the dataclass-heavy contract module on this hot path.
    spec = SimpleNamespace(
        argv=tuple(positional[1:]),
        env=env,
        user=str(values.get("user") or ""),
        workdir=str(values.get("workdir") or ""),
        tty=bool(values.get("tty")),
        interactive=bool(values.get("interactive")),
    )
    try:  # (devenv.api.exec_in_container, without the imports of the façade and of pathlib)
        return exec_mod.exec_command(data_root_str(), positional[0], spec, detach=bool(values.get("detach")))  # type: ignore[arg-type]
    except exec_mod.ExecFailed as exc:
        from devenv.cli.main import _report

        return _report(exc, exc.command_exit_code, exc.message, exc.render())
