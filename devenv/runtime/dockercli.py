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


def engine_socket() -> str | None:
    """The Docker engine's unix socket when the CLI would use it (no DOCKER_HOST elsewhere, no context)."""
    import os

    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host or os.environ.get("DOCKER_CONTEXT"):
        return None
    return "/var/run/docker.sock"


def inspect_state(container_id: str, timeout: float = 5.0) -> dict[str, object] | None:
    """``State`` of ``docker inspect`` straight from the engine's API socket (no CLI process): the quick
    ``up`` check. None when the socket cannot be used or the container does not exist — callers then
    take the ordinary path."""
    import json
    import socket

    path = engine_socket()
    if path is None:
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(f"GET /containers/{container_id}/json HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError:
        return None
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or head.split(b" ", 2)[1] != b"200":
        return None
    try:
        state = json.loads(body).get("State")
    except ValueError:
        return None
    return state if isinstance(state, dict) else None
