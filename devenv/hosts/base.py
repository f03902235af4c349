"""The contract of a host: run commands (captured or streamed) and answer a few questions about paths."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def error_text(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()


OutputCallback = Callable[[bytes], None]
"""Receives output as it arrives, one line at a time (with its newline, except maybe the last)."""


@dataclass(frozen=True)
class PathOwner:
    uid: int
    gid: int


class Host(Protocol):
    """A machine devenv acts on. ``local`` is this machine; ``ssh`` (later) is another one."""

    name: str

    def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run a command to completion, capturing its output. ``env`` is added to the host's environment.

        Raises HostError when the program cannot be started (not found, not executable).
        """
        ...

    def stream(
        self,
        argv: Sequence[str],
        on_output: OutputCallback,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> int:
        """Run a command, passing stdout and stderr (merged) line by line to ``on_output``; its exit code."""
        ...

    def owner(self, path: str) -> PathOwner:
        """The uid/gid that own ``path`` (raises HostError when it does not exist)."""
        ...

    def is_dir(self, path: str) -> bool: ...

    def git_root(self, path: str) -> str | None:
        """The top of the git work tree ``path`` is in, or None (no git, or not in a repository)."""
        ...
