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


def parse_docker_time(value: str | None) -> float | None:
    """Docker's RFC 3339 times with nanoseconds ("2024-05-01T10:00:00.123456789Z"); None for the zero time."""
    from datetime import datetime

    if not value or value.startswith("0001-01-01"):
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(text).timestamp()
