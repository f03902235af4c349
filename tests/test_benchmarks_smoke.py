"""The benchmark harness itself runs (one repetition, the cheapest scenario, no peers)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("devenv") is None, reason="devenv is not installed on PATH (scripts/install.sh)")
def test_harness_runs_the_startup_scenario() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "startup", "--reps", "1", "--no-peers"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| `devenv --version` start-up |" in proc.stdout
    latest = json.loads((REPO / "benchmarks/results/latest.json").read_text())
    row = latest["rows"][0]
    assert row["devenv"]["samples"], "the scenario recorded no sample"
    assert row["devenv"]["samples"][0]["seconds"] > 0
