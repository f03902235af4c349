"""End-to-end: the workspace lifecycle on the Debian fixture (up → exec → stop → up → down), hooks, users,
environment, --remove-existing-container, concurrency — with the real devenv CLI on a real runtime."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.workspace_helpers import Devenv, ensure_docker_bridge, lines, snapshot_tree, write_config

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(params=["embedded", "docker"])
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def devenv(devenv_root: Path, runtime: str, base_image: str) -> Devenv:
    ensure_docker_bridge()
    return Devenv(devenv_root, runtime)


@pytest.fixture
def workspaces(tmp_path: Path, devenv: Devenv) -> Iterator[list[Path]]:
    """Workspace folders created by a test; their containers are removed afterwards."""
    made: list[Path] = []
    yield made
    for folder in made:
        devenv.remove_all(folder)


def new_folder(tmp_path: Path, workspaces: list[Path], name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    workspaces.append(folder)
    return folder


def hook_config(image: str, **extra: Any) -> dict[str, Any]:
    log = "/workspaces/${localWorkspaceFolderBasename}/hooks.log"
    config: dict[str, Any] = {
        "image": image,
        "containerEnv": {"GREETING": "hello", "PATH": f"/opt/tools/bin:{DEFAULT_PATH}"},
        "remoteEnv": {
            "TOOLS_PATH": "${containerEnv:PATH}:/extra",
            "FROM_REMOTE": "yes",
            "GREETING_TOO": "${containerEnv:GREETING}",
        },
        "initializeCommand": "echo initialize >> .devcontainer/init.log",
        "onCreateCommand": f"echo onCreate >> {log}",
        "updateContentCommand": ["sh", "-c", f"echo updateContent >> {log}"],
        "postCreateCommand": {"first": f"echo postCreate-first >> {log}", "second": f"echo postCreate-second >> {log}"},
        "postStartCommand": f"echo postStart >> {log}",
        "postAttachCommand": f"echo postAttach >> {log}",
    }  # fmt: skip
    config.update(extra)
    return config


def test_up_exec_stop_up_down(devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str) -> None:
    folder = new_folder(tmp_path, workspaces, "proj")
    write_config(folder, hook_config(base_image))
    (folder / "source.txt").write_text("my work\n")
    before = snapshot_tree(folder)

    first = devenv.up(folder)
    result = first.result()
    assert result["outcome"] == "success"
    assert result["remoteUser"] == "root"
    assert result["remoteWorkspaceFolder"] == "/workspaces/proj"
    cid = result["containerId"]
    assert "Running the postCreateCommand from devcontainer.json..." in first.stderr
    assert "[postCreateCommand:first] " in first.stderr or "postCreateCommand" in first.stderr
    hooks = lines(folder / "hooks.log")
    assert hooks[:2] == ["onCreate", "updateContent"]
    assert sorted(hooks[2:4]) == ["postCreate-first", "postCreate-second"]
    assert hooks[4:] == ["postStart", "postAttach"]
    assert lines(folder / ".devcontainer/init.log") == ["initialize"]

    # exec: remote user, workspace folder, probed env + remoteEnv with ${containerEnv:...}, exit codes.
    out = devenv.sh(folder, 'pwd; id -un; echo "$GREETING $FROM_REMOTE $GREETING_TOO"; echo "$TOOLS_PATH"')
    assert out.splitlines() == [
        "/workspaces/proj",
        "root",
        "hello yes hello",
        "/opt/tools/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/extra",
    ]
    assert devenv.exec(folder, "sh", "-c", "exit 7", check=False).returncode == 7
    assert devenv.exec(folder, "cat", "source.txt").stdout == "my work\n"

    # up on the running container: only initializeCommand (host) and postAttachCommand run again.
    again = devenv.up(folder).result()
    assert again["containerId"] == cid
    assert lines(folder / "hooks.log")[6:] == ["postAttach"]
    assert lines(folder / ".devcontainer/init.log") == ["initialize", "initialize"]

    # stop, then up: the same container starts again; postStart and postAttach run, create hooks do not.
    stopped = devenv("stop", "--workspace-folder", str(folder))
    assert "stopped" in stopped.stdout
    assert devenv.container(cid).status.value == "stopped"
    third = devenv.up(folder).result()
    assert third["containerId"] == cid
    assert lines(folder / "hooks.log")[7:] == ["postStart", "postAttach"]
    assert devenv.sh(folder, "echo $FROM_REMOTE").strip() == "yes"

    # status and ls know it.
    status = json.loads(devenv("status", "--workspace-folder", str(folder), "--json").stdout)
    assert status["status"] == "running" and status["containerId"] == cid
    listed = json.loads(devenv("ls", "--json").stdout)
    assert [w["containerId"] for w in listed if w["workspaceFolder"] == str(folder)] == [cid]

    # down: the container goes, the source folder keeps every file (the hooks added two logs).
    devenv.exec(folder, "sh", "-c", "echo from-container > made-inside.txt")
    devenv("down", "--workspace-folder", str(folder))
    assert devenv.container(cid) is None
    after = snapshot_tree(folder)
    for name, entry in before.items():
        assert after[name] == entry, f"{name} changed or vanished"
    assert (folder / "made-inside.txt").read_text() == "from-container\n"
    gone = devenv.exec(folder, "true", check=False)
    assert gone.returncode != 0 and "devenv up" in gone.stderr


def test_parallel_object_hook_entries_overlap(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    folder = new_folder(tmp_path, workspaces, "parallel")
    entry = "date +%s.%N >> /workspaces/parallel/{n}.log; sleep 2; date +%s.%N >> /workspaces/parallel/{n}.log"
    write_config(
        folder, {"image": base_image, "postCreateCommand": {"a": entry.format(n="a"), "b": entry.format(n="b")}}
    )
    devenv.up(folder)
    a = [float(x) for x in lines(folder / "a.log")]
    b = [float(x) for x in lines(folder / "b.log")]
    assert len(a) == 2 and len(b) == 2
    assert a[0] < b[1] and b[0] < a[1], f"a={a} b={b}: the entries did not run at the same time"


def test_failing_hook_stops_later_hooks_and_resumes(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    folder = new_folder(tmp_path, workspaces, "failing")
    log = "/workspaces/failing/hooks.log"
    config = {
        "image": base_image,
        "onCreateCommand": f"echo onCreate >> {log}",
        "postCreateCommand": f"echo postCreate-try >> {log}; echo broken on purpose; exit 3",
        "postStartCommand": f"echo postStart >> {log}",
    }
    write_config(folder, config)
    failed = devenv.up(folder, check=False)
    assert failed.returncode != 0
    err = failed.result()
    assert err["outcome"] == "error"
    assert "postCreateCommand from devcontainer.json failed (exit code 3)" in err["message"]
    assert "broken on purpose" in failed.stderr  # the output was streamed live
    assert lines(folder / "hooks.log") == ["onCreate", "postCreate-try"]

    # Fixed: the next up resumes at postCreateCommand; onCreateCommand (done) is not run twice.
    config["postCreateCommand"] = f"echo postCreate-ok >> {log}"
    write_config(folder, config)
    devenv.up(folder)
    assert lines(folder / "hooks.log") == ["onCreate", "postCreate-try", "postCreate-ok", "postStart"]


def test_update_remote_user_uid(devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str) -> None:
    folder = new_folder(tmp_path, workspaces, "uid")
    (folder / ".devcontainer").mkdir()
    (folder / ".devcontainer/Dockerfile").write_text(
        f"FROM {base_image}\nRUN groupadd -g 1000 dev && useradd -m -u 1000 -g 1000 -s /bin/bash dev\n"
    )
    write_config(
        folder,
        {"build": {"dockerfile": "Dockerfile"}, "remoteUser": "dev", "postCreateCommand": "touch made-by-hook.txt"},
    )
    (folder / "mine.txt").write_text("x")
    for p in [folder, *folder.rglob("*")]:
        os.lchown(p, 4242, 4343)
    before = snapshot_tree(folder)

    result = devenv.up(folder).result()
    assert result["remoteUser"] == "dev"
    assert devenv.sh(folder, "id -u; id -g; id -un; echo $HOME; stat -c %u /home/dev").split() == [
        "4242",
        "4343",
        "dev",
        "/home/dev",
        "4242",
    ]
    devenv.exec(folder, "touch", "made-by-exec.txt")
    for name in ("made-by-hook.txt", "made-by-exec.txt"):
        st = (folder / name).stat()
        assert (st.st_uid, st.st_gid) == (4242, 4343), name
    after = snapshot_tree(folder)
    for name, entry in before.items():
        assert after[name] == entry, f"{name} changed"
    assert folder.stat().st_uid == 4242


def test_update_remote_user_uid_when_the_container_runs_as_that_user(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    """containerUser is the remote user: its pid 1 ran with the old UID, so `up` restarts the container
    (the stop waits for a supervisor that `up` itself started) and pid 1 then has the new UID too."""
    folder = new_folder(tmp_path, workspaces, "uid-pid1")
    (folder / ".devcontainer").mkdir()
    (folder / ".devcontainer/Dockerfile").write_text(
        f"FROM {base_image}\nRUN groupadd -g 1000 dev && useradd -m -u 1000 -g 1000 -s /bin/bash dev\n"
    )
    write_config(folder, {"build": {"dockerfile": "Dockerfile"}, "containerUser": "dev", "remoteUser": "dev"})
    os.chown(folder, 4242, 4343)
    started = time.monotonic()
    assert devenv.up(folder).result()["remoteUser"] == "dev"
    assert time.monotonic() - started < 20  # (not a stop timed out waiting)
    assert devenv.sh(folder, "id -u; stat -c %u /proc/1").split() == ["4242", "4242"]


def test_update_remote_user_uid_false_keeps_the_image_uid(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    folder = new_folder(tmp_path, workspaces, "uid-off")
    (folder / ".devcontainer").mkdir()
    (folder / ".devcontainer/Dockerfile").write_text(f"FROM {base_image}\nRUN useradd -m -u 1000 dev\n")
    write_config(folder, {"build": {"dockerfile": "Dockerfile"}, "remoteUser": "dev", "updateRemoteUserUID": False})
    os.chown(folder, 4242, 4242)
    devenv.up(folder)
    assert devenv.sh(folder, "id -u").strip() == "1000"


def test_remove_existing_container(devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str) -> None:
    folder = new_folder(tmp_path, workspaces, "recreate")
    write_config(folder, {"image": base_image, "onCreateCommand": "echo created >> /workspaces/recreate/hooks.log"})
    first = devenv.up(folder).result()["containerId"]
    devenv.exec(folder, "touch", "/root/only-in-old-container")
    second = devenv.up(folder, "--remove-existing-container").result()["containerId"]
    assert second != first
    assert devenv.container(first) is None
    assert lines(folder / "hooks.log") == ["created", "created"]
    assert devenv.exec(folder, "test", "-e", "/root/only-in-old-container", check=False).returncode == 1
    assert devenv.container_ids(folder) == [second]


def test_config_change_is_reported_with_the_way_to_rebuild(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    folder = new_folder(tmp_path, workspaces, "changed")
    write_config(folder, {"image": base_image, "containerEnv": {"A": "1"}})
    cid = devenv.up(folder).result()["containerId"]
    write_config(folder, {"image": base_image, "containerEnv": {"A": "2"}})
    run = devenv.up(folder)
    assert run.result()["containerId"] == cid
    assert "containerEnv" in run.stderr and "devenv rebuild" in run.stderr
    rebuilt = devenv("rebuild", "--workspace-folder", str(folder)).result()
    assert rebuilt["containerId"] != cid
    assert devenv.sh(folder, "echo $A").strip() == "2"


def test_two_ups_on_one_folder_give_one_container(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    folder = new_folder(tmp_path, workspaces, "race")
    write_config(
        folder, {"image": base_image, "onCreateCommand": "sleep 1; echo created >> /workspaces/race/hooks.log"}
    )
    procs = [devenv.popen("up", "--workspace-folder", str(folder)) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    ids = {json.loads(out.strip().splitlines()[-1])["containerId"] for out, _ in outs}
    assert len(ids) == 1
    assert devenv.container_ids(folder) == list(ids)
    assert lines(folder / "hooks.log") == ["created"]


def test_different_folders_come_up_in_parallel(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    names = ("left", "right")
    for name in names:
        folder = new_folder(tmp_path, workspaces, name)
        step = f"date +%s.%N >> /workspaces/{name}/t.log"
        write_config(folder, {"image": base_image, "postCreateCommand": f"{step}; sleep 3; {step}"})
    procs = [devenv.popen("up", "--workspace-folder", str(tmp_path / n)) for n in names]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    left, right = ([float(x) for x in lines(tmp_path / n / "t.log")] for n in names)
    assert left[0] < right[1] and right[0] < left[1], f"{left} {right}: one waited for the other"


def test_mounts_user_env_probe_and_flags(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    folder = new_folder(tmp_path, workspaces, "mounts")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data.txt").write_text("shared data\n")
    write_config(
        folder,
        {
            "image": base_image,
            "mounts": [f"source={shared},target=/mnt/shared,type=bind", {"type": "volume", "target": "/cache"}],
            "postCreateCommand": "echo should-not-run > /tmp/pc",
        },
    )
    # A login shell's profile adds to the environment the probe captures.
    profile = tmp_path / "devenv-test.sh"
    profile.write_text("export FROM_PROFILE=profile-value\n")
    result = devenv.up(
        folder,
        "--skip-post-create",
        "--mount",
        f"type=bind,source={profile},target=/etc/profile.d/devenv-test.sh",
        "--remote-env",
        "CLI_VAR=cli",
    ).result()
    assert devenv.sh(folder, "cat /mnt/shared/data.txt; test -d /cache && echo cache").split() == [
        "shared",
        "data",
        "cache",
    ]
    assert devenv.exec(folder, "test", "-e", "/tmp/pc", check=False).returncode == 1
    # --remote-env, and what the login shell's profile exported (userEnvProbe), reach exec.
    assert devenv.sh(folder, "echo ${CLI_VAR:-none} ${FROM_PROFILE:-none}").split() == ["cli", "profile-value"]
    targets = {m.target for m in devenv.container(result["containerId"]).spec.mounts}
    assert {"/workspaces/mounts", "/mnt/shared", "/cache", "/etc/profile.d/devenv-test.sh"} <= targets


def test_errors_are_clear(devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str) -> None:
    folder = new_folder(tmp_path, workspaces, "errors")
    (folder / ".devcontainer").mkdir()
    (folder / ".devcontainer/devcontainer.json").write_text('{\n  "image": 42\n}\n')
    bad = devenv.up(folder, check=False)
    assert bad.returncode != 0
    assert bad.result()["outcome"] == "error"
    assert "devcontainer.json:2:" in bad.stderr
    missing = devenv.up(tmp_path / "nope", check=False)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    write_config(folder, {"image": base_image})
    expect = devenv.up(folder, "--expect-existing-container", check=False)
    assert expect.returncode != 0 and "expected container does not exist" in expect.result()["message"]


def test_exec_from_a_subfolder(devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str) -> None:
    """exec works from a sub-folder of the workspace and starts in the matching folder."""
    folder = new_folder(tmp_path, workspaces, "sub")
    write_config(folder, {"image": base_image})
    (folder / "pkg" / "mod").mkdir(parents=True)
    devenv.up(folder)
    run = devenv("exec", "pwd", cwd=folder / "pkg" / "mod")
    assert run.stdout.strip() == "/workspaces/sub/pkg/mod"


def test_container_env_is_substituted_in_hooks(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    """``${containerEnv:VAR[:default]}`` is resolved from the container's environment in every hook form
    (string, argv, parallel object), on creation, on a restart and on the fast path, not only in remoteEnv."""
    folder = new_folder(tmp_path, workspaces, "cenv")
    log = "/workspaces/cenv/hooks.log"
    write_config(
        folder,
        {
            "image": base_image,
            "containerEnv": {"APP_ENV": "staging"},
            "remoteEnv": {"MODE": "${containerEnv:APP_ENV}-remote"},
            "onCreateCommand": "echo ${containerEnv:APP_ENV} > /tmp/x",
            "updateContentCommand": ["sh", "-c", f"echo update=${{containerEnv:APP_ENV}} >> {log}"],
            "postCreateCommand": {
                "unknown": f"echo unknown=[${{containerEnv:NOT_SET_ANYWHERE}}] >> {log}",
                "default": f"echo default=${{containerEnv:NOT_SET_ANYWHERE:fallback}} >> {log}",
            },
            "postStartCommand": f"echo start=${{containerEnv:APP_ENV}},mode=$MODE >> {log}",
            "postAttachCommand": f"echo attach=${{containerEnv:APP_ENV:unused}} >> {log}",
        },
    )
    devenv.up(folder)
    assert devenv.exec(folder, "cat", "/tmp/x").stdout == "staging\n"
    assert lines(folder / "hooks.log")[:1] == ["update=staging"]
    assert sorted(lines(folder / "hooks.log")[1:3]) == ["default=fallback", "unknown=[]"]
    assert lines(folder / "hooks.log")[3:] == ["start=staging,mode=staging-remote", "attach=staging"]
    assert devenv.exec(folder, "sh", "-c", "echo $MODE").stdout == "staging-remote\n"

    devenv.up(folder)  # running: the fast path runs postAttachCommand only
    devenv("stop", "--workspace-folder", str(folder))
    devenv.up(folder)  # restarted: postStartCommand and postAttachCommand
    assert lines(folder / "hooks.log")[5:] == ["attach=staging", "start=staging,mode=staging-remote", "attach=staging"]


def test_hooks_run_by_the_set_up_exec_see_what_hooks_run_alone_see(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    """A new container's hooks may run in the set-up exec itself (root, string/array hooks): they see the
    same environment, user, folder and order as hooks run one exec each (forced here by an object-form
    hook), and a failure is reported and resumed the same way."""
    seen = {}
    for name, attach in (("fused", "true"), ("alone", {"x": "true"})):
        folder = new_folder(tmp_path, workspaces, name)
        write_config(
            folder,
            {
                "image": base_image,
                "containerEnv": {"CE": "ce"},
                "remoteEnv": {"RE": "${containerEnv:CE}-re", "CE": None, "WITH_SPACE": "a b"},
                "onCreateCommand": ["sh", "-c", f"(id; pwd; env | grep -v ^HOSTNAME= | sort) > /workspaces/{name}/env"],
                "postCreateCommand": f"echo create >> /workspaces/{name}/order",
                "postStartCommand": f"echo start >> /workspaces/{name}/order",
                "postAttachCommand": attach,
            },
        )
        devenv.up(folder, "--remote-env", "EXTRA=x y")
        seen[name] = ((folder / "env").read_text().replace(name, "<ws>"), lines(folder / "order"))
    assert seen["fused"] == seen["alone"]
    env = seen["fused"][0]
    assert "RE=ce-re\n" in env and "EXTRA=x y\n" in env and "WITH_SPACE=a b\n" in env
    assert "\nCE=ce\n" in env  # remoteEnv's null leaves the container's own value (an exec's base env)
    assert seen["fused"][1] == ["create", "start"]

    folder = new_folder(tmp_path, workspaces, "fusedfail")
    log = "/workspaces/fusedfail/log"
    config = {
        "image": base_image,
        "onCreateCommand": f"echo one >> {log}",
        "postCreateCommand": f"echo two >> {log}; echo broken on purpose; exit 4",
        "postStartCommand": f"echo three >> {log}",
    }
    write_config(folder, config)
    failed = devenv.up(folder, check=False)
    assert failed.returncode != 0
    assert "postCreateCommand from devcontainer.json failed (exit code 4)" in failed.result()["message"]
    assert "broken on purpose" in failed.stderr
    assert lines(folder / "log") == ["one", "two"]
    config["postCreateCommand"] = f"echo two-ok >> {log}"
    write_config(folder, config)
    devenv.up(folder)
    assert lines(folder / "log") == ["one", "two", "two-ok", "three"]


def test_a_non_root_hook_replaces_a_marker_root_wrote(
    devenv: Devenv, tmp_path: Path, workspaces: list[Path], base_image: str
) -> None:
    """The object form's marker is written by root; when the hook becomes a string, the remote user's own
    process records it (in-band) over root's file — so it is not run again by the next full pass."""
    folder = new_folder(tmp_path, workspaces, "markers")
    config: dict[str, Any] = {
        "image": base_image,
        "remoteUser": "nobody",
        "updateRemoteUserUID": False,
        "postStartCommand": {"a": "echo start-a >> /tmp/log"},
    }
    write_config(folder, config)
    devenv.up(folder)
    config["postStartCommand"] = "echo start-b >> /tmp/log"
    write_config(folder, config)
    devenv("stop", "--workspace-folder", str(folder))
    devenv.up(folder)
    devenv("run-user-commands", "--workspace-folder", str(folder))
    assert devenv.exec(folder, "cat", "/tmp/log").stdout.split() == ["start-a", "start-b"]
