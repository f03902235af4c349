"""Validation: wrong types are located errors saying what was expected; the rest are warnings."""

from __future__ import annotations

import pytest

from devenv.config import loads
from devenv.errors import ConfigError

PATH = "/w/.devcontainer/devcontainer.json"


def fail(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        loads(text, PATH, "/w")
    return info.value


def warnings(text: str) -> list[str]:
    return [str(w) for w in loads(text, PATH, "/w").warnings]


@pytest.mark.parametrize(
    ("text", "where", "pointer", "message"),
    [
        ('{"image": 5}', (1, 11), "image", "expected a string, got the number 5"),
        ('{"forwardPorts": "3000"}', (1, 18), "forwardPorts", 'expected an array [...], got the string "3000"'),
        (
            '{"forwardPorts": [3000, 70000]}',
            (1, 25),
            "forwardPorts[1]",
            "expected a port number from 0 to 65535, got 70000",
        ),
        ('{"forwardPorts": [true]}', (1, 19), "forwardPorts[0]", 'expected a port number or "host:port", got true'),
        ('{"containerEnv": {"A": []}}', (1, 24), "containerEnv.A", "expected a string, got an array"),
        ('{"remoteEnv": {"A": {}}}', (1, 21), "remoteEnv.A", "expected a string or null, got an object"),
        ('{"waitFor": "postAttachCommand"}', (1, 13), "waitFor", 'expected one of "initializeCommand"'),
        ('{"userEnvProbe": "bash"}', (1, 18), "userEnvProbe", '"loginInteractiveShell"'),
        ('{"postCreateCommand": 5}', (1, 23), "postCreateCommand", "expected a command: a string, an array of strings"),
        ('{"postCreateCommand": {"a": 1}}', (1, 29), "postCreateCommand.a", "a command string or an array of strings"),
        ('{"onCreateCommand": ["a", 2]}', (1, 27), "onCreateCommand[1]", "expected a string, got the number 2"),
        ('{"mounts": [5]}', (1, 13), "mounts[0]", 'expected a mount: a "--mount" string or'),
        ('{"mounts": [{"type": "bind"}]}', (1, 13), "mounts[0]", '"target" is required here'),
        ('{"build": "Dockerfile"}', (1, 11), "build", 'expected an object {...}, got the string "Dockerfile"'),
        ('{"build": {"args": {"A": ["x"]}}}', (1, 26), "build.args.A", "expected a string, got an array"),
        ('{"features": {"ghcr.io/a/b/c:1": 3}}', (1, 34), 'features["ghcr.io/a/b/c:1"]', "a version string, or true"),
        ('{"hostRequirements": {"cpus": 0}}', (1, 31), "hostRequirements.cpus", "expected a number from 1 to"),
        ('{"hostRequirements": {"gpu": "yes"}}', (1, 30), "hostRequirements.gpu", 'expected true, false, "optional"'),
        ('{"shutdownAction": "halt"}', (1, 20), "shutdownAction", '"stopContainer"'),
        ('{"privileged": "true"}', (1, 16), "privileged", 'expected true or false, got the string "true"'),
        ('{"runArgs": "--rm"}', (1, 13), "runArgs", "expected an array"),
        ('{"customizations": []}', (1, 20), "customizations", "expected an object"),
        ("[1, 2]", (1, 1), None, "must hold a JSON object"),
    ],
)
def test_wrong_types_are_errors_at_the_value(
    text: str, where: tuple[int, int], pointer: str | None, message: str
) -> None:
    exc = fail(text)
    assert (exc.line, exc.col) == where
    assert exc.pointer == pointer
    assert message in exc.msg
    assert exc.path == PATH


def test_error_text_is_path_line_col_pointer_message_then_excerpt() -> None:
    text = '{\n  "image": "debian",\n  "forwardPorts": [3000, "abc", {}]\n}'
    exc = fail(text)
    rendered = exc.render().splitlines()
    assert rendered[0] == f'{PATH}:3:33: forwardPorts[2]: expected a port number or "host:port", got an object'
    assert rendered[1] == '    3 |   "forwardPorts": [3000, "abc", {}]'
    assert rendered[2] == "      |                                 ^^"


def test_several_errors_are_all_listed() -> None:
    exc = fail('{"image": 1,\n "privileged": "yes",\n "init": 0}')
    assert exc.line == 1
    assert exc.detail is not None
    assert "2:16: privileged: expected true or false" in exc.detail
    assert "3:10: init: expected true or false" in exc.detail


def test_legacy_properties_warn_and_move_to_customizations() -> None:
    loaded = loads('{"image": "x",\n "extensions": ["a"],\n "settings": {"s": 1},\n "devPort": 1}', PATH, "/w")
    assert loaded.data["customizations"] == {"vscode": {"extensions": ["a"], "settings": {"s": 1}, "devPort": 1}}
    assert "extensions" not in loaded.data
    found = [str(w) for w in loaded.warnings]
    assert (
        f'{PATH}:2:2: extensions: "extensions" is a legacy property; '
        'it is read as "customizations.vscode.extensions", move it there' in found
    )
    assert any(":3:2: settings:" in w for w in found)
    assert any(":4:2: devPort:" in w for w in found)


def test_unknown_properties_warn_with_a_suggestion() -> None:
    found = warnings('{"image": "x", "forwardPort": [1], "zzz": 1}')
    assert (
        f'{PATH}:1:16: forwardPort: unknown property "forwardPort" (did you mean "forwardPorts"?); it is ignored'
        in found
    )
    assert any('unknown property "zzz"; it is ignored' in w for w in found)


def test_values_the_reference_accepts_are_only_warnings() -> None:
    found = warnings(
        '{"image": "x", "forwardPorts": ["3000", "db:5432"], "hostRequirements": {"memory": "8GB"},'
        ' "containerEnv": {"PORT": 3000}, "features": {"ghcr.io/a/b/c:1": {"versions": ["1", "2"]}}}'
    )
    assert any(
        'forwardPorts[0]: expected a port number or "host:port", got "3000"; write 3000 without quotes' in w
        for w in found
    )
    assert not any("forwardPorts[1]" in w for w in found)
    assert any("hostRequirements.memory: expected a size" in w for w in found)
    assert any("containerEnv.PORT: expected a string, got the number 3000; it is used as its text" in w for w in found)
    assert any('versions: expected a string or true/false, got an array; it is passed as "1,2"' in w for w in found)


def test_properties_that_do_not_apply_to_the_kind_warn() -> None:
    found = warnings('{"dockerComposeFile": "c.yml", "service": "s", "appPort": 1, "shutdownAction": "stopContainer"}')
    assert any('appPort: "appPort" does not apply to a Docker Compose config' in w for w in found)
    assert any("shutdownAction" in w for w in found)
    found = warnings('{"image": "x", "service": "s"}')
    assert any('"service" only applies with "dockerComposeFile"' in w for w in found)


def test_duplicate_keys_warn() -> None:
    found = warnings('{"image": "a",\n "image": "b"}')
    assert f'{PATH}:2:2: image: duplicate property "image": the last value is used' in found


def test_null_is_treated_as_unset_with_a_warning() -> None:
    loaded = loads('{"image": "x", "postCreateCommand": null, "workspaceMount": null}', PATH, "/w")
    assert loaded.config.post_create_command is None
    assert loaded.workspace.to_json() == {"workspaceFolder": "/workspaces/w", "workspaceMount": None}
    assert any("postCreateCommand: null" in str(w) for w in loaded.warnings)
