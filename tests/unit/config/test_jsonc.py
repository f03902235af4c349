"""The position-keeping JSONC reader: what it accepts, the values it gives, where it says errors are."""

from __future__ import annotations

import pytest

from devenv.config.jsonc import format_pointer, parse
from devenv.errors import ConfigError


def value(text: str) -> object:
    return parse(text, "devcontainer.json").value


def error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, "devcontainer.json")
    return info.value


def test_comments_outside_strings_are_skipped_and_kept_inside() -> None:
    text = '/* a */ {// b\n"url": "http://x // y /* z */", /* c */ "n": 1 // d\n} // end'
    assert value(text) == {"url": "http://x // y /* z */", "n": 1}


def test_trailing_commas_in_objects_and_arrays() -> None:
    assert value('{"a": [1, 2,], "b": {"c": 3,},}') == {"a": [1, 2], "b": {"c": 3}}


def test_duplicate_keys_last_value_wins_in_first_place_and_are_recorded() -> None:
    doc = parse('{"a": 1, "b": 2, "a": {"x": 3}}')
    assert doc.value == {"a": {"x": 3}, "b": 2}
    assert list(doc.value) == ["a", "b"]
    assert [where for where, _ in doc.duplicate_keys] == [("a",)]
    assert doc.locate(("a", "x")) == (1, 29)


def test_bom_crlf_and_unicode_white_space() -> None:
    doc = parse('\ufeff{\r\n  "a":\u00a0"1",\u2028"b":\u3000[2]\r\n}')
    assert doc.value == {"a": "1", "b": [2]}
    assert doc.locate(("a",)) == (2, 8)
    assert doc.locate(("b",)) == (2, 18)


@pytest.mark.parametrize("blank", ["\u00a0", "\f", "\v", "\u2028", "\ufeff", "\u200b"])
def test_a_blank_glued_to_a_value_is_an_error(blank: str) -> None:
    # jsonc-parser reads it and the value after it as one unknown token, and drops the value.
    exc = error(f'{{"a": [1,{blank}2]}}')
    assert (exc.line, exc.col) == (1, 10)
    assert f"invisible character U+{ord(blank):04X}" in exc.msg
    assert "replace the character with a space" in exc.msg
    assert value(f'{{"a": [1,{blank} 2]}}') == {"a": [1, 2]}


def test_numbers_read_as_javascript_numbers() -> None:
    assert value("[0, -0, 1.0, 1e3, 2.5, -1.5e-3, 9007199254740993, 123456789012345678, 1e400]") == [
        0,
        0,
        1,
        1000,
        2.5,
        -0.0015,
        9007199254740992,
        123456789012345680,
        float("inf"),
    ]
    assert isinstance(value("1.0"), int)


def test_string_escapes_and_raw_tabs() -> None:
    assert value(r'"a\"b\\c\/d\u00e9\ud83d\ude00\n"') == 'a"b\\c/dé😀\n'
    assert value('"tab\there"') == "tab\there"


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        ('{"a": 1,, }', 1, 9, "expected a property name in double quotes or '}', found ','"),
        ('{"a": tru}', 1, 7, "expected a value (string, number, object, array, true, false or null), found 'tru'"),
        ('{\n  "a": "x\n"}', 2, 8, "unterminated string"),
        ('{"a" 1}', 1, 6, "expected ':' after the property name \"a\""),
        ("{a: 1}", 1, 2, "expected a property name in double quotes"),
        ("{'a': 1}", 1, 2, "expected a property name in double quotes"),
        ('{"a": 1}\n/* open', 2, 1, "unterminated /* comment"),
        ('{"a": [1, 2', 1, 12, "expected ',' or ']' after an array item, found the end of the file"),
        ("", 1, 1, "the file is empty"),
        ("// only a comment\n", 2, 1, "the file is empty"),
        ('{"a": 01}', 1, 8, "expected ',' or '}' after the value of \"a\""),
        ('{"a": 1.}', 1, 7, "invalid number"),
        ('{"a": "\\q"}', 1, 8, "invalid escape in string"),
        ("{} {}", 1, 4, "after the end of the top-level value"),
        ('{"a": 1 "b": 2}', 1, 9, "expected ',' or '}' after the value of \"a\", found '\"'"),
        ('{"a": NaN}', 1, 7, "found 'NaN'"),
        ('\ufeff{"a": x}', 1, 7, "found 'x'"),
    ],
)
def test_syntax_errors_are_located(text: str, line: int, col: int, fragment: str) -> None:
    exc = error(text)
    assert (exc.line, exc.col) == (line, col)
    assert fragment in exc.msg
    assert exc.render().startswith(f"devcontainer.json:{line}:{col}: ")


def test_error_names_the_json_location_and_shows_the_line_with_a_caret() -> None:
    exc = error('{\n  "build": {\n    "args": {"A": "1" "B": "2"}\n  }\n}')
    assert exc.pointer == "build.args"
    assert exc.excerpt is not None
    lines = exc.excerpt.splitlines()
    assert lines[0] == '    3 |     "args": {"A": "1" "B": "2"}'
    assert lines[1].index("^") == lines[0].index('"B"')


def test_deeply_nested_input_is_an_error_not_a_crash() -> None:
    exc = error("[" * 100000)
    assert exc.line == 1


def test_pointer_format() -> None:
    assert format_pointer(("forwardPorts", 1)) == "forwardPorts[1]"
    assert format_pointer(("build", "args", "VARIANT")) == "build.args.VARIANT"
    assert format_pointer(("features", "ghcr.io/x/y:1", "version")) == 'features["ghcr.io/x/y:1"].version'
