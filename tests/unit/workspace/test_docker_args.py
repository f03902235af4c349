"""The Docker backend's pure parts: create arguments and records from `docker inspect`."""

from __future__ import annotations

from devenv.runtime.base import ContainerSpec, ContainerStatus, ExecSpec, MountSpec, PortMapping
from devenv.runtime.docker import DockerRuntime, container_from_inspect, create_args
from devenv.runtime.dockercli import parse_docker_time


def test_create_args() -> None:
    spec = ContainerSpec(
        image="img:1",
        command=("/bin/sh", "-c", "sleep infinity"),
        name="ws",
        env=("A=1",),
        user="dev",
        labels={"devcontainer.local_folder": "/src"},
        mounts=(MountSpec("bind", "/workspaces/src", "/src"), MountSpec("volume", "/cache", "vol", read_only=True)),
        ports=(PortMapping(8000, 18000),),
        init=True,
        cap_add=("SYS_PTRACE",),
        security_opt=("seccomp=unconfined",),
    )
    args = create_args(spec)
    assert args[:3] == ["create", "--name", "ws"]
    assert args[3:5] == ["--label", "devcontainer.local_folder=/src"]
    assert "--init" in args and "--privileged" not in args
    joined = " ".join(args)
    assert "--mount type=bind,source=/src,target=/workspaces/src" in joined
    assert "--mount type=volume,source=vol,target=/cache,readonly" in joined
    assert "--publish 127.0.0.1:18000:8000/tcp" in joined
    assert args[-5:] == ["--entrypoint", "/bin/sh", "img:1", "-c", "sleep infinity"]


def test_exec_args() -> None:
    rt = DockerRuntime(docker="docker")
    spec = ExecSpec(("ls", "-l"), env=("A=1",), user="dev", workdir="/w", tty=True, interactive=True)
    assert rt.exec_args("cid", spec) == [
        "exec", "--interactive", "--tty", "--user", "dev", "--workdir", "/w", "--env", "A=1", "cid", "ls", "-l",
    ]  # fmt: skip


def test_container_from_inspect() -> None:
    info = {
        "Id": "abc123" * 10,
        "Name": "/ws",
        "Created": "2024-05-01T10:00:00.123456789Z",
        "Image": "sha256:img",
        "State": {
            "Status": "running",
            "Pid": 42,
            "StartedAt": "2024-05-01T10:00:01Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
        },
        "Config": {
            "Image": "img:1",
            "Entrypoint": ["/bin/sh"],
            "Cmd": ["-c", "x"],
            "Env": ["A=1"],
            "User": "dev",
            "Labels": {"k": "v"},
        },
        "HostConfig": {"Init": True, "Privileged": False, "CapAdd": ["SYS_PTRACE"], "NetworkMode": "bridge"},
        "Mounts": [{"Type": "bind", "Source": "/src", "Destination": "/workspaces/src", "RW": True}],
        "NetworkSettings": {
            "IPAddress": "172.17.0.2",
            "Ports": {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18000"}]},
        },
    }
    c = container_from_inspect(info)
    assert c.status is ContainerStatus.RUNNING and c.pid == 42 and c.name == "ws"
    assert c.spec.command == ("/bin/sh", "-c", "x") and c.spec.labels == {"k": "v"}
    assert c.spec.mounts == (MountSpec("bind", "/workspaces/src", "/src"),)
    assert c.ports == (PortMapping(8000, 18000, "127.0.0.1"),)
    assert c.created == parse_docker_time("2024-05-01T10:00:00.123456Z")
    assert c.finished_at is None
    stopped = container_from_inspect({**info, "State": {"Status": "exited", "ExitCode": 3}})
    assert stopped.status is ContainerStatus.STOPPED and stopped.exit_code == 3 and stopped.pid is None


def test_docker_times_parse_as_datetime_does() -> None:
    """The quick ``up`` check parses Docker's UTC times without datetime: the same floats (state stamps)."""
    import random
    from datetime import UTC, datetime, timedelta

    rng = random.Random(7)
    start = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(2000):
        moment = start + timedelta(seconds=rng.randrange(0, 130 * 365 * 86400), microseconds=rng.randrange(10**6))
        digits = f"{moment.microsecond:06d}{rng.randrange(1000):03d}"[: rng.randrange(0, 10)]
        text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{digits}" if digits else "") + "Z"
        micro = int(digits[:6].ljust(6, "0")) if digits else 0
        expected = moment.replace(microsecond=micro).timestamp()
        assert parse_docker_time(text) == expected, text
    assert (
        parse_docker_time("2024-05-01T10:00:00+02:00")
        == datetime.fromisoformat("2024-05-01T10:00:00+02:00").timestamp()
    )
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
