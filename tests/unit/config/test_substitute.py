"""Variable substitution in the reference's three phases, and ${devcontainerId}."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devenv.config import (
    LocalContext,
    devcontainer_id,
    loads,
    substitute_container_env,
    substitute_devcontainer_id,
    substitute_local,
)
from devenv.errors import ConfigError

CONTEXT = LocalContext(
    env={"baz": "somevalue", "EMPTY": "", "COLON": "a:b"},
    local_workspace_folder="/foo/red",
    container_workspace_folder="/baz/blue",
)


def local(text: str, context: LocalContext = CONTEXT) -> Any:
    return substitute_local({"v": text}, context)["v"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bar${env:baz}bar", "barsomevaluebar"),
        ("bar${localEnv:baz}bar", "barsomevaluebar"),
        ("bar${localEnv:missing}bar", "barbar"),
        ("bar${localEnv:missing:default}bar", "bardefaultbar"),
        ("bar${localEnv:missing:default:a:b:c}bar", "bardefaultbar"),
        ("bar${localEnv:baz:default}bar", "barsomevaluebar"),
        ("${localEnv:EMPTY:default}", ""),
        ("${localEnv:COLON}", "a:b"),
        ("${localEnv:}", ""),
        ("${localWorkspaceFolder}", "/foo/red"),
        ("${localWorkspaceFolderBasename}", "red"),
        ("bar${containerWorkspaceFolder}bar", "bar/baz/bluebar"),
        ("${containerWorkspaceFolderBasename}", "blue"),
        (
            "${workspaceFolder} ${HOME} ${CODESPACES:-false} ${templateOption:x}",
            "${workspaceFolder} ${HOME} ${CODESPACES:-false} ${templateOption:x}",
        ),
        ("${devcontainerId} ${containerEnv:PATH}", "${devcontainerId} ${containerEnv:PATH}"),
        ("${localEnv:${baz}}", "}"),
        ("$${localEnv:baz}", "$somevalue"),
        ("${localEnv:baz", "${localEnv:baz"),
        ("${ localEnv:baz}", "${ localEnv:baz}"),
        ("${localEnv:baz}${localEnv:baz}", "somevaluesomevalue"),
    ],
)
def test_local_phase(text: str, expected: str) -> None:
    assert local(text) == expected


def test_container_folder_may_use_variables_itself() -> None:
    context = LocalContext(
        env={}, local_workspace_folder="/foo/red", container_workspace_folder="/baz/${localWorkspaceFolderBasename}"
    )
    assert local("bar${containerWorkspaceFolder}bar", context) == "bar/baz/redbar"


def test_basenames_follow_node_path_basename() -> None:
    context = LocalContext(env={}, local_workspace_folder="/", container_workspace_folder="/w/x/")
    assert local("[${localWorkspaceFolderBasename}] [${containerWorkspaceFolderBasename}]", context) == "[] [x]"


def test_unknown_folders_stay_verbatim() -> None:
    context = LocalContext(env={})
    assert local("${localWorkspaceFolder} ${containerWorkspaceFolderBasename}", context) == (
        "${localWorkspaceFolder} ${containerWorkspaceFolderBasename}"
    )


def test_values_change_recursively_keys_never() -> None:
    value = {"${env:baz}": ["${env:baz}", {"k": "${env:baz}"}, 1, True, None]}
    assert substitute_local(value, CONTEXT) == {"${env:baz}": ["somevalue", {"k": "somevalue"}, 1, True, None]}


def test_a_missing_variable_name_is_a_located_error() -> None:
    with pytest.raises(ConfigError) as info:
        loads('{"image": "x",\n "containerEnv": {"A": "${localEnv}"}}', "/w/.devcontainer/devcontainer.json", "/w")
    exc = info.value
    assert (exc.line, exc.col, exc.pointer) == (2, 24, "containerEnv.A")
    assert "'${localEnv}' can not be resolved because no environment variable name is given" in exc.msg


def test_container_env_phase() -> None:
    value = {"PATH": "${containerEnv:PATH}:/extra", "X": "${containerEnv:NOPE:dflt}", "Y": "${containerEnv:NOPE}"}
    assert substitute_container_env(value, {"PATH": "/usr/bin"}) == {"PATH": "/usr/bin:/extra", "X": "dflt", "Y": ""}
    assert substitute_container_env("${localEnv:A} ${devcontainerId}", {}) == "${localEnv:A} ${devcontainerId}"


# Computed with Node (JSON.stringify with sorted keys, SHA-256, BigInt.toString(32), padStart 52).
ID_VECTORS = [
    (
        {
            "devcontainer.local_folder": "/home/user/project",
            "devcontainer.config_file": "/home/user/project/.devcontainer/devcontainer.json",
        },
        "0ns9efvs2cg80a2avksvk7nqv06jrab7n2918j79h49700ucligl",
    ),
    ({"a": "b"}, "1mqafr5h2iu6dhh3k1m4vtnuhml2uiec4s7bntt1v0f25ao63i1n"),
    ({"c": "d", "a": "b"}, "1e2sfmkjt1sga649hgk0s5f3u6nlqhlv9al481r91s7gkeo32p3o"),
    (
        {"devcontainer.local_folder": '/tmp/wörk "q" \\ \n', "x": "\u2028"},
        "1s02spggdp447bsc8ga3dp62lbhf4prp42ejubl5q3squn8kf0i1",
    ),
]


@pytest.mark.parametrize(("labels", "expected"), ID_VECTORS)
def test_devcontainer_id_matches_the_reference_algorithm(labels: dict[str, str], expected: str) -> None:
    assert devcontainer_id(labels) == expected
    assert substitute_devcontainer_id({"n": "x-${devcontainerId}"}, labels) == {"n": f"x-{expected}"}


def test_devcontainer_id_of_a_loaded_config_uses_folder_and_config_path() -> None:
    loaded = loads(
        '{"image": "x", "name": "${devcontainerId}"}',
        "/home/user/project/.devcontainer/devcontainer.json",
        "/home/user/project",
    )
    assert loaded.data["name"] == "${devcontainerId}"
    assert loaded.devcontainer_id == ID_VECTORS[0][1]
    assert loaded.with_devcontainer_id().data["name"] == ID_VECTORS[0][1]


NODE_ID = """
const crypto = require('crypto');
const labels = JSON.parse(require('fs').readFileSync(0, 'utf-8'));
const hash = l => crypto.createHash('sha256')
  .update(Buffer.from(JSON.stringify(l, Object.keys(l).sort()), 'utf-8')).digest('hex');
console.log(JSON.stringify(labels.map(l => BigInt('0x' + hash(l)).toString(32).padStart(52, '0'))));
"""


@pytest.mark.reference
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), min_size=1, max_size=3),
        min_size=1,
        max_size=20,
    )
)
def test_devcontainer_id_agrees_with_node_on_any_labels(batch: list[dict[str, str]]) -> None:
    batch = [
        {k: v for k, v in labels.items() if not any(0xD800 <= ord(c) <= 0xDFFF for c in k + v)} or {"a": "b"}
        for labels in batch
    ]
    out = subprocess.run(["node", "-e", NODE_ID], input=json.dumps(batch), capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [devcontainer_id(labels) for labels in batch]
