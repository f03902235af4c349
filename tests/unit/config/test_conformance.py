"""read-configuration against the reference tool's recorded output.

* The 98 real configs of ``../shared/conformance/readconf``: ``configuration`` (without
  ``configFilePath``) and ``workspace`` must equal the reference's exactly.
* The extra cases of ``tests/conformance/readconf_extra`` (odd JSONC, variables, layouts, git roots,
  legacy properties), recorded with ``tests/conformance/make_readconf_extra.py``: devenv's stdout must
  equal the reference's byte for byte (key order, number formatting and escapes included).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devenv.config import ReadConfigurationOptions, read_configuration
from devenv.config.jsonout import dumps
from tests.conformance.make_readconf_extra import ROOT as EXTRA_ROOT
from tests.conformance.make_readconf_extra import args_for, env_for, layout

REPO = Path(__file__).resolve().parents[3]
CORPUS = Path(os.environ.get("DEVENV_READCONF_CORPUS", REPO.parent / "shared" / "conformance" / "readconf"))
CORPUS_ROOT = "/tmp/devenv-conformance"
EXTRA = REPO / "tests" / "conformance" / "readconf_extra"
REFERENCE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root", "USER": "root"}

CORPUS_CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").is_file()) if CORPUS.is_dir() else []
EXTRA_CASES = sorted(p.name for p in EXTRA.iterdir() if (p / "expected.out").is_file())


def test_the_corpus_is_all_there() -> None:
    assert len(CORPUS_CASES) == 98, f"expected the 98 cases of {CORPUS}"


def _replace_paths(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_paths(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replace_paths(v, old, new) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CORPUS_CASES)
def test_corpus_case_matches_the_reference(case: str, tmp_path: Path) -> None:
    workspace = tmp_path / case
    (workspace / ".devcontainer").mkdir(parents=True)
    shutil.copy(CORPUS / case / "devcontainer.json", workspace / ".devcontainer" / "devcontainer.json")
    expected = _replace_paths(json.loads((CORPUS / case / "expected.json").read_text()), CORPUS_ROOT, str(tmp_path))

    result = read_configuration(ReadConfigurationOptions(workspace_folder=str(workspace), env=REFERENCE_ENV))

    got = dict(result.output["configuration"])
    assert got.pop("configFilePath")["fsPath"] == str(workspace / ".devcontainer" / "devcontainer.json")
    want = dict(expected["configuration"])
    want.pop("configFilePath")
    assert got == want
    assert result.output["workspace"] == expected["workspace"]


@pytest.mark.parametrize("case", EXTRA_CASES)
def test_extra_case_output_is_byte_identical(case: str, tmp_path: Path) -> None:
    spec = json.loads((EXTRA / case / "case.json").read_text())
    if spec.get("chown") and os.geteuid() != 0:
        pytest.skip("this case gives the workspace to another user: it needs root")
    spec["config"] = (EXTRA / case / "devcontainer.json").read_bytes().decode("utf-8")
    workspace = layout(case, spec, tmp_path)
    expected = (EXTRA / case / "expected.out").read_text().replace(str(EXTRA_ROOT), str(tmp_path))

    proc = subprocess.run(
        [sys.executable, "-m", "devenv", "read-configuration", *args_for(spec, workspace)],
        capture_output=True,
        text=True,
        env={**env_for(spec), "PYTHONPATH": str(REPO), "DEVENV_ROOT": str(tmp_path / "devenv-root")},
        cwd=workspace,
        timeout=60,
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected
    assert "Traceback" not in proc.stderr


def test_output_writer_matches_javascript_json() -> None:
    value = {"b": 1, "10": [1.5, 1e21, 1e-7, 0.1, -0.0, 2.0], "2": 'é\u2028"', "a": None}
    assert dumps(value) == '{"2":"é\u2028\\"","10":[1.5,1e+21,1e-7,0.1,0,2],"b":1,"a":null}'
