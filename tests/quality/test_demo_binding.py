"""`hala demo --model X` after a demo with another model stops before any work instead of printing the old rows;
`--overwrite` starts it clean. A report folder is written by one command at a time. Through the real CLI."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys

from tests.helpers import REPO
from tests.helpers.openai_test_server import openai_test_server


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def test_demo_with_another_model_is_refused_then_overwritten(tmp_path):
    out = tmp_path / "demo"
    with openai_test_server(model="first-model") as first:
        r = hala("demo", str(out), "--server", "endpoint", "--endpoint", first.url, "--model", "first-model")
    assert r.returncode in (0, 1), r.stderr
    with openai_test_server(model="second-model") as second:
        refused = hala("demo", str(out), "--server", "endpoint", "--endpoint", second.url,
                       "--model", "second-model")
        assert second.count == 0  # nothing was sent: it stopped before any work
        again = hala("demo", str(out), "--server", "endpoint", "--endpoint", second.url,
                     "--model", "second-model", "--overwrite")
    assert refused.returncode == 2 and "model" in refused.stderr and "--overwrite" in refused.stderr, refused.stderr
    assert again.returncode in (0, 1), again.stderr
    assert json.loads((out / "corpus" / "run.json").read_text())["model"].startswith("second-model@")


def test_a_report_folder_has_one_writer(tmp_path):
    rep = tmp_path / "rep"
    rep.mkdir()
    with open(rep / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = hala("report", str(REPO / "samples" / "audit" / "instructions.jsonl"), str(rep), "--no-lid")
    assert r.returncode == 2 and "another hala command is writing" in r.stderr, r.stderr
