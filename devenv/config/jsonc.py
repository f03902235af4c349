"""A small JSON-with-comments reader that remembers where every value came from.

It accepts what the reference tool's ``jsonc-parser`` accepts for a well-formed file: ``//`` and
``/* */`` comments outside strings, trailing commas before ``}`` and ``]``, duplicate keys (the last
value wins, the key keeps its first place), a UTF-8 byte-order mark, CRLF line ends, and the same set
of Unicode white-space characters. Raw tabs and other control characters inside strings are
tolerated (jsonc-parser keeps them too); line breaks inside strings are not.

Unlike jsonc-parser, which recovers silently from any error, every syntax error is reported as a
:class:`devenv.errors.ConfigError` with ``line:col``, the JSON location being read, an excerpt with a
caret, and what was expected there.

Numbers follow JavaScript: integers stay ``int``; a number with a fraction or exponent becomes
``float`` unless it is integral (``1.0`` and ``1e3`` read as ``1`` and ``1000``, as the reference
prints them).
"""

from __future__ import annotations

import bisect
import json.decoder
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.errors import ConfigError

PathKey = tuple[str | int, ...]
"""The location of a value: object keys and array indexes from the document root."""

_WS_CHARS = (
    " \t\n\r\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_INVISIBLE = {
    "\v": "vertical tab",
    "\f": "form feed",
    "\u00a0": "no-break space",
    "\u1680": "ogham space mark",
    **{chr(c): "space" for c in range(0x2000, 0x200B)},
    "\u200b": "zero width space",
    "\u2028": "line separator",
    "\u2029": "paragraph separator",
    "\u202f": "narrow no-break space",
    "\u205f": "medium mathematical space",
    "\u3000": "ideographic space",
    "\ufeff": "byte-order mark",
}
_DELIMITERS = frozenset(' \t\n\r{}[]":,/') | frozenset(_INVISIBLE)
_LINE_BREAKS = "\n\r"  # as jsonc-parser: U+2028/9 do not end a comment or a string
# White space and comments, in one greedy match. An unterminated block comment does not match "/*".
_SKIP = re.compile(rf"(?:[{_WS_CHARS}]+|//[^{_LINE_BREAKS}]*|/\*.*?\*/)*", re.DOTALL)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_STRING_LINE_BREAK = re.compile(rf"[{_LINE_BREAKS}]")
_EDITOR_LINE_BREAK = re.compile(r"[\n\r]")
_BAD_ESCAPE = 'invalid escape in string: expected one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX'
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]  # the C scanner: decodes escapes, reports the end offset


@dataclass(frozen=True)
class Span:
    """Where one value sits in the text: character offsets, and its key's offset inside an object."""

    start: int
    end: int
    key_start: int | None = None


@dataclass(frozen=True)
class Document:
    """A parsed file: the value, where each value came from, and how to turn offsets into positions."""

    value: Any
    text: str
    path: str | None
    spans: dict[PathKey, Span] = field(repr=False)
    duplicate_keys: tuple[tuple[PathKey, int], ...] = ()
    _line_starts: list[int] = field(default_factory=list, repr=False, compare=False)

    def position(self, offset: int) -> tuple[int, int]:
        """1-based ``(line, column)`` of a character offset (CRLF counts as one line break)."""
        starts = self._line_starts
        if not starts:
            starts.extend(_line_starts(self.text))
        index = bisect.bisect_right(starts, offset) - 1
        col = offset - starts[index] + 1
        if index == 0 and self.text.startswith("\ufeff") and offset > 0:
            col -= 1  # editors do not count the byte-order mark
        return index + 1, col

    def locate(self, where: PathKey) -> tuple[int, int] | None:
        """``(line, column)`` of the value at ``where``, or of its nearest located parent."""
        while True:
            span = self.spans.get(where)
            if span is not None:
                return self.position(span.start)
            if not where:
                return None
            where = where[:-1]

    def error(self, where: PathKey, message: str, *, remedy: str | None = None, key: bool = False) -> ConfigError:
        """A :class:`ConfigError` pointing at the value (or its key) at ``where``."""
        span = None
        probe = where
        while span is None:
            span = self.spans.get(probe)
            if span is None and not probe:
                break
            if span is None:
                probe = probe[:-1]
        start = end = 0
        if span is not None:
            start, end = span.start, span.end
            if key and span.key_start is not None:
                start = span.key_start
                end = self.text.find(":", start) if self.text.find(":", start) != -1 else start + 1
        line, col = self.position(start)
        return ConfigError(
            message,
            path=self.path,
            line=line,
            col=col,
            pointer=format_pointer(where) or None,
            excerpt=excerpt(self.text, start, end),
            remedy=remedy,
        )


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for match in re.finditer(r"\r\n|[\n\r]", text):  # editors do not break lines at U+2028/9
        starts.append(match.end())
    return starts


def format_pointer(where: PathKey) -> str:
    """A readable location: ``forwardPorts[1]``, ``build.args.VARIANT``, ``features["ghcr.io/x/y:1"]``."""
    out: list[str] = []
    for part in where:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(out)


def excerpt(text: str, start: int, end: int) -> str:
    """The source line holding ``start``, numbered, with carets under ``start..end`` (on that line)."""
    line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
    match = _EDITOR_LINE_BREAK.search(text, start)
    line_end = match.start() if match else len(text)
    line_no = len(_line_starts(text[:line_start])) if line_start else 1
    source = text[line_start:line_end].replace("\ufeff", "")
    shift = len(text[line_start:start]) - len(text[line_start:start].replace("\ufeff", ""))
    col = start - line_start - shift
    if len(source) > 160:  # long lines: show a window around the error
        lo = max(0, col - 60)
        source = ("…" if lo else "") + source[lo : lo + 120] + "…"
        col = col - lo + (1 if lo else 0)
    width = max(1, min(end, line_end) - start)
    width = min(width, max(1, len(source) - col))
    gutter = f"{line_no:>5} | "
    pad = "".join("\t" if ch == "\t" else " " for ch in source[:col])
    return f"{gutter}{source}\n{' ' * (len(gutter) - 2)}| {pad}{'^' * width}"


def _describe(text: str, pos: int) -> str:
    if pos >= len(text):
        return "the end of the file"
    word = _WORD.match(text, pos)
    if word:
        return repr(word.group())
    return repr(text[pos])


class _Parser:
    def __init__(self, text: str, path: str | None) -> None:
        self.text = text
        self.path = path
        self.spans: dict[PathKey, Span] = {}
        self.duplicates: list[tuple[PathKey, int]] = []
        self.line_starts: list[int] = []

    def fail(self, pos: int, where: PathKey, message: str, end: int | None = None) -> ConfigError:
        if not self.line_starts:
            self.line_starts = _line_starts(self.text)
        index = bisect.bisect_right(self.line_starts, pos) - 1
        col = pos - self.line_starts[index] + 1
        if index == 0 and self.text.startswith("\ufeff") and pos > 0:
            col -= 1  # editors do not count the byte-order mark
        return ConfigError(
            message,
            path=self.path,
            line=index + 1,
            col=col,
            pointer=format_pointer(where) or None,
            excerpt=excerpt(self.text, pos, end if end is not None else pos + 1),
        )

    def skip(self, pos: int, where: PathKey) -> int:
        text = self.text
        pos = _SKIP.match(text, pos).end()  # type: ignore[union-attr]
        if text.startswith("/*", pos):
            raise self.fail(pos, where, "unterminated /* comment: expected */ before the end of the file")
        if pos and text[pos - 1] in _INVISIBLE and pos < len(text) and text[pos] not in _DELIMITERS:
            # jsonc-parser reads only space and tab as white space: another blank glued to a number or
            # true/false/null makes one unknown token with it, and the value is silently dropped.
            name = _INVISIBLE[text[pos - 1]]
            raise self.fail(
                pos - 1,
                where,
                f"invisible character U+{ord(text[pos - 1]):04X} ({name}) right before a value: "
                "the reference tool drops this value; replace the character with a space",
            )
        return pos

    def document(self) -> Any:
        pos = self.skip(0, ())
        if pos >= len(self.text):
            raise self.fail(pos, (), 'the file is empty: expected a JSON object such as {"image": "..."}')
        value, pos = self.value(pos, ())
        pos = self.skip(pos, ())
        if pos < len(self.text):
            raise self.fail(pos, (), f"unexpected {_describe(self.text, pos)} after the end of the top-level value")
        return value

    def value(self, pos: int, where: PathKey, key_start: int | None = None) -> tuple[Any, int]:
        text = self.text
        ch = text[pos] if pos < len(text) else ""
        value: Any
        if ch == "{":
            value, end = self.object(pos, where)
        elif ch == "[":
            value, end = self.array(pos, where)
        elif ch == '"':
            value, end = self.string(pos, where)
        else:
            number = _NUMBER.match(text, pos)
            if number:
                value, end = _number(number.group()), number.end()
                follow = _WORD.match(text, end)
                if follow or text.startswith(".", end):
                    raise self.fail(pos, where, f"invalid number {text[pos : end + 1]!r}", end + 1)
            else:
                word = _WORD.match(text, pos)
                literal = word.group() if word else None
                if literal == "true":
                    value = True
                elif literal == "false":
                    value = False
                elif literal == "null":
                    value = None
                else:
                    raise self.fail(
                        pos,
                        where,
                        f"expected a value (string, number, object, array, true, false or null), "
                        f"found {_describe(text, pos)}",
                        word.end() if word else None,
                    )
                end = word.end()  # type: ignore[union-attr]
        self.spans[where] = Span(pos, end, key_start)
        return value, end

    def string(self, pos: int, where: PathKey) -> tuple[str, int]:
        try:
            value, end = _scanstring(self.text, pos + 1, False)
        except ValueError as exc:
            offset = getattr(exc, "pos", pos)
            if "Unterminated" in str(exc):
                raise self.fail(pos, where, "unterminated string: expected a closing '\"'") from None
            raise self.fail(offset, where, _BAD_ESCAPE) from None
        brk = _STRING_LINE_BREAK.search(self.text, pos + 1, end)
        if brk:
            raise self.fail(pos, where, "unterminated string: expected a closing '\"' before the end of the line")
        return value, end

    def object(self, pos: int, where: PathKey) -> tuple[dict[str, Any], int]:
        text = self.text
        result: dict[str, Any] = {}
        pos = self.skip(pos + 1, where)
        while True:
            if pos >= len(text):
                raise self.fail(pos, where, "unexpected end of the file: expected '}' to close the object")
            if text[pos] == "}":
                return result, pos + 1
            if text[pos] != '"':
                found = _describe(text, pos)
                raise self.fail(pos, where, f"expected a property name in double quotes or '}}', found {found}")
            key_start = pos
            key, pos = self.string(pos, where)
            pos = self.skip(pos, where)
            if not text.startswith(":", pos):
                found = _describe(text, pos)
                raise self.fail(pos, where, f"expected ':' after the property name {json.dumps(key)}, found {found}")
            pos = self.skip(pos + 1, where)
            child = (*where, key)
            if key in result:
                self.duplicates.append((child, key_start))
                # Forget where the replaced value's children were.
                for stale in [p for p in self.spans if p[: len(child)] == child]:
                    del self.spans[stale]
            result[key], pos = self.value(pos, child, key_start)
            pos = self.skip(pos, where)
            if text.startswith(",", pos):
                pos = self.skip(pos + 1, where)
            elif not text.startswith("}", pos):
                found = _describe(text, pos)
                raise self.fail(pos, where, f"expected ',' or '}}' after the value of {json.dumps(key)}, found {found}")

    def array(self, pos: int, where: PathKey) -> tuple[list[Any], int]:
        text = self.text
        result: list[Any] = []
        pos = self.skip(pos + 1, where)
        while True:
            if pos >= len(text):
                raise self.fail(pos, where, "unexpected end of the file: expected ']' to close the array")
            if text[pos] == "]":
                return result, pos + 1
            item, pos = self.value(pos, (*where, len(result)))
            result.append(item)
            pos = self.skip(pos, where)
            if text.startswith(",", pos):
                pos = self.skip(pos + 1, where)
            elif not text.startswith("]", pos):
                raise self.fail(pos, where, f"expected ',' or ']' after an array item, found {_describe(text, pos)}")


def _number(literal: str) -> int | float:
    if "." not in literal and "e" not in literal and "E" not in literal:
        if len(literal) <= 17:
            value = int(literal)
            if abs(value) <= 2**53:
                return value
        literal += ".0"  # beyond 2**53 JavaScript keeps only a double (123456789012345678 -> ...680)
    number = float(literal)
    if number.is_integer() and abs(number) <= 2**53:
        return int(number)
    return number


def parse(text: str, path: str | Path | None = None) -> Document:
    """Parse JSON with comments; raises :class:`ConfigError` with a position on any syntax error."""
    parser = _Parser(text, str(path) if path is not None else None)
    try:
        value = parser.document()
    except RecursionError:
        raise ConfigError("the document is nested too deeply", path=parser.path, line=1, col=1) from None
    return Document(value, text, parser.path, parser.spans, tuple(parser.duplicates))


def decode(data: bytes, path: str | Path | None = None) -> str:
    """Bytes of a config file as text: UTF-8 (a BOM is dropped by the reader as white space)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data[: exc.start].decode("utf-8", "replace")
        line = text.count("\n") + 1
        col = exc.start - (text.rfind("\n") + 1 if "\n" in text else 0) + 1
        raise ConfigError(
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            path=str(path) if path is not None else None,
            line=line,
            col=col,
            remedy="save the file as UTF-8",
        ) from None
