"""The great-expectations gate: the clean remainder of samples/audit passes `arabic_instructions`; the same data with
injected defects fails, naming the failed expectations with what was observed; validation.json records the verdict
and the data fingerprint; `hala gate` exits 0 / 1 / 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hala.pipelines.core.errors import UserError
from hala.pipelines.core.records import instruction_schema
from hala.pipelines.translate.masking import protected_strings
from hala.quality.fingerprint import dataset_fingerprint
from hala.quality.gate import run_gate
from hala.quality.suites import load_suite, suite_names
from tests.helpers import REPO
from tests.helpers.cards import metrics_table

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"


@pytest.fixture(scope="module")
def audit_out(tmp_path_factory) -> Path:
    from hala.pipelines.dedup.flow import DedupConfig, run_filter_and_dedup

    out = tmp_path_factory.mktemp("audit") / "out"
    run_filter_and_dedup(str(AUDIT), str(out), "instructions", dedup=DedupConfig())
    return out


def clean_rows(out: Path) -> list[dict]:
    return [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def write_dataset(folder: Path, rows: list[dict]) -> Path:
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=instruction_schema()), folder / "data" / "000.parquet")
    return folder


def failed_by_column(result) -> dict[str, dict]:
    return {f["column"] or f["expectation"]: f for f in result.failed}


def test_bundled_suites_load():
    assert {"arabic_instructions", "bilingual_pairs"} <= set(suite_names())
    for name in ("arabic_instructions", "bilingual_pairs"):
        suite = load_suite(name)
        types = {e.expectation_type for e in suite.expectations}
        assert "expect_column_proportion_of_unique_values_to_be_between" in types
        assert suite.meta["notes"]


def test_clean_audit_output_passes(audit_out):
    result = run_gate(audit_out, "arabic_instructions")
    assert result.success and result.failed == []
    assert result["success"] is True  # the demo reads it like a dict
    saved = json.loads((audit_out / "validation.json").read_text())
    assert set(saved) == {"suite", "success", "fingerprint", "dataset_kind", "created_at", "statistics", "failed",
                          "gx_version", "missing_required"}
    assert saved["missing_required"] == []  # the bundled suite itself leaves nothing out
    assert saved["success"] is True and saved["suite"] == "arabic_instructions"
    assert saved["dataset_kind"] == "instructions" and saved["statistics"]["rows"] == 150
    assert saved["statistics"]["unsuccessful_expectations"] == 0
    assert saved["fingerprint"] == dataset_fingerprint(audit_out)
    assert saved["gx_version"].startswith("1.")
    # writing validation.json does not change what it fingerprints
    assert dataset_fingerprint(audit_out) == saved["fingerprint"]


def test_injected_defects_fail_with_observed_values(audit_out, tmp_path):
    rows = clean_rows(audit_out)
    n = len(rows)
    # 1 row with swapped roles, 10 rows left in English, 3 exact copies under new ids, 1 code block translated
    rows[0]["messages"] = [{**m, "role": {"user": "assistant", "assistant": "user"}.get(m["role"], m["role"])}
                           for m in rows[0]["messages"]]
    untranslated = [r["id"] for r in rows[1:11]]
    for r in rows[1:11]:
        r["messages"] = [dict(m) for m in r["messages_en"]]
    coded = next(r for r in rows[11:] if any("```" in m["content"] for m in r["messages_en"]))
    for m, en in zip(coded["messages"], coded["messages_en"]):
        for span in protected_strings(en["content"]):  # one letter inserted in the middle of every code span
            m["content"] = m["content"].replace(span, span[: len(span) // 2] + "س" + span[len(span) // 2 :])
    rows += [{**r, "id": f"copy{i}"} for i, r in enumerate(rows[20:23])]
    ds = write_dataset(tmp_path / "bad", rows)

    result = run_gate(ds, "arabic_instructions")
    assert not result.success
    failed = failed_by_column(result)
    assert failed["roles_ok"]["expectation"] == "expect_column_values_to_be_in_set"
    assert failed["roles_ok"]["observed"]["unexpected_count"] == 1
    assert failed["roles_ok"]["observed"]["unexpected_ids"] == [rows[0]["id"]]
    assert failed["spans_survived"]["observed"]["unexpected_ids"] == [coded["id"]]
    assert failed["duplicate_extra"]["expectation"] == "expect_column_mean_to_be_between"
    assert failed["duplicate_extra"]["observed"]["observed_value"] == pytest.approx(3 / (n + 3))
    lid = failed["lid_score"]
    clean = metrics_table(audit_out)
    low_clean = set(clean.filter(clean["lid_score"] < 0.5)["id"].to_list())  # one short row of the clean sample
    assert lid["kwargs"]["mostly"] == 0.95 and lid["observed"]["unexpected_count"] == 10 + len(low_clean)
    assert set(lid["observed"]["unexpected_ids"]) <= set(untranslated) | low_clean
    assert "empty_content" not in failed and "length_ratio" not in failed
    saved = json.loads((ds / "validation.json").read_text())
    assert saved["success"] is False and {f["column"] for f in saved["failed"]} == set(failed)

    out = CliRunner().invoke(_app(), ["gate", str(ds), "--suite", "arabic_instructions"])
    assert out.exit_code == 1
    assert "FAILED" in out.output and "roles_ok" in out.output and "1 of 153 rows unexpected" in out.output


def test_few_odd_rows_pass_within_mostly(audit_out, tmp_path):
    """`mostly` 0.95: three untranslated rows of 150 are tolerated by the statistical expectations."""
    rows = clean_rows(audit_out)
    for r in rows[:3]:
        r["messages"] = [dict(m) for m in r["messages_en"]]
    result = run_gate(write_dataset(tmp_path / "few", rows), "arabic_instructions")
    assert result.success, result.failed


def test_empty_content_and_duplicate_ids_fail(audit_out, tmp_path):
    rows = clean_rows(audit_out)[:20]
    rows[5]["messages"] = [{**rows[5]["messages"][0], "content": "  "}, *rows[5]["messages"][1:]]
    rows.append(dict(rows[7]))  # the same id twice
    result = run_gate(write_dataset(tmp_path / "e", rows))
    failed = failed_by_column(result)
    assert failed["empty_content"]["observed"]["unexpected_ids"] == [rows[5]["id"]]
    assert failed["id"]["expectation"] == "expect_column_proportion_of_unique_values_to_be_between"
    assert failed["id"]["observed"]["observed_value"] == pytest.approx(20 / 21)


def _app():
    from hala.pipelines.cli.app import get_app

    return get_app()


def test_gate_cli_pass_and_errors(audit_out, tmp_path):
    ds = tmp_path / "ds"
    shutil.copytree(audit_out / "data", ds / "data")
    out = CliRunner().invoke(_app(), ["gate", str(ds)])
    assert out.exit_code == 0, out.output
    assert "PASSED" in out.output and "13/13" in out.output
    with pytest.raises(UserError, match="no suite 'nope'"):
        run_gate(ds, "nope")
    with pytest.raises(UserError, match="is for pairs"):
        run_gate(ds, "bilingual_pairs")
    with pytest.raises(UserError, match="no such file"):
        run_gate(tmp_path / "missing", "arabic_instructions")


def test_pairs_suite(tmp_path):
    records = [json.loads(line) for line in AUDIT.read_text(encoding="utf-8").splitlines()[:60]]
    pairs = [{"id": f"p{i}", "src_lang": "en", "tgt_lang": "ar", "src": r["messages_en"][-1]["content"],
              "tgt": r["messages"][-1]["content"], "origin": "teacher:test"} for i, r in enumerate(records)]
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in pairs), encoding="utf-8")
    assert run_gate(good).success
    pairs[3]["tgt"] = pairs[3]["src"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in pairs), encoding="utf-8")
    result = run_gate(bad, "bilingual_pairs")
    assert not result.success
    assert failed_by_column(result)["identical_to_source"]["observed"]["unexpected_ids"] == ["p3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "good.jsonl"]  # no sidecar beside them
    assert Path(result.path).is_file() and Path(result.path).parent.name == "gate"


def _hala(*args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def test_gate_exit_codes_crash_is_2_not_1(audit_out, tmp_path):
    """Exit 1 means only "the suite failed": unreadable data and an expectation GX cannot evaluate are exit 2,
    one line, no traceback."""
    corrupt = tmp_path / "corrupt"
    shutil.copytree(audit_out / "data", corrupt / "data")
    first = sorted((corrupt / "data").glob("*.parquet"))[0]
    first.write_bytes(first.read_bytes()[:-40])  # a truncated parquet file: its footer is gone
    proc = _hala("gate", str(corrupt))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "cannot read the records" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (corrupt / "validation.json").exists()

    suite = tmp_path / "broken_suite.json"
    suite.write_text(json.dumps({"name": "broken", "expectations": [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "no_such_column", "min_value": 0, "max_value": 1}}]}))
    records = tmp_path / "records.jsonl"
    shutil.copyfile(AUDIT, records)
    with pytest.raises(UserError, match="no_such_column.*could not be evaluated"):
        run_gate(records, str(suite))
    # the failure is still recorded, so no earlier pass stands for this data
    from hala.quality.gate import validation_path

    assert json.loads(validation_path(records).read_text())["success"] is False


def test_fingerprint_is_of_the_bytes_validated(audit_out, tmp_path, monkeypatch):
    """The fingerprint is taken before the data is read; data that changes while the gate reads it is an error,
    not a verdict for bytes it never saw."""
    import hala.quality.gate as gate

    ds = tmp_path / "ds"
    shutil.copytree(audit_out / "data", ds / "data")
    before = dataset_fingerprint(ds)
    real = gate._metrics_frame

    def read_then_someone_writes(*args):
        out = real(*args)
        rows = clean_rows(ds)[:5]
        pq.write_table(pa.Table.from_pylist(rows, schema=instruction_schema()), ds / "data" / "zz-late.parquet")
        return out

    monkeypatch.setattr(gate, "_metrics_frame", read_then_someone_writes)
    with pytest.raises(UserError, match="changed while the gate read it"):
        run_gate(ds)
    assert not (ds / "validation.json").exists()
    monkeypatch.setattr(gate, "_metrics_frame", real)
    (ds / "data" / "zz-late.parquet").unlink()
    assert run_gate(ds).fingerprint == before


def test_gate_command_turns_an_unforeseen_crash_into_exit_2(monkeypatch, tmp_path):
    """Whatever goes wrong inside the gate, `hala gate` never exits 1 for it (1 is "the suite failed")."""
    import hala.quality.gate as gate

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(gate, "run_gate", boom)
    result = CliRunner().invoke(_app(), ["gate", str(tmp_path)])
    assert isinstance(result.exception, UserError)  # hala.pipelines.cli.app.main prints it as one line, exit 2
    assert str(result.exception) == f"gate could not validate {tmp_path}: RuntimeError: disk on fire"
