"""Docker-style arguments: value forms, the fast parser, and agreement with the typer commands."""

from __future__ import annotations

import os
from typing import Any

import pytest

from devenv.cli import container_args as args
from devenv.errors import UsageError
from devenv.runtime.base import MountSpec, PortMapping


def test_volume_forms(tmp_path: Any) -> None:
    assert args.parse_volume("/host:/ctr:ro") == MountSpec("bind", "/ctr", "/host", True)
    assert args.parse_volume("./rel:/ctr") == MountSpec("bind", "/ctr", os.path.abspath("rel"))
    assert args.parse_volume("data:/data") == MountSpec("volume", "/data", "data")
    assert args.parse_volume("/anon") == MountSpec("volume", "/anon")
    with pytest.raises(UsageError, match="unknown option 'rx'"):
        args.parse_volume("/a:/b:rx")


def test_mount_forms() -> None:
    assert args.parse_mount("type=bind,source=/a,target=/b,readonly") == MountSpec("bind", "/b", "/a", True)
    assert args.parse_mount("type=volume,src=v,dst=/d,consistency=cached") == MountSpec("volume", "/d", "v")
    assert args.parse_mount("type=tmpfs,destination=/t,tmpfs-size=1m") == MountSpec(
        "tmpfs", "/t", "", False, ("tmpfs-size=1m",)
    )
    with pytest.raises(UsageError, match="target= is required"):
        args.parse_mount("type=bind,source=/a")
    with pytest.raises(UsageError, match="unknown key 'colour'"):
        args.parse_mount("type=bind,source=/a,target=/b,colour=red")


def test_publish_forms() -> None:
    assert args.parse_publish("80") == PortMapping(80, 0)
    assert args.parse_publish("8080:80") == PortMapping(80, 8080, require_local_port=True)
    assert args.parse_publish("0.0.0.0:53:53/udp") == PortMapping(53, 53, "0.0.0.0", "udp", require_local_port=True)
    with pytest.raises(UsageError):
        args.parse_publish("x:80")


def test_sizes_env_and_labels(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    assert [args.parse_bytes(s) for s in ("512m", "1g", "1.5GiB", "100", "64k")] == [
        512 << 20, 1 << 30, int(1.5 * (1 << 30)), 100, 64 << 10,
    ]  # fmt: skip
    with pytest.raises(UsageError, match="512q"):
        args.parse_bytes("512q")
    monkeypatch.setenv("FROM_HOST", "yes")
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nA=file\n\nB=2\n")
    assert args.parse_env(["A=cli", "FROM_HOST", "UNSET_HERE"], [str(env_file)]) == (
        "A=file",
        "B=2",
        "A=cli",
        "FROM_HOST=yes",
    )
    assert args.parse_labels(["a=1", "b"]) == {"a": "1", "b": ""}


def test_fast_parser_stops_at_the_image_and_combines_short_flags() -> None:
    p = args.parse_argv(
        ["-dit", "--rm", "-e", "A=1", "-eB=2", "--env=C=3", "img", "ls", "-la"], args.RUN_OPTIONS, args.RUN_SHORT
    )
    assert p.values == {"detach": True, "interactive": True, "tty": True, "rm": True, "env": ["A=1", "B=2", "C=3"]}
    assert p.positional == ["img", "ls", "-la"]
    assert args.parse_argv(["--", "-img"], args.RUN_OPTIONS, args.RUN_SHORT).positional == ["-img"]
    for unknown in (["--help"], ["-x", "img"], ["--rm=true", "img"], ["--name"]):
        with pytest.raises(args.NeedsFullParser):
            args.parse_argv(unknown, args.RUN_OPTIONS, args.RUN_SHORT)


ARGVS = [
    ["--rm", "--network", "none", "--rootfs", "/r", "true"],
    ["-d", "--name", "web", "-p", "8080:80", "-v", "/s:/w:ro", "-e", "A=1", "-l", "k=v", "img", "sh", "-c", "x"],
    ["-it", "-u", "1000:1000", "-w", "/tmp", "--cap-add", "NET_ADMIN", "--security-opt", "no-new-privileges", "img"],
    ["-m", "512m", "--cpus", "1.5", "--pids-limit", "50", "--no-init", "--entrypoint", "", "--tmpfs", "/run", "img"],
    ["--privileged", "--hostname", "h", "--mount", "type=volume,src=v,dst=/v", "--stop-signal", "SIGINT", "img", "a"],
]


@pytest.mark.parametrize("argv", ARGVS)
def test_fast_and_typer_parsers_agree(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from devenv.cli import container
    from devenv.cli.app import app

    seen: list[Any] = []
    monkeypatch.setattr(container, "do_run", lambda opts, create_only=False: seen.append(opts) or 0)
    result = CliRunner().invoke(app, ["container", "run", *argv])
    assert result.exit_code == 0, result.output
    fast = args.parse_argv(argv, args.RUN_OPTIONS, args.RUN_SHORT)
    assert seen == [args.run_options(fast.values, fast.positional)]
