"""The bilingual commands bind their output folder to the run too: another run into it is refused (exit 2) unless
`--overwrite`. Through the real CLI."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO

OPUS = REPO / "samples" / "opus" / "ar_en.jsonl"


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_mine_and_translator_set_refuse_another_run(tmp_path):
    mined, tset = tmp_path / "mined", tmp_path / "set"
    assert hala("mine", str(OPUS), str(mined), "--no-judge").returncode == 0
    r = hala("mine", str(OPUS), str(mined), "--no-judge", "--limit", "5")
    assert r.returncode == 2 and "limit" in r.stderr and "--overwrite" in r.stderr, r.stderr
    assert hala("mine", str(OPUS), str(mined), "--no-judge").returncode == 0  # the same run: resumes (done)
    assert hala("build-translator-set", str(mined), str(tset)).returncode == 0
    r = hala("build-translator-set", str(mined), str(tset), "--reverse")
    assert r.returncode == 2 and "reverse" in r.stderr, r.stderr
    r = hala("build-translator-set", str(mined), str(tset), "--reverse", "--overwrite")
    assert r.returncode == 0, r.stderr
