"""Docker CLI argument builders that import nothing (``devenv exec``'s fast path uses them directly)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def exec_argv(
    docker: str,
    container_id: str,
    argv: Sequence[str],
    *,
    user: str = "",
    workdir: str = "",
    env: Iterable[str] = (),
    tty: bool = False,
    interactive: bool = False,
) -> list[str]:
    """``docker exec`` with the given user, folder, ``KEY=VALUE`` environment and terminal flags."""
    args = [docker, "exec"]
    if interactive:
        args.append("--interactive")
    if tty:
        args.append("--tty")
    if user:
        args += ["--user", user]
    if workdir:
        args += ["--workdir", workdir]
    for item in env:
        args += ["--env", item]
    return [*args, container_id, *argv]
