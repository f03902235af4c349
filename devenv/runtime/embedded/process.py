"""Turn a forked child, already inside the container's namespaces and root, into the container process.

Shared by the main process (child of the container's init) and by ``exec`` (child of the CLI). Order as
runc's ``init_linux.go``: resolve the user from the container's /etc/passwd; drop the capability bounding
set; seccomp before the uid change when it needs CAP_SYS_ADMIN, else last; groups, gid, uid; the
process's capabilities; no_new_privs; the working directory; ``execvpe``.

Failures before ``execve`` are written as one JSON line ``{"error": ..., "code": N}`` to ``report_fd``
(close-on-exec: a successful exec closes it silently), then the child exits with ``code``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import warnings  # noqa: F401  # os.execvpe imports it: inside the container's root it could not be found

from devenv.runtime.embedded import caps as capabilities
from devenv.runtime.embedded import seccomp, users
from devenv.runtime.embedded.syscalls import PR_SET_NO_NEW_PRIVS

TYPE_CHECKING = False  # (typing is not imported at run time: start-up time)
if TYPE_CHECKING:
    from typing import NoReturn

    from devenv.runtime.embedded.syscalls import Syscalls

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ProcessSpec:
    """What the container process is (a plain class: this module is on the ``exec`` hot path)."""

    def __init__(
        self,
        argv: list[str],
        env: list[str],
        user: str = "",
        workdir: str = "",
        caps: list[str] | None = None,  # None = Docker's default set
        privileged: bool = False,
        no_new_privs: bool = False,
        seccomp: str = "default",
        create_workdir: bool = False,  # the main process gets a missing working directory created (as Docker)
        tty: bool = False,
        argv0: str = "",  # what the program sees as argv[0] ("" = argv[0]; "-bash": a login shell)
    ) -> None:
        self.argv = argv
        self.env = env
        self.user = user
        self.workdir = workdir
        self.caps = list(capabilities.DOCKER_DEFAULT) if caps is None else caps
        self.privileged = privileged
        self.no_new_privs = no_new_privs
        self.seccomp = seccomp
        self.create_workdir = create_workdir
        self.tty = tty
        self.argv0 = argv0


class ProcessSetupError(Exception):
    def __init__(self, message: str, code: int = 126) -> None:
        super().__init__(message)
        self.code = code


def final_env(env: list[str], user: users.ExecUser, tty: bool) -> dict[str, str]:
    """The environment the process sees: ``env`` in order (later wins), plus PATH, HOME and TERM defaults."""
    result: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        if sep:
            result[key] = value
    result.setdefault("PATH", DEFAULT_PATH)
    result.setdefault("HOME", user.home or "/")
    if tty:
        result.setdefault("TERM", "xterm")
    return result


def prepare(sys: Syscalls, spec: ProcessSpec) -> tuple[str, list[str], dict[str, str]]:
    """Everything up to the exec; returns what to exec. Raises ProcessSetupError."""
    try:
        user = users.resolve_in_root(spec.user)
    except users.UserNotFound as exc:
        raise ProcessSetupError(str(exc)) from None
    env = final_env(spec.env, user, spec.tty)
    profile = seccomp.resolve(spec.seccomp, spec.caps, spec.privileged) if seccomp.available() else None
    try:
        capabilities.drop_bounding(sys, spec.caps)
        if profile is not None and not spec.no_new_privs:
            seccomp.load(profile, set_no_new_privs=False)
        os.setgroups(list(user.groups))
        os.setgid(user.gid)
        os.setuid(user.uid)
        capabilities.set_process_caps(sys, spec.caps, user.uid)
        if spec.no_new_privs:
            sys.prctl(PR_SET_NO_NEW_PRIVS, 1)
    except (OSError, seccomp.SeccompError) as exc:
        raise ProcessSetupError(f"cannot set up the process's credentials: {exc}") from None
    workdir = spec.workdir or "/"
    try:
        if spec.create_workdir and not os.path.isdir(workdir):
            os.makedirs(workdir, exist_ok=True)
        os.chdir(workdir)
    except OSError as exc:
        raise ProcessSetupError(f"cannot change to the working directory {workdir}: {exc.strerror}") from None
    if profile is not None and spec.no_new_privs:
        try:
            seccomp.load(profile, set_no_new_privs=True)
        except seccomp.SeccompError as exc:
            raise ProcessSetupError(f"cannot load the seccomp profile: {exc}") from None
    if not spec.argv:
        raise ProcessSetupError("no command given and the image has none", 127)
    return spec.argv[0], [spec.argv0 or spec.argv[0], *spec.argv[1:]], env


def exec_or_report(sys: Syscalls, spec: ProcessSpec, report_fd: int) -> NoReturn:
    """Prepare and exec; on failure report on ``report_fd`` and exit. Never returns."""
    try:
        program, argv, env = prepare(sys, spec)
        try:
            os.execvpe(program, argv, env)
        except FileNotFoundError:
            where = "" if "/" in program else " in $PATH"
            raise ProcessSetupError(f'exec: "{program}": executable file not found{where}', 127) from None
        except PermissionError:
            raise ProcessSetupError(f'exec: "{program}": permission denied', 126) from None
        except OSError as exc:
            code = 127 if exc.errno == errno.ENOENT else 126
            raise ProcessSetupError(f'exec: "{program}": {exc.strerror}', code) from None
    except ProcessSetupError as exc:
        report(report_fd, str(exc), exc.code)
        os._exit(exc.code)
    except BaseException as exc:  # never let a forked child return into the parent's code
        report(report_fd, f"container process setup failed: {exc!r}", 126)
        os._exit(126)


def report(fd: int, message: str, code: int) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps({"error": message, "code": code}) + "\n").encode())


def read_report(fd: int) -> tuple[str, int] | None:
    """Read what a child reported before exec (None when the exec succeeded: EOF without data)."""
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except InterruptedError:
            continue
        if not data:
            break
        chunks.append(data)
    if not chunks:
        return None
    try:
        obj = json.loads(b"".join(chunks).decode(errors="replace").splitlines()[0])
        return str(obj["error"]), int(obj["code"])
    except (ValueError, KeyError, IndexError):
        return b"".join(chunks).decode(errors="replace").strip(), 126
