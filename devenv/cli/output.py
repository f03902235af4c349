"""How commands talk to users: progress on stderr, the result on stdout.

``--log-format text`` (default): progress as human text on stderr; results printed by the
command's own renderer (or as JSON when it has none, like the reference CLI's ``up``).
``--log-format json``: one JSON object per line on stderr for every progress event, and the final
result object as one JSON line on stdout.
"""

from __future__ import annotations

import json
import sys
import time

TYPE_CHECKING = False  # (typing is not imported at run time: the fast CLI paths import this module)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Literal

    LogFormat = Literal["text", "json"]


class Settings:
    """(A plain class, not a dataclass: the fast CLI paths import this module.)"""

    def __init__(self, log_format: LogFormat = "text", debug: bool = False) -> None:
        self.log_format: LogFormat = log_format
        self.debug = debug


settings = Settings()


def set_log_format(value: str | None) -> None:
    """Commands shaped like the reference accept ``--log-format`` themselves; it overrides the global one."""
    if value is None:
        return
    if value not in ("text", "json"):
        from devenv.errors import UsageError

        raise UsageError(f"--log-format must be 'text' or 'json', got {value!r}")
    settings.log_format = value  # type: ignore[assignment]


class TextReporter:
    """Progress events as short human lines on stderr."""

    def event(self, kind: str, /, **fields: Any) -> None:
        message = fields.get("message")
        if message is None:
            detail = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            message = f"{kind} {detail}".rstrip()
        sys.stderr.write(f"{message}\n")
        sys.stderr.flush()


class JsonReporter:
    """Progress events as one JSON object per line on stderr."""

    def event(self, kind: str, /, **fields: Any) -> None:
        record = {"type": kind, "time": round(time.time(), 3), **fields}
        sys.stderr.write(json.dumps(record, default=str) + "\n")
        sys.stderr.flush()


def reporter() -> TextReporter | JsonReporter:
    return JsonReporter() if settings.log_format == "json" else TextReporter()


def result(obj: Any, human: Callable[[Any], str] | None = None) -> None:
    """Print a command's result on stdout."""
    if settings.log_format == "json" or human is None:
        sys.stdout.write(json.dumps(obj, default=str) + "\n")
    else:
        text = human(obj)
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    if settings.log_format == "json":
        JsonReporter().event("warning", message=message)
    else:
        sys.stderr.write(f"warning: {message}\n")
        sys.stderr.flush()


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain, aligned text table (no colours: safe to pipe)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.upper().ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)
