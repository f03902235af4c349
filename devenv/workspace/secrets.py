"""``--secrets-file``: secret environment variables for lifecycle commands and dotfiles, masked in the log.

As the reference CLI: the file is a JSON object (comments allowed) of ``name: value``; the secrets are
added on top of the remote environment of every lifecycle command (``onCreateCommand`` ...
``postAttachCommand``) and of the dotfiles clone and install, but never to the environment ``devenv
exec`` uses, and never written to the workspace state. Every secret value that would appear in the
progress output (hook output lines, messages, error details) is replaced with ``********``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devenv.errors import DevenvError, UsageError

MASK = "********"


def read_secrets_file(path: str) -> dict[str, str]:
    """The secrets of ``path``; a clear :class:`UsageError` when it is missing, unreadable or not an object
    of strings (numbers and booleans are taken as their JSON text, as the reference passes them on)."""
    from devenv.config import jsonc
    from devenv.errors import ConfigError

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UsageError(
            f"--secrets-file {path}: cannot read the secrets file: {exc.strerror}",
            remedy='pass a JSON file like {"NAME": "value"}',
        ) from None
    try:
        value = jsonc.parse(jsonc.decode(data, path), path).value
    except ConfigError as exc:
        raise UsageError(
            f"--secrets-file {path}: the secrets file is not valid JSON",
            detail=exc.render(),
            remedy='write it as a JSON object like {"NAME": "value"}',
        ) from None
    if not isinstance(value, dict):
        raise UsageError(
            f"--secrets-file {path}: the secrets file must hold a JSON object, not {_kind(value)}",
            remedy='write it as a JSON object like {"NAME": "value"}',
        )
    secrets: dict[str, str] = {}
    for name, item in value.items():
        if not name or "=" in name or "\0" in name:
            raise UsageError(f"--secrets-file {path}: {name!r} is not a valid environment variable name")
        if isinstance(item, bool):
            secrets[name] = "true" if item else "false"
        elif isinstance(item, int | float | str):
            secrets[name] = str(item)
        else:
            raise UsageError(
                f"--secrets-file {path}: the value of {name!r} must be a string, not {_kind(item)}",
                remedy='write it as a JSON object like {"NAME": "value"}',
            )
    return secrets


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "an array", dict: "an object", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def mask(text: str, values: tuple[str, ...]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def mask_values(secrets: Mapping[str, str]) -> tuple[str, ...]:
    """The values to hide, longest first (so a secret that contains another is hidden whole)."""
    return tuple(sorted({v for v in secrets.values() if v}, key=len, reverse=True))


class MaskingReporter:
    """A reporter that hides secret values in every string field of the events it passes on."""

    def __init__(self, inner: Any, secrets: Mapping[str, str]) -> None:
        self.inner = inner
        self.values = mask_values(secrets)

    def event(self, kind: str, /, **fields: Any) -> None:
        self.inner.event(kind, **{k: self._masked(v) for k, v in fields.items()})

    def _masked(self, value: Any) -> Any:
        if isinstance(value, str):
            return mask(value, self.values)
        if isinstance(value, list | tuple):
            return [self._masked(v) for v in value]
        if isinstance(value, dict):
            return {k: self._masked(v) for k, v in value.items()}
        return value

    def mask_error(self, exc: BaseException) -> None:
        """Hide the secrets in an error's text before the CLI prints it."""
        if isinstance(exc, DevenvError) and self.values:
            exc.message = mask(exc.message, self.values)
            exc.args = (exc.message,)
            if exc.detail:
                exc.detail = mask(exc.detail, self.values)
            if exc.remedy:
                exc.remedy = mask(exc.remedy, self.values)
