"""The starter: ``devenv container run`` answered by a process that has the start path loaded already.

A ``run --rm IMAGE true`` lasts a few tens of milliseconds, and a good part of that is the interpreter
loading the CLI's and the supervisor's modules. So a ``devenv container run`` that did the work itself
leaves a *starter* behind when it exits: a process with those modules imported, waiting on a Unix
socket, which exits by itself once nobody has used it for ``DEVENV_STARTER_LINGER`` seconds (10 by
default; 0: never start one). The next ``run`` sends it its arguments, environment, working directory,
umask and standard input, output and error (SCM_RIGHTS); the starter forks a *worker* that runs the
command exactly as the CLI would (:func:`devenv.cli.main.main`) and sends the exit code back, and the
CLI exits with it. The CLI forwards the signals it receives (Ctrl-C, SIGTERM, window size changes) to
the worker; a worker whose CLI went away (killed) is killed too, as the CLI process it stands for.

Nothing depends on the starter. When none answers (none started yet, it is leaving or was killed, its
modules are older than the files on disk: it checks on every request and then leaves), the CLI does
the work itself. A killed starter loses nothing: its workers, the supervisors and the containers are
processes of their own.

The socket is named after the data root, the interpreter and this source tree, in a directory only its
owner can enter (``/run/devenv-starter``; ``DEVENV_STARTER_DIR``), and the peer's uid must be the
starter's. Protocol, one connection per command: the client sends ``>I`` length + payload (NUL-separated:
cwd, umask, argc, argv..., environment entries) with its descriptors 0, 1 and 2; the worker answers
``A`` (accepted), later ``X`` + ``>i`` exit code, or ``F`` (do it yourself: the starter leaves, its
code is stale) or ``U`` (do it yourself: the client does not stand where the starter does). The client
sends ``S`` + a signal number.

The client half (:mod:`.starter_client`) imports only builtin modules, not even ``os``: it runs before
anything else in the CLI.
"""

from __future__ import annotations

import os
import sys

from devenv.runtime.embedded.starter_client import (  # noqa: F401 - (the client half, re-exported)
    FORWARDED,
    SOURCE,
    linger,
    socket_name,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

_PR_SET_PDEATHSIG = 1
_BOOT = "import sys; sys.path[:] = sys.argv[2:]; from devenv.runtime.embedded.starter import main; main()"


# -- starting one -------------------------------------------------------------------------------------------


def spawn(data_root: str) -> None:
    """Start a starter for ``data_root`` in the background (a session of its own; not waited for: the
    caller is about to exit). If another one serves that socket already, the new one exits at once."""
    log = os.path.join(data_root, "starter.log")
    try:  # noqa: SIM105
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-S", "-c", _BOOT, data_root, *sys.path],
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
            ],
            setsid=True,
        )
    except (OSError, ValueError):
        pass  # (no starter: the next run does the work itself again)


# -- server -------------------------------------------------------------------------------------------------

# What a ``container run`` imports, loaded before the first request.
PRELOAD = (
    "devenv.cli.main",
    "devenv.cli.container_fast",
    "devenv.cli.container_args",
    "devenv.cli.output",
    "devenv.runtime.embedded.spawn",
    "devenv.runtime.embedded.supervisor",
    "devenv.runtime.embedded.lifecycle",
    "devenv.runtime.embedded.run",
    "devenv.runtime.embedded.image_source",
    "devenv.runtime.embedded.attach",
    "devenv.runtime.embedded.names",
    "devenv.network.agent",
)


def main() -> None:  # pragma: no cover - the starter process (python -S -c _BOOT DATA_ROOT PATH...)
    os.closerange(3, 65536)
    os.chdir("/")  # (not the first CLI's directory: a worker takes its client's)
    code = 1
    try:
        code = serve(sys.argv[1], linger())
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def serve(data_root: str, idle: float) -> int:
    """Serve ``data_root``'s ``container run`` requests until none came for ``idle`` seconds."""
    import contextlib
    import time

    from devenv.fsutil import try_hold_lock

    if idle <= 0:
        return 0
    path = socket_name(data_root)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    os.chmod(os.path.dirname(path), 0o700)
    lock_path = path.removesuffix(".sock") + ".lock"
    deadline = time.monotonic() + 2.0
    while try_hold_lock(lock_path) is None:  # held for the starter's life; one that is leaving lets go soon
        if time.monotonic() > deadline:
            return 0  # another starter serves this socket
        time.sleep(0.01)
    try:
        return _serve_locked(data_root, path, idle)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # (still held: a starter waiting for it takes a new one)


def _serve_locked(data_root: str, path: str, idle: float) -> int:
    import importlib
    import time

    for name in PRELOAD:
        importlib.import_module(name)
    from devenv.runtime.embedded import caps, seccomp

    if seccomp.available():  # (libseccomp loaded once, and the default profile compiled, here)
        seccomp.program(seccomp.default_profile(list(caps.DOCKER_DEFAULT)))
    fingerprint = _fingerprint()
    with open("/proc/self/comm", "w") as f:
        f.write("devenv-starter")
    import contextlib
    import gc
    import signal

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
    gc.collect()
    gc.freeze()  # (what the workers share with the starter stays shared)
    with _listening(path) as listener:
        while True:  # a worker forked ahead (with its spare supervisor) takes the next command
            notify_r, notify_w = os.pipe2(os.O_CLOEXEC)
            starter = os.getpid()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the worker
                code = 125
                try:
                    os.close(notify_r)
                    code = _worker(listener, notify_w, fingerprint, starter)
                except BaseException:
                    import traceback

                    traceback.print_exc()
                finally:
                    os._exit(code)
            os.close(notify_w)
            news = _news(notify_r, idle, data_root)
            os.close(notify_r)
            if news == b"A":
                continue  # (it runs a command: fork the next one)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # (idle, or its root is gone: a client it may have just
            if news == b"":  # accepted reads EOF before "A" and works alone)
                time.sleep(0.1)  # (it died without a word: see the log; not in a tight loop)
                continue
            return 0  # idle, the root is gone, or our code changed on disk ("S")


def _news(fd: int, idle: float, data_root: str) -> bytes | None:
    """What the worker tells (``A``: it took a command, ``S``: our code is stale, b"": it died); None
    after ``idle`` seconds without news, or once the data root is gone."""
    import select
    import time

    deadline = time.monotonic() + idle
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not os.path.isdir(data_root):
            return None
        ready, _, _ = select.select([fd], [], [], min(left, 5.0))
        if ready:
            return os.read(fd, 1)


def _worker(listener: socket.socket, notify: int, fingerprint: dict[str, int], starter: int) -> int:  # pragma: no cover
    """Wait for a command (with a supervisor forked already), tell the starter, and run it. A waiting
    worker dies with its starter (killed: it would otherwise hold the socket forever); one that took a
    command no longer does."""
    import contextlib
    import gc
    import signal

    from devenv.runtime.embedded import spawn
    from devenv.runtime.embedded.syscalls import real

    real().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != starter:  # (it died before that)
        return 0
    gc.disable()  # (as the CLI: a short life)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    spawn.fork_spare()
    listener.settimeout(None)
    while True:
        conn, _ = listener.accept()
        request = _take(conn, fingerprint)
        if request == "stale":
            with contextlib.suppress(OSError):
                conn.sendall(b"F")
            os.write(notify, b"S")
            return 0
        if isinstance(request, tuple):
            break
        conn.close()
    real().prctl(_PR_SET_PDEATHSIG, 0)
    os.write(notify, b"A")
    os.close(notify)
    listener.close()
    fds, payload = request
    return _work(conn, fds, payload)


class _listening:
    """The bound socket; unlinked before it is closed (a client then connects to nothing and works alone)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> socket.socket:
        import contextlib
        import socket

        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # (left by a starter that was killed)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.bind(self.path)
        self.sock.listen(64)
        return self.sock

    def __exit__(self, *exc: object) -> None:
        import contextlib

        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.sock.close()


def _fingerprint() -> dict[str, int]:
    """Modification times of this source tree's modules that are loaded."""
    found = {}
    prefix = os.path.join(SOURCE, "devenv") + os.sep
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(prefix):
            try:
                found[path] = os.stat(path).st_mtime_ns
            except OSError:
                found[path] = -1
    return found


def _fresh(fingerprint: dict[str, int]) -> bool:
    for path, mtime in fingerprint.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return False
        except OSError:
            return False
    return True


def _take(conn: socket.socket, fingerprint: dict[str, int]) -> tuple[list[int], bytes] | str | None:
    """A request: the client's descriptors and payload; "stale" when our code changed on disk (this
    starter must leave); None for a bad one, another user's, or one standing elsewhere (see
    :func:`_standing`; it is told to work alone)."""
    import contextlib
    import socket
    import struct

    fds: list[int] = []
    try:
        conn.settimeout(5.0)
        cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        peer, uid, _ = struct.unpack("3i", cred)
        if uid != os.getuid():
            return None
        msg, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(3 * 4))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(struct.unpack(f"{len(data) // 4}i", data[: len(data) - len(data) % 4]))
        if len(msg) < 4 or len(fds) != 3:
            raise OSError("a request without its three descriptors")
        size = int.from_bytes(msg[:4], "big")
        payload = msg[4:]
        while len(payload) < size:
            chunk = conn.recv(size - len(payload))
            if not chunk:
                raise OSError("the request was cut short")
            payload += chunk
        if not _fresh(fingerprint):
            raise _Stale()
        if _standing(peer) != _standing(os.getpid()):
            raise _Unlike()
        return fds, payload
    except (OSError, _Stale, _Unlike) as exc:
        for fd in fds:
            os.close(fd)
        if isinstance(exc, _Stale):
            return "stale"
        if isinstance(exc, _Unlike):
            with contextlib.suppress(OSError):
                conn.sendall(b"U")
            return None
        sys.stderr.write(f"devenv starter: bad request: {exc}\n")
        return None


class _Stale(Exception):
    pass


class _Unlike(Exception):
    """The client does not stand where the starter does: it works alone."""


_STANDING = (b"CapInh:", b"CapPrm:", b"CapEff:", b"CapBnd:", b"CapAmb:", b"NoNewPrivs:", b"Seccomp:", b"Groups:")
_NAMESPACES = ("mnt", "pid", "net", "user", "uts", "ipc", "cgroup")


def _standing(pid: int) -> tuple[object, ...]:
    """What the worker must share with the client it stands for (its capabilities, no_new_privs,
    seccomp, groups, namespaces and resource limits are the starter's): a client with fewer privileges,
    or in other namespaces, gets nothing from the starter it could not do itself."""
    with open(f"/proc/{pid}/status", "rb") as f:
        status = [line for line in f.read().splitlines() if line.startswith(_STANDING)]
    with open(f"/proc/{pid}/limits", "rb") as f:
        limits = f.read()
    spaces = [os.stat(f"/proc/{pid}/ns/{ns}").st_ino for ns in _NAMESPACES]
    return (status, limits, spaces)


def _work(conn: socket.socket, fds: list[int], payload: bytes) -> int:  # pragma: no cover - the worker
    """Become the CLI process that sent ``payload`` and run its command; returns the exit code (sent)."""
    import fcntl
    import signal

    fields = [os.fsdecode(f) for f in payload.split(b"\0")]
    cwd, umask, argc = fields[0], int(fields[1]), int(fields[2])
    argv, env = fields[3 : 3 + argc], fields[3 + argc :]
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.chdir(cwd)
    os.umask(umask)
    os.environ.clear()
    os.environ.update(item.split("=", 1) for item in env if "=" in item)  # type: ignore[misc]
    sys.stdout.reconfigure(line_buffering=os.isatty(1))  # type: ignore[union-attr]
    conn.settimeout(None)
    conn.sendall(b"A")
    # The CLI's signals come as S frames; its end (killed) as EOF: SIGIO on either.
    pending = bytearray()
    worker = os.getpid()

    def on_client(signum: int, frame: object) -> None:
        if os.getpid() != worker:  # (a process forked since: the supervisor, a container's init)
            return
        while True:
            try:
                data = conn.recv(64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                os.kill(os.getpid(), signal.SIGKILL)  # the CLI was killed: so is the process it stands for
            pending.extend(data)
            while len(pending) >= 2:
                kind, sig = pending[0], pending[1]
                del pending[:2]
                if kind == ord("S"):
                    signal.raise_signal(sig)

    signal.signal(signal.SIGIO, on_client)
    conn.setblocking(False)
    fcntl.fcntl(conn.fileno(), fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(conn.fileno(), fcntl.F_SETFL, fcntl.fcntl(conn.fileno(), fcntl.F_GETFL) | os.O_ASYNC)
    on_client(signal.SIGIO, None)  # (what came before the handler was there)
    from devenv.cli import container_fast
    from devenv.cli.main import main as cli_main

    container_fast.short_lived = True
    try:
        code = cli_main(["container", *argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGIO, signal.SIG_IGN)
    conn.setblocking(True)
    conn.sendall(b"X" + code.to_bytes(4, "big", signed=True))
    return code
