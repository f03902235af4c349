"""devenv read-configuration against the reference tool on random (valid) configs, byte for byte."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance.random_configs import generate

pytestmark = [pytest.mark.reference, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root", "USER": "root", "FOO": "foo:val", "EMPTY": ""}
DIAGNOSTICS = re.compile(r',"ociAuthDiagnostics":\{[^{}]*\}\}$')


@pytest.mark.skipif(shutil.which("devcontainer") is None, reason="the reference CLI is not installed")
@pytest.mark.parametrize("seed", range(1000, 1030))
def test_random_config_matches_the_reference(seed: int, tmp_path: Path) -> None:
    workspace = tmp_path / f"case{seed}"
    (workspace / ".devcontainer").mkdir(parents=True)
    text = generate(seed)
    (workspace / ".devcontainer" / "devcontainer.json").write_bytes(text.encode("utf-8"))
    argv = ["read-configuration", "--workspace-folder", str(workspace)]
    reference = subprocess.run(["devcontainer", *argv], capture_output=True, text=True, env=ENV, timeout=120)
    ours = subprocess.run(
        [sys.executable, "-m", "devenv", *argv],
        capture_output=True,
        text=True,
        env={**ENV, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert reference.returncode == 0, reference.stderr[-2000:]
    assert ours.returncode == 0, f"{text!r}\n{ours.stderr}"
    assert ours.stdout.strip() == DIAGNOSTICS.sub("}", reference.stdout.strip()), repr(text)
