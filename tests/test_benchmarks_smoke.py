"""The benchmark harness itself runs and measures what it says (benchmarks are not tests: CI does not run
them; this checks the harness, with one repetition of the cheapest scenarios and no peers)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from benchmarks import processes
from benchmarks.harness import Comparison, Sample, Series, alternate, render_markdown, run_timed

REPO = Path(__file__).resolve().parent.parent
INSTALLED = any(Path(p).exists() for p in ("/opt/devenv/venv/bin/devenv", "/usr/local/bin/devenv"))
needs_devenv = pytest.mark.skipif(not INSTALLED, reason="devenv is not installed (scripts/install.sh)")


def _bench(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "benchmarks", *args]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@needs_devenv
def test_harness_runs_scenarios_without_peers(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    proc = _bench("--only", "startup", "read_configuration", "--reps", "1", "--no-peers", "--results", str(results))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "| `devenv --version` start-up |" in out
    assert "| `read-configuration` on a typical config |" in out
    assert "peak RSS: `read-configuration` on a typical config" in out
    assert "Machine — date:" in out and "load average" in out
    latest = json.loads(results.read_text())
    assert [r["name"] for r in latest["rows"]] == [
        "`devenv --version` start-up",
        "`read-configuration` on a typical config",
    ]
    for row in latest["rows"]:
        sample = row["devenv"]["samples"][0]
        assert sample["value"] > 0 and sample["peak_rss_kib"] > 0 and sample["cpu_seconds"] > 0
    scratch = re.search(r"scratch: (\S+)", err)
    assert scratch is not None and not Path(scratch.group(1)).exists(), "the scratch directory was left behind"


def test_unknown_benchmark_is_named() -> None:
    proc = _bench("--only", "no_such_thing", "--no-peers")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "unknown benchmark(s): no_such_thing" in err and "workspace" in err


@needs_devenv
def test_sigterm_stops_cleanly_and_removes_the_scratch_directory() -> None:
    proc = _bench("--only", "startup", "--reps", "100000", "--no-peers")
    assert proc.stderr is not None
    line = proc.stderr.readline()
    scratch = Path(line.split()[1])
    assert scratch.exists()
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not scratch.exists()


def test_run_timed_reports_the_commands_own_peak_memory() -> None:
    """Not this (larger) process's: the command is forked from GNU time, not from the harness."""
    if not Path("/usr/bin/time").exists():
        pytest.skip("GNU time is not installed (apt-get install time)")
    ballast = bytearray(200 * 2**20)  # the harness is big...
    ballast[::4096] = b"x" * len(ballast[::4096])
    small = run_timed(["/bin/true"])
    big = run_timed([sys.executable, "-c", "b = bytearray(120 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
    del ballast
    assert 0 < small.peak_rss_kib < 20 * 1024
    assert big.peak_rss_kib > 120 * 1024
    assert small.value > 0
    with pytest.raises(RuntimeError, match="failed"):
        run_timed(["/bin/false"])


def test_run_timed_kills_a_command_that_hangs() -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="did not finish within 1 s"):
        run_timed(["sh", "-c", "sleep 60 & sleep 60"], timeout=1)
    assert time.monotonic() - started < 10


def test_alternate_warms_up_then_reverses_the_order_each_round() -> None:
    calls: list[str] = []

    def runner(name: str) -> Sample:
        calls.append(name)
        return Sample(float(len(calls)))

    series = alternate(3, {"a": lambda: runner("a"), "b": lambda: runner("b")}, warmup=1)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert [s.value for s in series["a"].samples] == [4.0, 5.0, 8.0]  # the warm-up run (1.0) is dropped
    assert series["a"].median == 5.0 and series["a"].spread == (4.0, 8.0)


def test_table_gives_ratios_against_each_reference_and_memory() -> None:
    ours = Series("devenv", [Sample(0.1, 20 * 1024), Sample(0.2, 22 * 1024), Sample(0.1, 21 * 1024)])
    slow = Series("devcontainer exec", [Sample(0.5, 60 * 1024)])
    fast = Series("docker exec", [Sample(0.05, 30 * 1024)])
    idle = Comparison("idle workspace", Series("devenv", [Sample(12.0)]), [Series("docker", [Sample(6.0)])], unit="MiB")
    rows = [Comparison("`exec true`", ours, [slow, fast], goal=">= 4x", note="(a note)"), idle]
    table = render_markdown(rows, {"cpu": "test"}, 3)
    assert "| `exec true` [1] | 100 ms (100 ms–200 ms) | devcontainer exec | 500 ms | 0.20 | **5.0x faster** |" in table
    assert "| 〃 | 〃 | docker exec | 50 ms | 2.00 | 2.0x slower |" in table
    assert "[1] a note" in table
    assert "| peak RSS: `exec true` | 22.0 MiB | devcontainer exec | 60.0 MiB | 0.37 |" in table
    assert "| idle workspace | 12.0 MiB | docker | 6.0 MiB | 2.00 |" in table


def test_process_tree_and_memory_of_a_real_process_tree() -> None:
    parent = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 5
        while len(processes.tree([parent.pid])) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        found = processes.tree([parent.pid])
        assert len(found) == 3 and parent.pid in found
        rss, pss = processes.memory_kib(found)
        assert rss > 0 and 0 < pss <= rss
        assert processes.describe(found).split(", ").count("sleep") == 2
    finally:
        for pid in processes.tree([parent.pid]) - {parent.pid}:
            os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait()


@pytest.mark.docker
@pytest.mark.integration
@pytest.mark.skipif(shutil.which("dockerd") is None or os.geteuid() != 0, reason="needs root and docker.io")
def test_private_engine_leaves_the_hosts_network_as_it_was() -> None:
    """The benchmark's Docker engine has its own bridge: it never deletes or changes docker0 (an engine
    with --bridge=none deletes it), and stop() removes its bridge, rules, processes and directory."""
    from benchmarks.engine import PrivateEngine

    def links() -> dict[str, str]:
        """Link name -> ifindex (a link deleted and created again gets a new index)."""
        out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
        return {line.split(": ")[1].split("@")[0]: line.split(":")[0] for line in out.splitlines()}

    def rules() -> str:
        return "".join(
            subprocess.run(["iptables", "-t", t, "-S"], capture_output=True, text=True).stdout
            for t in ("filter", "nat")
        )

    docker0 = links().get("docker0")
    base = Path(tempfile.mkdtemp(prefix="devenv-bench-test-"))  # short: containerd's socket paths
    engine = PrivateEngine(base / "engine").start()
    try:
        assert engine.bridge in links()
        assert links().get("docker0") == docker0, "the engine changed docker0"
        assert engine.comment in rules()
        assert engine.output("info", "--format", "{{.Name}}")
        daemons = engine.daemon_pids()
        assert len(daemons) == 2
    finally:
        engine.stop()
    assert links().get("docker0") == docker0, "the engine changed docker0"
    assert engine.bridge not in links()
    assert engine.comment not in rules()
    assert not processes.matching(f"{engine.base}/")
    assert all(not Path(f"/proc/{pid}").exists() for pid in daemons)
    assert not engine.base.exists()
    base.rmdir()
