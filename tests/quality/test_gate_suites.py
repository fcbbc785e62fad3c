"""A gate that checks nothing never passes: a suite with no expectation or an expectation type GX does not know is
refused (exit 2); a custom suite that leaves out the bundled suite's expectations says so on the card; publish
refuses a verdict that evaluated nothing. Through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import REPO

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def _dataset(tmp_path):
    out = tmp_path / "ds"
    r = hala("filter", str(AUDIT), str(out), "--kind", "instructions", "--no-lid", "--no-quality")
    assert r.returncode == 0, r.stderr
    return out


def test_empty_or_unknown_suites_are_refused(tmp_path):
    ds = _dataset(tmp_path)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"name": "empty", "expectations": []}))
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"name": "unknown", "expectations": [
        {"type": "expect_the_data_to_be_great", "kwargs": {}}]}))
    for suite, words in ((empty, "no expectation"), (unknown, "expect_the_data_to_be_great")):
        r = hala("gate", str(ds), "--suite", str(suite))
        assert r.returncode == 2, (suite, r.stdout, r.stderr)
        assert words in r.stderr and "PASSED" not in r.stdout
        assert not (ds / "validation.json").exists()


def test_a_verdict_that_evaluated_nothing_is_not_published(tmp_path):
    from hala.pipelines.core.errors import UserError
    from hala.quality.fingerprint import dataset_fingerprint
    from hala.quality.gate import require_passing_gate

    ds = _dataset(tmp_path)
    (ds / "validation.json").write_text(json.dumps({  # what an earlier hala wrote for a 0-expectation suite
        "suite": "empty", "success": True, "fingerprint": dataset_fingerprint(ds), "dataset_kind": "instructions",
        "statistics": {"evaluated_expectations": 0, "successful_expectations": 0}}))
    try:
        require_passing_gate(ds)
    except UserError as e:
        assert "evaluated no expectation" in str(e)
    else:
        raise AssertionError("a gate that checked nothing was accepted")


def test_a_suite_that_drops_bundled_expectations_is_named(tmp_path):
    from hala.quality.suites import missing_required

    ds = _dataset(tmp_path)
    bundled = json.loads((REPO / "quality" / "expectations" / "arabic_instructions.json").read_text())
    custom = tmp_path / "lenient.json"
    custom.write_text(json.dumps({**bundled, "name": "lenient", "expectations": [
        e for e in bundled["expectations"] if (e.get("kwargs") or {}).get("column") != "lid_score"]}))
    r = hala("gate", str(ds), "--suite", str(custom))
    assert r.returncode in (0, 1), r.stderr
    saved = json.loads((ds / "validation.json").read_text())
    assert saved["missing_required"] == ["expect_column_values_to_be_between[lid_score]"]
    assert missing_required("arabic_instructions", "instructions") == []
