"""`hala demo` end to end, as a newcomer runs it: the full corpus recipe (translate → LID → quality → dedup) on the
bundled sample through datatrove and the CPU server, then the audit with report and gate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.helpers import REPO

STAGES = ["normalize", "source_lang", "translate", "lid", "quality", "dedup"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("demo")
    r = subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", "demo", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=600)
    return r, out


def _reject_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("*/*.jsonl")) for line in f.read_text("utf-8").splitlines()]


def _source_lines() -> int:
    return sum(len(f.read_bytes().splitlines()) for f in (REPO / "samples" / "demo").glob("*.jsonl"))


def test_demo_exits_0_with_a_summary(demo_run):
    r, _ = demo_run
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Arabic is meaningless" in r.stdout and "--model tiny" in r.stdout  # the tiny model, announced as such
    assert "quality gate (arabic_instructions): PASSED" in r.stdout
    assert "Traceback" not in r.stderr


def test_corpus_recipe_accounts_for_every_row(demo_run):
    _, out = demo_run
    corpus = out / "corpus"
    stages = json.loads((corpus / "stats.json").read_text())["stages"]
    assert list(stages) == STAGES
    assert stages["normalize"]["read"] == _source_lines()
    for before, after in zip(STAGES, STAGES[1:]):
        assert stages[before]["kept"] == stages[after]["read"], (before, after)
    rejects = _reject_rows(corpus / "rejects")
    for name, s in stages.items():
        assert s["read"] == s["kept"] + s["rejected"], name
        mine = [r for r in rejects if r["stage"] == name]
        assert len(mine) == s["rejected"], name
        assert sum(s["reasons"].values()) == s["rejected"]
    rows = sum(pq.read_metadata(f).num_rows for f in (corpus / "data").glob("*.parquet"))
    assert rows == stages["dedup"]["kept"]
    assert stages["normalize"]["read"] == rows + len(rejects)


def test_audit_catches_every_labelled_defect_and_reports(demo_run):
    r, out = demo_run
    labels = [json.loads(x) for x in (REPO / "samples" / "audit" / "labels.jsonl").read_text("utf-8").splitlines()]
    assert f"defects caught with the expected reason: {len(labels)}/{len(labels)}" in r.stdout
    rejected = {x["id"]: (x["stage"], x["reason"]) for x in _reject_rows(out / "audit" / "rejects")}
    for lab in labels:
        assert rejected.get(lab["id"]) == (lab["expected_stage"], lab["expected_reason"]), lab
    report = out / "audit" / "report"
    html = (report / "report.html").read_text("utf-8")
    assert "data:image/png;base64," in html or "<svg" in html
    verdict = json.loads((out / "audit" / "validation.json").read_text())
    assert verdict["success"] is True


def test_demo_screen_is_quiet_with_one_bar_per_stage(demo_run):
    """Library logs and datatrove's unlabelled bars stay in the task logs; each long stage has one labelled bar with
    a total (tqdm's `n/total [elapsed<ETA]`), and the model server's start is announced with its duration."""
    r, out = demo_run
    screen = r.stderr.replace("\r", "\n")
    for noise in ("INFO:great_expectations", "Initializing pq", "Reading dup files", "Document progress",
                  "${rank}", "| INFO", "Traceback"):
        assert noise not in screen, noise
    assert re.search(r"^translate: 100%\|.*\| 199/199 \[", screen, re.M)
    assert re.search(r"^filter: 100%\|.*\| 164/164 \[", screen, re.M)
    assert re.search(r"model server ready \(TransformersServer for tiny-lfm2-v1-\w+\) after \d+ s", screen)
    assert not re.search(r"^\s*\d+%\|.*\| \d+/\d+ \[", screen, re.M)  # no bar without a label
    assert screen.count("--model tiny") <= 1  # the tiny model is announced once


def test_demo_audit_folder_has_a_rerunnable_recipe(demo_run):
    import yaml

    _, out = demo_run
    recipe = yaml.safe_load((out / "audit" / "recipe.yaml").read_text(encoding="utf-8"))
    assert recipe["flow"] == "filter" and recipe["dedup"]["exact"] is True
    assert yaml.safe_load((out / "corpus" / "recipe.yaml").read_text(encoding="utf-8"))["server"]["model"] == "tiny"
