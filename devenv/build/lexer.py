"""Dockerfile text into raw instruction nodes, as BuildKit's parser reads it.

Handles the parser directives at the top (``# syntax=``, ``# escape=``, ``# check=``), whole-line
comments, line continuations with the escape character (comment and empty lines inside a
continuation are skipped), a UTF-8 BOM, CRLF line ends, leading ``--flag=value`` words, and heredocs
(``<<EOF``, ``<<-EOF``, ``<<"EOF"``) for RUN, COPY and ADD. Every node knows its first and last line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devenv.build.shell_words import ExpansionError, Lexer
from devenv.errors import BuildError

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_KNOWN_DIRECTIVES = {"syntax", "escape", "check"}
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
HEREDOC_INSTRUCTIONS = {"run", "copy", "add"}


class DockerfileError(BuildError):
    """A Dockerfile that cannot be parsed or planned: ``Dockerfile:LINE: message``."""

    def __init__(self, msg: str, *, path: str = "Dockerfile", line: int | None = None, remedy: str | None = None):
        self.path = path
        self.line = line
        self.msg = msg
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {msg}", remedy=remedy)


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str  # every line with its newline, as written (tabs are stripped later when chomp)
    expand: bool  # False when the name was quoted: no variable expansion in the content
    chomp: bool  # <<- : leading tabs removed
    fd: int = 0

    def text(self) -> str:
        if not self.chomp:
            return self.content
        return "".join(line.lstrip("\t") for line in self.content.splitlines(keepends=True))


@dataclass(frozen=True)
class Node:
    keyword: str  # lower case, e.g. "run"
    flags: tuple[str, ...]  # leading "--name=value" words, quotes removed
    rest: str  # the text after the keyword and flags
    original: str  # the whole logical line
    line: int  # 1-based first line
    end_line: int
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class ParsedDockerfile:
    nodes: tuple[Node, ...]
    escape: str = "\\"
    syntax: str | None = None
    directives: tuple[tuple[str, str], ...] = ()


def _is_comment(line: str) -> bool:
    return line.lstrip(" \t").startswith("#")


def split_flags(text: str) -> tuple[list[str], str]:
    """Leading ``--flag`` words of an instruction (BuildKit's ``extractBuilderFlags``)."""
    words: list[str] = []
    word = ""
    blank_ok = False
    phase = "spaces"
    quote = ""
    pos = 0
    n = len(text)
    while pos <= n:
        ch = text[pos] if pos < n else ""
        if phase == "spaces":
            if ch == "":
                break
            if ch.isspace():
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or text[pos + 1] != "-":
                return words, text[pos:]
            phase = "word"
        if phase in ("word", "quote") and pos == n:
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == "word":
            if ch.isspace():
                phase = "spaces"
                if word == "--":
                    return words, text[pos:]
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = "quote"
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = text[pos]
            word += ch
            pos += 1
            continue
        if phase == "quote":
            if ch == quote:
                phase = "word"
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    phase = "word"
                    pos += 1
                    continue
                pos += 1
                ch = text[pos]
            word += ch
            pos += 1
    return words, ""


def parse_heredoc(word: str) -> Heredoc | None:
    m = _HEREDOC.match(word)
    if not m:
        return None
    fd = int(m.group(1) or 0)
    chomp = m.group(2) == "-"
    rest = m.group(3)
    if not rest:
        return None
    try:
        name = Lexer().process_word(rest, {})
        words = Lexer().process_words(rest, {})
    except ExpansionError:
        return None
    if len(words) != 1:
        return None
    return Heredoc(name=name, content="", expand=(name == rest), chomp=chomp, fd=fd)


def heredocs_in(line: str) -> list[Heredoc]:
    try:
        words = Lexer(raw_quotes=True, raw_escapes=True).process_words(line, {})
    except ExpansionError:
        return []
    found = [parse_heredoc(w) for w in words]
    return [h for h in found if h is not None]


def parse(text: str, *, path: str = "Dockerfile") -> ParsedDockerfile:
    """Split Dockerfile text into nodes. Raises DockerfileError with the line number."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]

    escape = "\\"
    syntax: str | None = None
    directives: list[tuple[str, str]] = []
    directives_done = False
    seen: set[str] = set()
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")

    nodes: list[Node] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        lineno = i + 1
        i += 1
        if not directives_done:
            m = _DIRECTIVE.match(raw.lstrip())
            key = m.group(1).lower() if m else ""
            if m and key in _KNOWN_DIRECTIVES:
                if key in seen:
                    raise DockerfileError(f"only one {key} parser directive can be used", path=path, line=lineno)
                seen.add(key)
                value = m.group(2).strip()
                directives.append((key, value))
                if key == "escape":
                    if value not in ("\\", "`"):
                        raise DockerfileError(
                            f"invalid escape token '{value}' does not match ` or \\", path=path, line=lineno
                        )
                    escape = value
                    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
                elif key == "syntax":
                    syntax = value
                continue
            directives_done = True
        if _is_comment(raw):
            continue
        line = raw.lstrip()
        start = lineno
        m = continuation.search(line)
        if m is None and not line.strip():
            continue
        if m is not None:
            line = line[: m.start()]
        while m is not None and i < len(lines):
            nxt = lines[i]
            i += 1
            if _is_comment(nxt):
                continue
            if not nxt.strip():
                continue
            m = continuation.search(nxt)
            line += nxt[: m.start()] if m else nxt
        end = i
        stripped = line.strip()
        if not stripped:
            continue
        parts = _WHITESPACE.split(stripped, maxsplit=1)
        keyword = parts[0].lower()
        after = parts[1] if len(parts) > 1 else ""
        flags, rest = split_flags(after)
        heredocs: list[Heredoc] = []
        if keyword in HEREDOC_INSTRUCTIONS and "<<" in line:
            for doc in heredocs_in(line):
                content: list[str] = []
                terminated = False
                while i < len(lines):
                    body = lines[i]
                    i += 1
                    candidate = body.lstrip("\t") if doc.chomp else body
                    if candidate == doc.name:
                        terminated = True
                        break
                    content.append(body + "\n")
                if not terminated:
                    raise DockerfileError(
                        f"unterminated heredoc {doc.name!r}",
                        path=path,
                        line=start,
                        remedy=f"end the heredoc with a line that is exactly {doc.name}",
                    )
                heredocs.append(
                    Heredoc(name=doc.name, content="".join(content), expand=doc.expand, chomp=doc.chomp, fd=doc.fd)
                )
            end = i
        nodes.append(
            Node(
                keyword=keyword,
                flags=tuple(flags),
                rest=rest.strip(),
                original=stripped,
                line=start,
                end_line=end,
                heredocs=tuple(heredocs),
            )
        )
    return ParsedDockerfile(nodes=tuple(nodes), escape=escape, syntax=syntax, directives=tuple(directives))
