"""Docker's variable expansion and word splitting for Dockerfile instructions (BuildKit's ``shell.Lex``).

Supported, as Docker does: ``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR-word}``, ``${VAR:+word}``,
``${VAR+word}``, ``${VAR:?msg}``, ``${VAR?msg}``, ``${VAR#pat}``, ``${VAR##pat}``, ``${VAR%pat}``,
``${VAR%%pat}``, ``${VAR/pat/repl}``, ``${VAR//pat/repl}``; single quotes (literal), double quotes
(only ``"``, ``$`` and the escape character can be escaped), the escape character outside quotes.
Unset variables expand to the empty string. The names of the variables that were looked up are
recorded, so a build step's cache key can include exactly the build arguments it used.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_SPECIAL_PARAMS = set("*#@!$-?0")


class ExpansionError(ValueError):
    """A syntax error in a word (unterminated quote, bad substitution)."""


@dataclass
class _Words:
    word: str = ""
    words: list[str] = field(default_factory=list)
    in_word: bool = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def get_words(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        if self.pos >= len(self.text):
            return ""
        ch = self.text[self.pos]
        self.pos += 1
        return ch


class _ShellWord:
    def __init__(self, text: str, env: Mapping[str, str], lex: Lexer) -> None:
        self.scanner = _Scanner(text)
        self.env = env
        self.lex = lex
        self.used: set[str] = set()

    def get_env(self, name: str) -> str | None:
        self.used.add(name)
        return self.env.get(name)

    def process(self) -> tuple[str, list[str]]:
        return self.process_stop_on("")

    def process_stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        sc = self.scanner
        while sc.peek() != "":
            ch = sc.peek()
            if stop and ch == stop:
                sc.next()
                return "".join(result), words.get_words()
            if ch == "$":
                value = self.process_dollar()
                result.append(value)
                words.add_string(value)
            elif ch == "'" and not self.lex.skip_quotes:
                value = self.process_single_quote()
                result.append(value)
                words.add_raw_string(value)
            elif ch == '"' and not self.lex.skip_quotes:
                value = self.process_double_quote()
                result.append(value)
                words.add_raw_string(value)
            else:
                ch = sc.next()
                if ch == self.lex.escape:
                    if self.lex.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = sc.next()
                    if ch == "":
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get_words()

    def process_single_quote(self) -> str:
        sc = self.scanner
        out: list[str] = []
        ch = sc.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = sc.next()
            if ch == "":
                raise ExpansionError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def process_double_quote(self) -> str:
        sc = self.scanner
        out: list[str] = []
        ch = sc.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = sc.peek()
            if ch == "":
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                sc.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.process_dollar())
                continue
            ch = sc.next()
            if ch == self.lex.escape:
                nxt = sc.peek()
                if nxt == "":
                    continue
                if nxt in ('"', "$", self.lex.escape):
                    if self.lex.raw_escapes:
                        out.append(ch)
                    ch = sc.next()
            out.append(ch)

    def process_name(self) -> str:
        sc = self.scanner
        name: list[str] = []
        while sc.peek() != "":
            ch = sc.peek()
            if not name and ch.isdigit():
                while sc.peek() != "" and sc.peek().isdigit():
                    name.append(sc.next())
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                return sc.next()
            if not (ch.isalnum() or ch == "_"):
                break
            name.append(sc.next())
        return "".join(name)

    def process_dollar(self) -> str:
        sc = self.scanner
        sc.next()  # the $
        if sc.peek() != "{":
            name = self.process_name()
            if not name:
                return "$"
            value = self.get_env(name)
            if value is None and self.lex.skip_unset:
                return "$" + name
            return value or ""
        sc.next()  # the {
        if sc.peek() == "":
            raise ExpansionError("syntax error: missing '}'")
        if sc.peek() in ("{", "}", ":"):
            raise ExpansionError("syntax error: bad substitution")
        name = self.process_name()
        ch = sc.next()
        if ch == "}":
            value = self.get_env(name)
            if value is None and self.lex.skip_unset:
                return "${" + name + "}"
            return value or ""
        if ch == ":":
            op = sc.next()
            if op not in ("-", "+", "?"):
                raise ExpansionError(f"unsupported modifier ({op}) in substitution")
            word, _ = self.process_stop_on("}")
            value = self.get_env(name)
            empty = not value
            if op == "-":
                return word if empty else value or ""
            if op == "+":
                return "" if empty else word
            if empty:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            return value or ""
        if ch in ("-", "+", "?"):
            word, _ = self.process_stop_on("}")
            value = self.get_env(name)
            if ch == "-":
                return word if value is None else value
            if ch == "+":
                return "" if value is None else word
            if value is None:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        if ch in ("#", "%"):
            longest = sc.peek() == ch
            if longest:
                sc.next()
            pattern, _ = self.process_stop_on("}")
            value = self.get_env(name) or ""
            return _trim(value, pattern, prefix=ch == "#", longest=longest)
        if ch == "/":
            replace_all = sc.peek() == "/"
            if replace_all:
                sc.next()
            pattern, _ = self.process_stop_on("/")
            replacement, _ = self.process_stop_on("}")
            value = self.get_env(name) or ""
            return _replace(value, pattern, replacement, replace_all)
        if ch == "":
            raise ExpansionError("syntax error: missing '}'")
        raise ExpansionError(f"unsupported modifier ({ch}) in substitution")


def _glob_regex(pattern: str) -> str:
    return fnmatch.translate(pattern)[4:-3]  # strip "(?s:" and ")\Z"


def _trim(value: str, pattern: str, *, prefix: bool, longest: bool) -> str:
    rx = _glob_regex(pattern)
    spans = range(len(value) + 1)
    if prefix:
        order = reversed(spans) if longest else spans
        for end in order:
            if re.fullmatch(rx, value[:end], re.S):
                return value[end:]
    else:
        order = spans if longest else reversed(spans)
        for start in order:
            if re.fullmatch(rx, value[start:], re.S):
                return value[:start]
    return value


def _replace(value: str, pattern: str, replacement: str, replace_all: bool) -> str:
    if not pattern:
        return value
    rx = re.compile(_glob_regex(pattern), re.S)
    return rx.sub(lambda _m: replacement, value, count=0 if replace_all else 1)


@dataclass(frozen=True)
class Lexer:
    """Expands words the way a Dockerfile does. ``escape`` is the Dockerfile's escape character."""

    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_quotes: bool = False
    skip_unset: bool = False

    def expand(self, word: str, env: Mapping[str, str]) -> tuple[str, frozenset[str]]:
        """Expand one word; returns the text and the names of the variables looked up."""
        sw = _ShellWord(word, env, self)
        text, _ = sw.process()
        return text, frozenset(sw.used)

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        return self.expand(word, env)[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand and split into words on unquoted whitespace (as ``ProcessWords``)."""
        sw = _ShellWord(word, env, self)
        _, words = sw.process()
        return words
