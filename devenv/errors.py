"""The error tree of devenv.

Every failure a user can meet is a :class:`DevenvError`: it carries a message (what went wrong,
and where), an optional remedy (what to do about it) and a stable exit code. Library exceptions
(OSError, httpx, pyroute2, paramiko) are translated into this tree at the boundary that meets them.

::

    DevenvError                      exit 1
    ├── UsageError                   exit 2   bad command-line input
    ├── ConfigError                  exit 3   devcontainer.json / feature metadata (path:line:col)
    │   └── LockfileError            exit 3   devcontainer-lock.json drift or damage
    ├── ImageError                   exit 4
    │   ├── ImageNotFound            exit 4   no such image in the store
    │   ├── RegistryError            exit 4   talking to a registry (HTTP, auth, digests)
    │   │   └── AuthError            exit 4
    │   └── StoreError               exit 4   content store / snapshots damaged or locked
    ├── BuildError                   exit 5   Dockerfile parse (Dockerfile:LINE) or a failed step
    ├── ContainerError               exit 6   embedded runtime / Docker engine
    │   └── ContainerNotFound        exit 6
    ├── NetworkError                 exit 7   bridge, NAT, DNS, port forwarding
    ├── HostError                    exit 8   local or SSH host commands
    ├── WorkspaceError               exit 9   up/exec/stop/down of a workspace
    │   └── LifecycleCommandFailed   exit 9   a lifecycle hook failed
    └── Interrupted                  exit 130 Ctrl-C
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # (no typing/pathlib/dataclasses at run time: every fast CLI path imports this module)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import NamedTuple


class DevenvError(Exception):
    """Base of every error devenv reports to users."""

    exit_code: int = 1

    def __init__(self, message: str, *, remedy: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.detail = detail

    def __str__(self) -> str:
        return self.message

    def render(self) -> str:
        """The full text shown to a user: message, detail, then what to do."""
        parts = [self.message]
        if self.detail:
            parts.append(self.detail.rstrip())
        if self.remedy:
            parts.append(f"hint: {self.remedy}")
        return "\n".join(parts)


class UsageError(DevenvError):
    exit_code = 2


if TYPE_CHECKING:

    class SourcePosition(NamedTuple):
        """A 1-based line and column in a source file."""

        line: int
        col: int

else:
    SourcePosition = namedtuple("SourcePosition", "line col")
    SourcePosition.__doc__ = "A 1-based line and column in a source file."


class ConfigError(DevenvError):
    """An error in a configuration file, located as ``path:line:col: pointer: message``."""

    exit_code = 3

    def __init__(
        self,
        msg: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        col: int | None = None,
        pointer: str | None = None,
        excerpt: str | None = None,
        remedy: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.col = col
        self.pointer = pointer
        self.msg = msg
        self.excerpt = excerpt
        where = self.path or "<config>"
        if line is not None:
            where += f":{line}"
            if col is not None:
                where += f":{col}"
        text = f"{where}: "
        if pointer:
            text += f"{pointer}: "
        text += msg
        super().__init__(text, remedy=remedy, detail=excerpt)


class LockfileError(ConfigError):
    pass


class ImageError(DevenvError):
    exit_code = 4


class ImageNotFound(ImageError):
    pass


class RegistryError(ImageError):
    pass


class AuthError(RegistryError):
    pass


class StoreError(ImageError):
    pass


class BuildError(DevenvError):
    exit_code = 5


class ContainerError(DevenvError):
    exit_code = 6


class ContainerNotFound(ContainerError):
    pass


class NetworkError(DevenvError):
    exit_code = 7


class HostError(DevenvError):
    exit_code = 8


class WorkspaceError(DevenvError):
    exit_code = 9


class LifecycleCommandFailed(WorkspaceError):
    def __init__(self, hook: str, exit_code: int | None, *, detail: str | None = None) -> None:
        self.hook = hook
        self.command_exit_code = exit_code
        code = f"exit code {exit_code}" if exit_code is not None else "no exit code"
        super().__init__(
            f"the {hook} failed ({code})",
            detail=detail,
            remedy="fix the command in devcontainer.json, then run `devenv up` again; "
            "hooks that already succeeded are not run twice",
        )


class Interrupted(DevenvError):
    exit_code = 130
