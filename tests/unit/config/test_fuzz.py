"""Thousands of malformed configs: every one either loads or fails with a located ConfigError.

Never a traceback: no other exception may escape ``devenv.config.loads`` (parse, validate, legacy
mapping, substitution, model), and every ConfigError has a line and a column inside the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.config import loads
from devenv.config.validate import TOP_LEVEL
from devenv.errors import ConfigError

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "readconf"
SEEDS = sorted(p.read_text(encoding="utf-8") for p in CORPUS.glob("*/devcontainer.json"))[:40] or ['{"image": "x"}']
PATH = "/w/.devcontainer/devcontainer.json"
SETTINGS = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str) -> None:
    try:
        loads(text, PATH, "/w", env={"HOME": "/root"})
    except ConfigError as exc:
        assert exc.line is not None and exc.col is not None, exc.render()
        assert 1 <= exc.line <= text.count("\n") + text.count("\r") + 2, exc.render()
        assert exc.col >= 1
        assert exc.path == PATH
        assert exc.render().startswith(f"{PATH}:{exc.line}:{exc.col}: ")


JSON_CHARS = st.sampled_from([*'{}[]:,"\\/*\n\r\t 0123456789.eE+-truefalsnl${}', "//", "/*", "*/", "\ufeff", "é"])


@SETTINGS
@given(st.lists(JSON_CHARS, max_size=80).map("".join))
def test_random_json_like_text(text: str) -> None:
    check(text)


@st.composite
def mutated_seed(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        piece = draw(
            st.sampled_from(['"', "{", "}", "[", "]", ",", ":", "/*", "//", "\\", "\n", "x", "1", "null", "${"])
        )
        if action == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 5)) :]
        elif action == "insert":
            text = text[:pos] + piece + text[pos:]
        elif action == "replace":
            text = text[:pos] + piece + text[pos + 1 :]
        else:
            text = text[:pos]
    return text


@SETTINGS
@given(mutated_seed())
def test_mutated_real_configs(text: str) -> None:
    check(text)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(sorted(TOP_LEVEL)), JSON_VALUES, max_size=6))
def test_well_formed_json_with_any_values(config: dict[str, Any]) -> None:
    check(json.dumps(config, indent=2))


@SETTINGS
@given(JSON_VALUES)
def test_any_json_document(value: Any) -> None:
    check(json.dumps(value))
