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
    if not value or value.startswith("0001-01-01"):
        return None
    quick = _utc_seconds(value)
    if quick is not None:
        return quick
    from datetime import datetime

    text = value.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(text).timestamp()


def _utc_seconds(value: str) -> float | None:
    """``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` as datetime's ``timestamp()`` computes it (the same float), without
    importing datetime (the quick ``up`` check reads one); None for any other form."""
    if len(value) < 20 or not value.endswith("Z") or value[4] != "-" or value[10] != "T" or value[13] != ":":
        return None
    try:
        year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
        hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
        fraction = value[20:-1] if value[19] == "." else ""
        if value[19] not in ".Z" or not (fraction.isdigit() or fraction == ""):
            return None
    except ValueError:
        return None
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    # days since 1970-01-01 (Howard Hinnant's days_from_civil)
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    seconds = days * 86400 + hour * 3600 + minute * 60 + second
    return (seconds * 10**6 + micro) / 10**6


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

    # The socket module's C core: socket.py's enum set-up costs milliseconds on this path, for nothing.
    from _socket import AF_UNIX, SOCK_STREAM
    from _socket import socket as raw_socket

    path = engine_socket()
    if path is None:
        return None
    try:
        sock = raw_socket(AF_UNIX, SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(f"GET /containers/{container_id}/json HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        finally:
            sock.close()
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
