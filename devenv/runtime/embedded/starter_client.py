"""The client half of the starter (:mod:`.starter`): what ``devenv container run`` does first.

It imports only builtin modules — ``posix``, not ``os`` (whose import, with its mapping classes, costs
more than the rest of this path) — because it runs before anything else in the CLI, and when a starter
takes the command nothing else runs in the CLI at all.
"""

from __future__ import annotations

import posix
import sys

TYPE_CHECKING = False  # (typing is not imported at run time)
if TYPE_CHECKING:
    from typing import Any

SOCKET_DIR = "/run/devenv-starter"
DEFAULT_LINGER = 10.0
ACCEPT_TIMEOUT = 10.0  # seconds to wait for a starter's answer before doing the work alone
# Forwarded from the CLI to the worker: those a CLI attached to a container forwards, and SIGWINCH.
FORWARDED = (1, 2, 3, 10, 12, 15, 28)  # SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGWINCH
_SOL_SOCKET, _SCM_RIGHTS = 1, 1
_here = __file__ if __file__.startswith("/") else f"{posix.getcwd()}/{__file__}"
SOURCE = _here.rsplit("/", 4)[0]  # (the directory holding the devenv package)
declined = False  # a starter runs but declined this process's command (do not start another one)


def _env(name: str) -> str | None:
    value = posix.environ.get(name.encode())
    return None if value is None else value.decode(errors="surrogateescape")


def linger() -> float:
    """Seconds an idle starter waits for the next command; 0: no starter. (Not for other users than root
    unless ``DEVENV_STARTER_DIR`` names a directory of theirs: the runtime needs root anyway.)"""
    if posix.geteuid() != 0 and not _env("DEVENV_STARTER_DIR"):
        return 0.0
    try:
        return float(_env("DEVENV_STARTER_LINGER") or DEFAULT_LINGER)
    except ValueError:
        return DEFAULT_LINGER


def data_root() -> str | None:
    """:func:`devenv.paths.data_root_str` for the users a starter serves (root, or ``DEVENV_ROOT``)."""
    root = _env("DEVENV_ROOT")
    if root:
        return root
    return "/var/lib/devenv" if posix.geteuid() == 0 else None


def socket_name(data_root: str) -> str:
    """The starter's socket for ``data_root`` (as spelled: another spelling gets a starter of its own)
    with this interpreter and source tree."""
    from _sha256 import sha256  # type: ignore[import-not-found]  # (builtin: hashlib would load OpenSSL)

    if not data_root.startswith("/"):
        data_root = f"{posix.getcwd()}/{data_root}"
    key = "\0".join((data_root, sys.executable, SOURCE)).encode(errors="surrogateescape")
    digest: str = sha256(key).hexdigest()
    return f"{_env('DEVENV_STARTER_DIR') or SOCKET_DIR}/{digest[:32]}.sock"


def run(data_root: str, argv: list[str]) -> int | None:
    """Have the data root's starter run ``devenv container`` + ``argv``: its exit code, or None when no
    starter took the command (nothing was done: run it here)."""
    global declined
    import _socket

    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            sock.settimeout(ACCEPT_TIMEOUT)  # (a starter that does not answer: work alone; a worker that
            sock.connect(socket_name(data_root))  # answers later finds us gone and ends)
            payload = _encode(argv)
            fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))
            data = len(payload).to_bytes(4, "big") + payload
            sent = sock.sendmsg([data], [(_SOL_SOCKET, _SCM_RIGHTS, fds)])
            if sent < len(data):
                sock.sendall(data[sent:])
            reply = sock.recv(1)
            if reply != b"A":  # (F: it leaves; U: it cannot stand for us; b"": it went away)
                declined = reply == b"U"
                return None
            sock.settimeout(None)
        except OSError:
            return None
        return _wait(sock)
    finally:
        sock.close()


def _encode(argv: list[str]) -> bytes:
    mask = posix.umask(0o22)
    posix.umask(mask)
    fields = [posix.getcwd().encode(errors="surrogateescape"), str(mask).encode(), str(len(argv)).encode()]
    fields += [a.encode(errors="surrogateescape") for a in argv]
    fields += [k + b"=" + v for k, v in posix.environ.items()]
    return b"\0".join(fields)


def _wait(sock: Any) -> int:
    """Forward signals to the worker until it sends the exit code."""
    import _signal  # type: ignore[import-not-found]  # (signal imports enum: start-up time)

    forwarded: list[int] = []

    def forward(signum: int, frame: object) -> None:
        forwarded.append(signum)
        try:  # noqa: SIM105 - (contextlib: an import on this path)
            sock.send(b"S" + bytes((signum,)))
        except OSError:
            pass

    for sig in FORWARDED:
        _signal.signal(sig, forward)
    buf = b""
    while len(buf) < 5:
        try:
            chunk = sock.recv(64)
        except OSError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
    if len(buf) >= 5 and buf[:1] == b"X":
        return int.from_bytes(buf[1:5], "big", signed=True)
    for sig in FORWARDED:
        _signal.signal(sig, _signal.SIG_DFL)
    if forwarded and forwarded[-1] != 28:  # the worker died of the signal the CLI got: so does the CLI
        posix.kill(posix.getpid(), forwarded[-1])
    sys.stderr.write(
        "error: the devenv starter's worker running this command exited without an exit code\n"
        "(the container, if it started, keeps running: `devenv container ls -a` shows it)\n"
    )
    return 125
