"""Progress events: how the library tells the CLI what it is doing, without printing.

Library functions take a ``Reporter`` (default: :data:`NULL`) and call ``reporter.event(kind, **fields)``.
The CLI turns events into text on stderr (rich) or one JSON object per line (``--log-format json``).
Event kinds are short dotted names (``pull.layer``, ``build.step``, ``hook.output``...); the fields are
JSON-serialisable values.
"""

from __future__ import annotations

from typing import Any, Protocol


class Reporter(Protocol):
    def event(self, kind: str, /, **fields: Any) -> None: ...


class NullReporter:
    def event(self, kind: str, /, **fields: Any) -> None:
        return None


class RecordingReporter:
    """Keeps every event; for tests and for callers that want to inspect progress."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def event(self, kind: str, /, **fields: Any) -> None:
        self.events.append((kind, fields))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]


NULL: Reporter = NullReporter()
