"""An output folder is bound to its run (OUT/run.json) and written by one command at a time (OUT/.lock)."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def kept(out: Path) -> int:
    return json.loads((out / "stats.json").read_text())["stages"]["quality"]["kept"]


def test_other_settings_into_a_used_folder_stop_before_any_work(tmp_path):
    out = tmp_path / "out"
    first = hala("filter", str(AUDIT), str(out), "--kind", "instructions")
    assert first.returncode == 0, first.stderr
    before = sorted(p.name for p in (out / "data").iterdir())
    r = hala("filter", str(AUDIT), str(out), "--kind", "instructions", "--no-lid")
    assert r.returncode == 2, r.stderr
    assert "filters.lid" in r.stderr and "--overwrite" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in (out / "data").iterdir()) == before
    assert "lid" in json.loads((out / "stats.json").read_text())["stages"]  # still describes the first run
    again = hala("filter", str(AUDIT), str(out), "--kind", "instructions", "--no-lid", "--overwrite")
    assert again.returncode == 0, again.stderr
    assert "lid" not in json.loads((out / "stats.json").read_text())["stages"]
    assert json.loads((out / "run.json").read_text())["settings"]["filters.lid"] is None


def test_same_run_resumes_and_other_input_is_refused(tmp_path):
    out = tmp_path / "out"
    assert hala("filter", str(AUDIT), str(out), "--kind", "instructions").returncode == 0
    same = hala("filter", str(AUDIT), str(out), "--kind", "instructions")
    assert same.returncode == 0, same.stderr
    other = tmp_path / "b.jsonl"
    other.write_text("".join(AUDIT.read_text().splitlines(keepends=True)[:10]))
    r = hala("filter", str(other), str(out), "--kind", "instructions")
    assert r.returncode == 2 and "inputs.input" in r.stderr, r.stderr
    moved = tmp_path / "copy.jsonl"  # the same data under another name is the same run
    shutil.copy(AUDIT, moved)
    assert hala("filter", str(moved), str(out), "--kind", "instructions").returncode == 0


def test_a_second_writer_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "a+") as fh:  # what a running hala command holds
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = hala("dedup", str(AUDIT), str(out))
    assert r.returncode == 2 and "another hala command is writing" in r.stderr, r.stderr
    assert not (out / "data").exists()


def test_a_folder_without_run_json_is_not_silently_reused(tmp_path):
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "stats.json").write_text("{}")
    r = hala("dedup", str(AUDIT), str(out))
    assert r.returncode == 2 and "run.json" in r.stderr, r.stderr
    assert hala("dedup", str(AUDIT), str(out), "--overwrite").returncode == 0


def test_an_output_path_that_is_a_file_is_one_line(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    r = hala("filter", str(AUDIT), str(f), "--kind", "instructions")
    assert r.returncode == 2 and "not a folder" in r.stderr, r.stderr
