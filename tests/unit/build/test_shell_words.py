"""Docker's variable expansion, checked against the cases of BuildKit's own expansion table."""

from __future__ import annotations

import pytest

from devenv.build.shell_words import ExpansionError, Lexer

ENV = {"PWD": "/home", "SHELL": "bash", "NULL": ""}

CASES = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he\\'llo", "he'llo"),
    ("abc\\tdef", "abctdef"),
    ('"abc\\tdef"', "abc\\tdef"),
    ('"abc\\\\tdef"', "abc\\tdef"),
    ("'abc\\tdef'", "abc\\tdef"),
    ("hello\\", "hello"),
    ("hello\\\\", "hello\\"),
    ('"hel\'lo"', "hel'lo"),
    ("'hello\\'", "hello\\"),
    ("\"''\"", "''"),
    ("$.", "$."),
    ("he$1x", "hex"),
    ("he$.x", "he$.x"),
    ("he$pwd.", "he."),
    ("he$PWD", "he/home"),
    ("he\\$PWD", "he$PWD"),
    ("he\\\\$PWD", "he\\/home"),
    ('"he\\$PWD"', "he$PWD"),
    ('"he\\\\$PWD"', "he\\/home"),
    ("\\${}", "${}"),
    ("he${hi}xx", "hexx"),
    ("he${PWD}", "he/home"),
    ("he${XXX:-000}xx", "he000xx"),
    ("he${PWD:-000}xx", "he/homexx"),
    ("he${XXX:-$PWD}xx", "he/homexx"),
    ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
    ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
    ("he${PWD?}", "he/home"),
    ("he${NULL?}", "he"),
    ("he${XXX:+${PWD}}xx", "hexx"),
    ("he${PWD:+${SHELL}}xx", "hebashxx"),
    ("he${PWD:+000}xx", "he000xx"),
    ("'he${XX}'", "he${XX}"),
    ("\"he'$PWD'\"", "he'/home'"),
    ("'$PWD'", "$PWD"),
    ("'\"hello\"'", '"hello"'),
    ("he${PWD+}xx", "hexx"),
    ("he${PWD+000}xx", "he000xx"),
    ("he${XXX-000}xx", "he000xx"),
    ("he${NULL-000}xx", "hexx"),
    ("he${NULL:-000}xx", "he000xx"),
    ("${PWD#/h}", "ome"),
    ("${SHELL%sh}", "ba"),
    ("${PWD/home/work}", "/work"),
]

ERRORS = [
    "he'llo",
    '"hello',
    '"hello\\"',
    "'hello",
    "${}",
    "he${}xx",
    "he${.}",
    "he${XXX:YYY}",
    "he${XXX?}",
    "he${XXX:?}",
    "he${NULL:?}",
    "he${PWD",
    "he${PWD=000}xx",
]


@pytest.mark.parametrize(("word", "expected"), CASES)
def test_expansion_matches_docker(word: str, expected: str) -> None:
    assert Lexer().process_word(word, ENV) == expected


@pytest.mark.parametrize("word", ERRORS)
def test_bad_words_are_errors(word: str) -> None:
    with pytest.raises(ExpansionError):
        Lexer().process_word(word, ENV)


def test_used_variables_are_recorded() -> None:
    text, used = Lexer().expand("${A:-x}$B '$C'", {"B": "b"})
    assert text == "xb $C"
    assert used == {"A", "B"}


def test_backtick_escape() -> None:
    assert Lexer(escape="`").process_word("a`$B c\\d", {"B": "b"}) == "a$B c\\d"


def test_process_words_splits_unquoted_expansions() -> None:
    assert Lexer().process_words('a "b c" $X', {"X": "d  e"}) == ["a", "b c", "d", "e"]
