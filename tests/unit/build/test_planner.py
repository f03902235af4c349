"""Planning: Docker's expansion rules per instruction, the image config, and cache keys that change
exactly when a step's inputs change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv.build import dockerfile as df
from devenv.build.context import Context, Selection
from devenv.build.imageconfig import ImageConfig
from devenv.build.lexer import DockerfileError
from devenv.build.plan import BuildPlan, CopyAction, MkdirAction, RunAction
from devenv.build.planner import BaseImage, plan_dockerfile, required_images

BASE = BaseImage("base:1", "sha256:" + "1" * 64, ImageConfig(env=("PATH=/usr/bin:/bin", "HOME=/root")))


class Inputs:
    def __init__(self, root: Path) -> None:
        self.ctx = Context(root)

    def select(self, source: str) -> Selection:
        return self.ctx.select(source)

    def fetch_url(self, url: str, checksum: str | None) -> tuple[str, str]:
        raise AssertionError("no URLs in these tests")


def plan(text: str, root: Path, **kw: object) -> BuildPlan:
    d = df.parse(text)
    bases = {"base:1": BASE, **kw.pop("bases", {})}  # type: ignore[dict-item]
    return plan_dockerfile(d, bases=bases, inputs=Inputs(root), **kw)  # type: ignore[arg-type]


def keys(p: BuildPlan) -> list[str]:
    return [s.key for s in p.target.steps if s.key]


def test_env_arg_expansion_as_docker(tmp_path: Path) -> None:
    p = plan(
        "ARG V=1\nFROM base:1\nARG V\nARG W=${V}-w\nENV A=hello\nENV A=bye B=$A\nENV C=${W} D=${HOME}\n"
        "LABEL v=$V\nUSER ${W}\nWORKDIR app\nWORKDIR $A\n",
        tmp_path,
        build_args={"V": "2"},
    )
    cfg = p.target.config
    env = cfg.env_map()
    assert env["A"] == "bye" and env["B"] == "hello"  # ENV pairs see the env before the instruction
    assert env["C"] == "2-w" and env["D"] == "/root"
    assert "V" not in env and "W" not in env  # ARG values never reach the image config
    assert cfg.label_map() == {"v": "2"} and cfg.user == "2-w" and cfg.workdir == "/app/bye"


def test_run_env_includes_args_and_env_wins(tmp_path: Path) -> None:
    p = plan("FROM base:1\nARG X=arg\nENV X=env\nARG Y=y\nRUN echo\n", tmp_path)
    run = p.target.steps[-1].action
    assert isinstance(run, RunAction)
    assert run.argv == ("/bin/sh", "-c", "echo")
    assert "X=env" in run.env and "Y=y" in run.env and "X=arg" not in run.env


def test_shell_cmd_entrypoint(tmp_path: Path) -> None:
    p = plan(
        'FROM base:1\nCMD ["a"]\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN x | y\nENTRYPOINT run me\n',
        tmp_path,
    )
    cfg = p.target.config
    assert cfg.entrypoint == ("/bin/bash", "-o", "pipefail", "-c", "run me")
    assert cfg.cmd == ("a",)  # CMD set in this stage survives ENTRYPOINT
    run = next(s.action for s in p.target.steps if isinstance(s.action, RunAction))
    assert run.argv == ("/bin/bash", "-o", "pipefail", "-c", "x | y")
    p2 = plan(
        'FROM base:1\nENTRYPOINT ["e"]\n',
        tmp_path,
        bases={"base:1": BaseImage("base:1", BASE.digest, ImageConfig(cmd=("inherited",)))},
    )
    assert p2.target.config.cmd is None  # an inherited CMD is reset by ENTRYPOINT


def test_metadata_instructions_to_config(tmp_path: Path) -> None:
    p = plan(
        "FROM base:1\nEXPOSE 80 8000-8001/udp\nVOLUME /data\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=10s CMD true\n",
        tmp_path,
    )
    oci = p.target.config.to_oci()
    assert oci["ExposedPorts"] == {"80/tcp": {}, "8000/udp": {}, "8001/udp": {}}
    assert oci["Volumes"] == {"/data": {}} and oci["StopSignal"] == "SIGINT"
    assert oci["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 10 * 10**9}


def test_scratch_gets_default_path(tmp_path: Path) -> None:
    p = plan("FROM scratch\n", tmp_path)
    assert p.target.config.env_map()["PATH"].startswith("/usr/local/sbin")


def test_copy_paths_relative_to_workdir(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    p = plan("FROM base:1\nWORKDIR /w\nCOPY a .\nCOPY a b sub/\nCOPY --chown=1000 --chmod=600 a /abs\n", tmp_path)
    copies = [s.action for s in p.target.steps if isinstance(s.action, CopyAction)]
    assert [c.dest for c in copies] == ["/w/", "/w/sub/", "/abs"]
    assert copies[2].chown == "1000" and copies[2].chmod == 0o600
    with pytest.raises(DockerfileError, match=r"Dockerfile:2: When using COPY with more than one source"):
        plan("FROM base:1\nCOPY a b /dst\n", tmp_path)
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: COPY source 'nope' names nothing"):
        plan("FROM base:1\nCOPY nope /dst\n", tmp_path)


def test_cache_keys_change_only_from_the_changed_step_on(tmp_path: Path) -> None:
    (tmp_path / "app.txt").write_text("v1")
    text = "FROM base:1\nRUN apt-get update\nLABEL x=1\nCOPY app.txt /app/\nRUN build\n"
    k1 = keys(plan(text, tmp_path))
    assert keys(plan(text, tmp_path)) == k1  # deterministic
    assert keys(plan(text.replace("x=1", "x=2"), tmp_path)) == k1  # a label never invalidates layers
    (tmp_path / "app.txt").write_text("v2")
    k2 = keys(plan(text, tmp_path))
    assert k2[:2] == k1[:2] and k2[2] != k1[2] and k2[3] != k1[3]
    k3 = keys(plan(text.replace("RUN build", "ENV A=1\nRUN build"), tmp_path))
    assert k3[:3] == k2[:3] and k3[3] != k2[3]  # a new ENV reaches the RUN after it


def test_build_arg_changes_only_steps_that_see_it(tmp_path: Path) -> None:
    text = "FROM base:1\nRUN one\nARG V\nRUN two\n"
    a = keys(plan(text, tmp_path, build_args={"V": "1"}))
    b = keys(plan(text, tmp_path, build_args={"V": "2"}))
    assert a[:2] == b[:2] and a[2] != b[2]


def test_multi_stage_target_and_copy_from(tmp_path: Path) -> None:
    text = (
        "ARG IMG=base:1\nFROM ${IMG} AS build\nRUN make\nFROM base:1 AS unused\nRUN nothing\n"
        "FROM build AS final\nCOPY --from=build /out /out\nFROM final AS last\n"
    )
    d = df.parse(text)
    assert required_images(d) == ["base:1"]
    p = plan(text, tmp_path)
    assert [s.name for s in p.stages] == ["build", "final", "last"]
    final = p.stages[1]
    copy = next(s.action for s in final.steps if isinstance(s.action, CopyAction))
    assert copy.sources[0].kind == "stage" and copy.sources[0].stage == 0
    assert p.target.key == final.key  # FROM final: same layer state
    p_build = plan(text, tmp_path, target="build")
    assert [s.name for s in p_build.stages] == ["build"]


def test_from_needs_resolved_base(tmp_path: Path) -> None:
    with pytest.raises(DockerfileError, match="Dockerfile:1: base image 'other:2' was not resolved"):
        plan("FROM other:2\n", tmp_path)
    with pytest.raises(DockerfileError, match=r"base name \(\$\{NOPE\}\) should not be blank"):
        plan("FROM ${NOPE}\n", tmp_path)


def test_workdir_creates_directory_as_user(tmp_path: Path) -> None:
    p = plan("FROM base:1\nUSER dev\nWORKDIR /home/dev/src\n", tmp_path)
    mk = p.target.steps[-1].action
    assert mk == MkdirAction("/home/dev/src", "dev")


def test_heredoc_run_forms(tmp_path: Path) -> None:
    p = plan("FROM base:1\nRUN <<EOF\necho hi\nEOF\nRUN cat <<A > /a\nx\nA\nCOPY <<F /f\n$HOME\nF\n", tmp_path)
    runs = [s.action for s in p.target.steps if isinstance(s.action, RunAction)]
    assert runs[0].argv == ("/bin/sh", "-c", "/dev/pipes/EOF") and runs[0].files[0].content == "echo hi\n"
    assert runs[1].argv == ("/bin/sh", "-c", "cat <<A > /a\nx\nA\n")
    copy = p.target.steps[-1].action
    assert isinstance(copy, CopyAction) and copy.sources[0].content == "/root\n"


def test_inputs_record_what_explain_needs(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    p = plan("FROM base:1\nCOPY f /f\n", tmp_path)
    step = p.target.steps[-1]
    inputs = dict(step.inputs)
    assert inputs["parent"] == p.target.steps[0].key
    assert inputs["file:f"].startswith("file 644 ")
    json.dumps(step.inputs)  # serialisable
