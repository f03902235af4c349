"""``devenv exec`` without typer: it runs on every keystroke path of tools, so start-up is most of its cost.

Parses the reference's ``exec`` options itself and returns None for anything it does not know
(``--help``, unknown flags), so that the typer command handles and explains those.
"""

from __future__ import annotations

_VALUE = {"--workspace-folder", "--config", "--log-format", "--container-id"}
_LIST = {"--id-label", "--remote-env"}
_IGNORED_VALUE = {"--log-level", "--docker-path", "--default-user-env-probe", "--terminal-columns", "--terminal-rows"}


def fast_exec(argv: list[str]) -> int | None:
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {name: [] for name in _LIST}
    args = list(argv)
    while args and args[0].startswith("--"):
        arg = args.pop(0)
        if arg == "--":
            break
        name, eq, inline = arg.partition("=")
        if name not in _VALUE | _LIST | _IGNORED_VALUE:
            return None
        if not eq and not args:
            return None
        value = inline if eq else args.pop(0)
        if name in _LIST:
            lists[name].append(value)
        elif name in _VALUE:
            values[name] = value
    if not args or "--container-id" in values:
        return None
    from devenv.cli import main, output
    from devenv.errors import DevenvError

    try:
        output.set_log_format(values.get("--log-format"))
        from devenv.workspace.access import resolve_target, run
        from devenv.workspace.up_args import parse_remote_env

        target = resolve_target(values.get("--workspace-folder"), values.get("--config"), lists["--id-label"])
        return run(target, args, remote_env=parse_remote_env(tuple(lists["--remote-env"])))
    except DevenvError as exc:
        return main._report(exc, exc.exit_code, exc.message, exc.render())
    except KeyboardInterrupt as exc:
        return main._report(exc, 130, "interrupted")
