"""This machine as a :class:`~devenv.hosts.base.Host`: plain subprocesses."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence

from devenv.errors import HostError
from devenv.hosts.base import CommandResult, OutputCallback, PathOwner


def _environ(env: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if env is None else {**os.environ, **env}


def _not_started(argv: Sequence[str], exc: OSError) -> HostError:
    return HostError(
        f"cannot run {argv[0]!r} on this machine: {exc.strerror or exc}",
        remedy=f"install {os.path.basename(argv[0])} or check PATH",
    )


class LocalHost:
    name = "local"

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        try:
            proc = subprocess.run(
                list(argv),
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                env=_environ(env),
                cwd=cwd,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise HostError(f"{argv[0]} did not finish within {timeout} s") from exc
        except OSError as exc:
            raise _not_started(argv, exc) from exc
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    def stream(
        self,
        argv: Sequence[str],
        on_output: OutputCallback,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> int:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=_environ(env),
                cwd=cwd,
            )
        except OSError as exc:
            raise _not_started(argv, exc) from exc
        assert proc.stdout is not None
        with proc.stdout:
            for line in iter(proc.stdout.readline, b""):
                on_output(line)
        return proc.wait()

    def owner(self, path: str) -> PathOwner:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise HostError(f"cannot read the owner of {path}: {exc.strerror}") from exc
        return PathOwner(st.st_uid, st.st_gid)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def git_root(self, path: str) -> str | None:
        # --show-cdup keeps symlinked paths as the user wrote them (unlike --show-toplevel), as the
        # reference does. safe.directory: a root devenv reading a user's repository is not a risk here.
        try:
            res = self.run(["git", "-c", "safe.directory=*", "rev-parse", "--show-cdup"], cwd=path, timeout=30)
        except HostError:
            return None
        if not res.ok:
            return None
        return os.path.normpath(os.path.join(path, res.text().strip()))
