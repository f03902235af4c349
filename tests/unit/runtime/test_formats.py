"""The small formats: control frames, log records, records of containers, state, env, /etc files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devenv.runtime.base import ContainerSpec, MountSpec, PortMapping, Resources
from devenv.runtime.embedded import image_source, netns, process, records, state, stream
from devenv.runtime.embedded.config import MountEntry, RunConfig
from devenv.runtime.embedded.users import ExecUser
from devenv.snapshots.base import Mount


def test_frames_survive_arbitrary_splits() -> None:
    data = stream.frame(stream.STDOUT, b"hello") + stream.resize_frame(40, 120) + stream.int_frame(stream.EXIT, -3)
    for cut in range(len(data) + 1):
        reader = stream.FrameReader()
        frames = reader.feed(data[:cut]) + reader.feed(data[cut:])
        assert frames == [
            (stream.STDOUT, b"hello"),
            (stream.RESIZE, b"\x00\x28\x00\x78"),
            (stream.EXIT, b"\xff\xff\xff\xfd"),
        ]
    assert stream.parse_resize(frames[1][1]) == (40, 120) and stream.parse_int(frames[2][1]) == -3


def test_oversized_frames_are_refused() -> None:
    with pytest.raises(ValueError, match="too large"):
        stream.FrameReader().feed(b"\x01\x7f\xff\xff\xff")


def test_log_records_skip_an_incomplete_tail(tmp_path: Path) -> None:
    path = tmp_path / "log"
    whole = stream.log_record(1, 1.5, b"out") + stream.log_record(2, 2.5, b"err")
    path.write_bytes(whole + stream.log_record(1, 3.0, b"partial")[:-2])
    fd = os.open(path, os.O_RDONLY)
    try:
        recs, offset = stream.read_log_records(fd)
        assert recs == [(1, 1.5, b"out"), (2, 2.5, b"err")] and offset == len(whole)
        assert stream.read_log_records(fd, offset) == ([], offset)
    finally:
        os.close(fd)


def test_spec_round_trips_through_the_record() -> None:
    spec = ContainerSpec(
        image="img", command=("a", "b"), name="n", env=("A=1",), labels={"k": "v"},
        mounts=(MountSpec("bind", "/t", "/s", True, ("x",)),), ports=(PortMapping(80, 8080, require_local_port=True),),
        resources=Resources(1, 2.0, 3), rootfs=(Mount("bind", "/l", ("rbind", "ro")),), cap_add=("NET_ADMIN",),
    )  # fmt: skip
    rec = records.Record(id="i", name="n", created=1.0, spec=spec, lower=["/l"], volumes={"/v": "vol"})
    assert records.Record.from_dict(rec.to_dict()) == rec


def test_run_config_round_trips() -> None:
    mounts = [MountEntry("tmpfs", "/t", data="mode=1777")]
    cfg = RunConfig(
        id="i", name="n", argv=["sh"], env=[], hostname="h", state_dir="/d", rootfs_driver="copy",
        rootfs_dir="/d/rootfs", mounts=mounts, tty_size=(3, 4),
    )  # fmt: skip
    assert RunConfig.from_json(cfg.to_json()) == cfg


def test_state_of_a_dead_process_reads_as_stopped(tmp_path: Path) -> None:
    me = state.ProcessRef.of(os.getpid())
    assert me.alive()
    assert not state.ProcessRef(me.pid, me.start + 1, me.boot).alive()  # same pid, other process
    assert not state.ProcessRef(me.pid, me.start, "other-boot").alive()  # after a reboot
    state.write(str(tmp_path), state.State(status="running", init=state.ProcessRef(me.pid, me.start + 1, me.boot)))
    st = state.refreshed(str(tmp_path))
    assert st.status == "stopped" and st.finished_at is not None
    (tmp_path / state.STATE_FILE).write_text("{not json")
    assert state.read(str(tmp_path)).status == "stopped"
    assert state.read(str(tmp_path / "missing")).status == "created"


def test_environment_defaults() -> None:
    env = process.final_env(["A=1", "A=2", "NOEQ", "HOME=/x"], ExecUser(1, 1, (1,), "/home/u"), tty=True)
    assert env == {"A": "2", "HOME": "/x", "PATH": process.DEFAULT_PATH, "TERM": "xterm"}
    assert process.final_env([], ExecUser(1, 1, (1,), "/home/u"), tty=False)["HOME"] == "/home/u"


def test_etc_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert netns.hosts_file("box", "10.0.0.2").splitlines()[-1] == "10.0.0.2\tbox"
    assert netns.hosts_file("box", None).splitlines()[-1] == "127.0.1.1\tbox"
    assert netns.needs_attach("bridge", (), False) and not netns.needs_attach("none", (), False)
    assert netns.needs_attach("host", (PortMapping(80),), False) and netns.needs_attach("none", (), True)


def test_rootfs_mounts_become_lower_dirs() -> None:
    assert image_source.lower_dirs([Mount("bind", "/a", ("rbind", "ro")), Mount("bind", "/b")]) == ["/a", "/b"]
    over = Mount("overlay", "overlay", ("lowerdir=/top:/mid:/low", "upperdir=/up", "workdir=/w"))
    assert image_source.lower_dirs([over]) == ["/low", "/mid", "/top", "/up"]
    with pytest.raises(image_source.RootfsError):
        image_source.lower_dirs([Mount("nfs", "x")])
    with pytest.raises(image_source.RootfsError):
        image_source.lower_dirs([])
