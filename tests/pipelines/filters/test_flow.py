"""LID → quality filters → dedup through datatrove on the bundled Arabic audit sample, and the `filter`/`dedup` CLI.

Every labelled defect of samples/audit must leave at its expected stage with its expected reason, every clean row
must be kept, and each stage's read = kept + rejected, the next stage reading what the previous one kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hala.pipelines.core.errors import UserError
from hala.pipelines.dedup.flow import DedupConfig, run_filter_and_dedup
from hala.pipelines.filters.flow import run_filter

REASONS = {
    "lid": {"lid_not_arabic", "lid_src_mismatch", "lid_tgt_mismatch"},
    "quality": {"length_ratio_chars", "length_ratio_tokens", "arabic_share_low", "untranslated_residue",
                "identical_to_source", "repetition", "empty_content", "leaked_prompt", "missing_numbers",
                "missing_placeholders", "masked_span_changed", "roles_mismatch"},
    "dedup": {"exact_duplicate", "near_duplicate"},
}


def read_rejects(out: Path) -> dict[str, dict]:
    found = {}
    for f in (out / "rejects").glob("*/*.jsonl"):
        for line in f.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            found[r["id"]] = r
    return found


def kept(out: Path) -> list[dict]:
    return [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def check_accounting(stats: dict, order: list[str], rows_in: int) -> None:
    read = rows_in
    for stage in order:
        s = stats["stages"][stage]
        assert s["read"] == read, stage
        assert s["read"] == s["kept"] + s["rejected"], stage
        assert sum(s["reasons"].values()) == s["rejected"], stage
        assert set(s["reasons"]) <= REASONS[stage], stage
        read = s["kept"]


@pytest.mark.slow
def test_audit_sample_lid_filters_dedup(tmp_path, repo_root):
    audit = repo_root / "samples" / "audit"
    rows = [json.loads(line) for line in (audit / "instructions.jsonl").read_text(encoding="utf-8").splitlines()]
    labels = [json.loads(line) for line in (audit / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    out = tmp_path / "audit"
    stats = run_filter_and_dedup(str(audit / "instructions.jsonl"), str(out), "instructions", dedup=DedupConfig())

    rejected = read_rejects(out)
    for label in labels:
        r = rejected.get(label["id"])
        assert r is not None, f"{label['id']} ({label['defect']}) was kept"
        assert (r["stage"], r["reason"]) == (label["expected_stage"], label["expected_reason"]), (label, r["detail"])
    labelled = {label["id"] for label in labels}
    assert set(rejected) == labelled, "a clean row was rejected: " + ", ".join(
        f"{i}: {rejected[i]['stage']}/{rejected[i]['reason']} {rejected[i]['detail']}" for i in set(rejected) - labelled)
    kept_rows = kept(out)
    assert sorted(r["id"] for r in kept_rows) == sorted(r["id"] for r in rows if r["id"] not in labelled)
    # duplicates name the clean row they copy
    for label in labels:
        if label["expected_stage"] == "dedup":
            twin = rejected[label["id"]]["detail"].removeprefix("kept=")
            assert twin in {r["id"] for r in kept_rows}

    check_accounting(stats, ["lid", "quality", "dedup"], len(rows))
    assert json.loads((out / "stats.json").read_text()) == stats
    assert stats["kind"] == "instructions"
    # the written records keep the contract: meta a JSON object string, messages_en kept for audit
    assert all(isinstance(json.loads(r["meta"]), dict) and r["messages_en"] for r in kept_rows)
    assert all(json.loads(r["meta"]).get("lid", {}).get("min_score", 1) >= 0.3 for r in kept_rows)


def test_filter_reads_a_dataset_folder_written_by_a_stage(tmp_path, repo_root):
    """The output of one stage (parquet with meta as a JSON string) is the input of the next."""
    first = tmp_path / "first"
    run_filter(str(repo_root / "samples" / "audit" / "instructions.jsonl"), str(first), "instructions")
    again = tmp_path / "again"
    stats = run_filter(str(first), str(again), "instructions")
    n = len(kept(first))
    check_accounting(stats, ["lid", "quality"], n)
    assert stats["stages"]["quality"]["rejected"] == 0 and len(kept(again)) == n
    assert {r["id"]: r["meta"] for r in kept(again)} == {r["id"]: r["meta"] for r in kept(first)}


def pairs_file(path: Path) -> Path:
    pairs = [
        ("The train leaves at 7:45 from platform 3.", "يغادر القطار في الساعة 7:45 من الرصيف 3."),
        ("Please water the plants twice a week.", "يرجى سقي النباتات مرتين في الأسبوع."),
        ("يرجى سقي النباتات مرتين في الأسبوع.", "Please water the plants twice a week."),  # swapped
        ("The museum opens at 9 and closes at 17.", "يفتح المتحف أبوابه صباحًا ويغلقها مساءً كل يوم."),  # numbers
        ("Good morning, how are you today?", ""),  # empty
        ("Good morning, how are you today?", "صباح الخير، كيف حالك اليوم؟"),
        ("Good morning, how are you today?", "صَبَاحُ الخَيْرِ، كَيْفَ حَالُكَ اليَوْمَ؟"),  # tashkeel twin
    ]
    rows = [{"id": f"p{i}", "src_lang": "en", "tgt_lang": "ar", "src": s, "tgt": t, "origin": "teacher:test",
             "judge": {"verdict": "ok", "model": "m", "raw": ""}, "meta": {}} for i, (s, t) in enumerate(pairs)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_filter_then_dedup_on_pairs(tmp_path):
    from hala.pipelines.cli.app import get_app

    app = get_app()
    runner = CliRunner()
    src = pairs_file(tmp_path / "pairs.jsonl")
    res = runner.invoke(app, ["filter", str(src), str(tmp_path / "f"), "--kind", "pairs"])
    assert res.exit_code == 0, res.output
    assert "lid" in res.output and "quality" in res.output
    found = read_rejects(tmp_path / "f")
    assert {k: v["reason"] for k, v in found.items()} == {"p2": "lid_src_mismatch", "p3": "missing_numbers",
                                                          "p4": "empty_content"}
    res = runner.invoke(app, ["dedup", str(tmp_path / "f"), str(tmp_path / "d"), "--key", "target"])
    assert res.exit_code == 0, res.output
    d = read_rejects(tmp_path / "d")
    assert {k: (v["reason"], v["detail"]) for k, v in d.items()} == {"p6": ("exact_duplicate", "kept=p5")}
    rows = kept(tmp_path / "d")
    assert sorted(r["id"] for r in rows) == ["p0", "p1", "p5"]
    assert rows[0]["judge"]["verdict"] == "ok"
    stats = json.loads((tmp_path / "d" / "stats.json").read_text())
    assert stats["kind"] == "pairs" and stats["stages"]["dedup"]["read"] == 4


def test_cli_user_errors(tmp_path):
    from hala.pipelines.cli.app import get_app

    app = get_app()
    runner = CliRunner()
    src = pairs_file(tmp_path / "pairs.jsonl")
    res = runner.invoke(app, ["filter", str(src), str(tmp_path / "o"), "--kind", "instructions"])
    assert isinstance(res.exception, UserError) and "holds pairs" in str(res.exception)
    res = runner.invoke(app, ["filter", str(tmp_path / "missing"), str(tmp_path / "o"), "--kind", "pairs"])
    assert isinstance(res.exception, UserError)
    res = runner.invoke(app, ["dedup", str(src), str(tmp_path / "o"), "--key", "user"])
    assert isinstance(res.exception, UserError) and "dedup key" in str(res.exception)
    bad = tmp_path / "bad.yaml"
    bad.write_text("filters:\n  lid:\n    treshold: 0.5\n")
    res = runner.invoke(app, ["filter", str(src), str(tmp_path / "o"), "--kind", "pairs", "--settings", str(bad)])
    assert isinstance(res.exception, UserError) and "lid.treshold" in str(res.exception)


def test_everything_rejected_still_accounts(tmp_path):
    rows = [{"id": "x1", "src_lang": "en", "tgt_lang": "ar", "src": "Hello there, my friend.", "tgt": "  ",
             "origin": "t", "judge": None, "meta": {}}]
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    stats = run_filter_and_dedup(str(src), str(tmp_path / "out"), "pairs", dedup=DedupConfig(key="target"))
    assert stats["stages"]["quality"]["reasons"] == {"empty_content": 1}
    assert stats["stages"]["dedup"] == {"read": 0, "kept": 0, "rejected": 0, "reasons": {}}
    assert kept(tmp_path / "out") == [] and (tmp_path / "out" / "data").is_dir()


def test_filter_pairs_reads_opus_own_schema(tmp_path):
    """`hala filter --kind pairs` on samples/opus (rows `{"translation": {"ar", "en"}}`, as `hala mine` reads them):
    every row becomes an en→ar pair, none is refused for its schema."""
    from hala.pipelines.cli.app import get_app
    from tests.helpers import REPO

    src = REPO / "samples" / "opus" / "ar_en.jsonl"
    lines = [json.loads(x)["translation"] for x in src.read_text(encoding="utf-8").splitlines()]
    result = CliRunner().invoke(get_app(), ["filter", str(src), str(tmp_path / "out"), "--kind", "pairs"])
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["kind"] == "pairs" and stats["stages"]["read"] == {"read": len(lines), "kept": len(lines),
                                                                   "rejected": 0, "reasons": {}}
    kept = [r for f in sorted((tmp_path / "out" / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert kept and len(kept) == stats["stages"]["quality"]["kept"]
    by_src = {x["en"]: x["ar"] for x in lines}
    assert all(r["src_lang"] == "en" and r["tgt_lang"] == "ar" and by_src[r["src"]] == r["tgt"] for r in kept)
    assert {r["origin"] for r in kept} == {"ar_en"}
