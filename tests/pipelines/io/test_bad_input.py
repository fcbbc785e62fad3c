"""Bad input into `hala filter` / `hala dedup`: every row that is not a record leaves as a `read` reject with its
reason (never a traceback, never a silent drop), the stats show read = kept + rejected for reading too, and a file
that cannot be read at all is a one-line error with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hala.pipelines.core.errors import UserError
from hala.pipelines.core.records import MAX_RECORD_CHARS, instruction_schema, pair_schema
from hala.pipelines.dedup.flow import DedupConfig, run_dedup, run_filter_and_dedup
from hala.pipelines.filters.flow import run_filter
from hala.pipelines.io.lines import MAX_LINE_BYTES
from tests.helpers import REPO


def good_record(rid: str, which: int = 0) -> dict:
    """A clean row of samples/audit (every filter keeps it: no label names it), under another id."""
    audit = REPO / "samples" / "audit"
    labelled = {json.loads(x)["id"] for x in (audit / "labels.jsonl").read_text(encoding="utf-8").splitlines()}
    rows = [json.loads(x) for x in (audit / "instructions.jsonl").read_text(encoding="utf-8").splitlines()]
    return {**[r for r in rows if r["id"] not in labelled][which], "id": rid}


def jsonl_line(row) -> bytes:
    return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


def with_content(rid: str, content) -> dict:
    row = good_record(rid)
    row["messages"][0]["content"] = content
    return row


def read_rejects(out: Path, stage: str = "read") -> list[dict]:
    return [json.loads(line) for f in sorted((out / "rejects" / stage).glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines()]


def kept_ids(out: Path) -> list[str]:
    return sorted(i for f in (out / "data").glob("*.parquet") for i in pq.read_table(f)["id"].to_pylist())


# the bad rows of one instruction-records file, with the reason each must leave with (None: a good record)
def bad_instruction_file(path: Path) -> tuple[Path, list[tuple[str, str | None]]]:
    broken_utf8 = jsonl_line(good_record("utf8")).replace("صحة".encode("utf-8"), b"\xff\xfe", 1)
    lines = [
        (b'{"id": "cut", "messages": [\n', "malformed_json"),            # first line malformed
        (jsonl_line(good_record("good1")), None),
        (broken_utf8, "bad_utf8"),                                     # a bad byte mid-file: reading goes on
        (b"[1, 2, 3]\n", "not_a_record"),                               # a JSON array
        (b'"just a string"\n', "not_a_record"),
        (jsonl_line(with_content("null_content", None)), "non_string_content"),
        (jsonl_line(with_content("number_content", 42)), "non_string_content"),
        (jsonl_line({**good_record("messages_str"), "messages": "hello"}), "bad_schema"),
        (jsonl_line({**good_record("message_int"), "messages": [7]}), "bad_schema"),
        (jsonl_line({**good_record("bad_source"), "source": "hub"}), "bad_schema"),
        (jsonl_line({"id": "no_messages", "text": "x"}), "bad_schema"),
        (b"\n", "malformed_json"),                                      # a blank line is not a record either
        (jsonl_line(with_content("many_chars", "ا" * (MAX_RECORD_CHARS + 1))), "too_large"),
        (b'{"id": "long_line", "pad": "' + b"x" * (MAX_LINE_BYTES + 1) + b'"}\n', "too_large"),
        (jsonl_line(good_record("good2", which=1)), None),
    ]
    path.write_bytes(b"".join(line for line, _ in lines))
    return path, [(line[:40].decode("utf-8", "replace"), reason) for line, reason in lines]


def expected_reasons(lines) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, reason in lines:
        if reason:
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def test_cli_filter_quarantines_every_bad_jsonl_row(tmp_path):
    from hala.pipelines.cli.app import get_app

    src, lines = bad_instruction_file(tmp_path / "bad.jsonl")
    out = tmp_path / "out"
    res = CliRunner().invoke(get_app(), ["filter", str(src), str(out), "--kind", "instructions"])
    assert res.exit_code == 0, (res.output, res.exception)
    stats = json.loads((out / "stats.json").read_text())
    read = stats["stages"]["read"]
    assert list(stats["stages"]) == ["read", "lid", "quality"]
    assert read == {"read": len(lines), "kept": 2, "rejected": len(lines) - 2, "reasons": expected_reasons(lines)}
    assert stats["stages"]["lid"]["read"] == read["kept"]
    assert kept_ids(out) == ["good1", "good2"]  # the row after the bad byte is read too

    rejects = read_rejects(out)
    assert len(rejects) == read["rejected"]
    assert all(set(r) == {"id", "stage", "reason", "detail", "record"} and r["stage"] == "read" for r in rejects)
    by_id = {r["id"]: r for r in rejects}
    assert by_id["null_content"]["reason"] == "non_string_content"
    assert "messages[0].content is null" in by_id["null_content"]["detail"]
    assert "bad.jsonl row 6" in by_id["null_content"]["detail"]
    assert json.loads(by_id["null_content"]["record"])["id"] == "null_content"  # the row as it was read
    assert by_id["messages_str"]["detail"].endswith("`messages` is a string, not a list of messages")
    assert by_id["bad_source"]["detail"].endswith("`source` is a string, not an object")
    assert by_id["many_chars"]["detail"].endswith(f"characters of text (limit {MAX_RECORD_CHARS})")
    long_line = [r for r in rejects if r["reason"] == "too_large" and "bytes (limit" in r["detail"]]
    assert len(long_line) == 1 and json.loads(long_line[0]["record"]).startswith('{"id": "long_line"')  # not parsed
    malformed = [r for r in rejects if r["reason"] == "malformed_json"]
    assert {json.loads(r["record"]) for r in malformed} == {'{"id": "cut", "messages": [', ""}


def test_dedup_counts_the_read_stage_and_writes_each_reject_once(tmp_path):
    """No --kind: the kind comes from the first line that is a record, past the malformed first line."""
    from hala.pipelines.cli.app import get_app

    src, lines = bad_instruction_file(tmp_path / "bad.jsonl")
    with open(src, "ab") as f:
        f.write(jsonl_line(good_record("good1_copy")))  # an exact duplicate of good1
    out = tmp_path / "out"
    res = CliRunner().invoke(get_app(), ["dedup", str(src), str(out)])
    assert res.exit_code == 0, (res.output, res.exception)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kind"] == "instructions" and list(stats["stages"]) == ["read", "dedup"]
    read, dedup = stats["stages"]["read"], stats["stages"]["dedup"]
    assert read == {"read": len(lines) + 1, "kept": 3, "rejected": len(lines) - 2, "reasons": expected_reasons(lines)}
    assert dedup == {"read": 3, "kept": 2, "rejected": 1, "reasons": {"exact_duplicate": 1}}
    assert len(read_rejects(out)) == read["rejected"]  # the earlier dedup passes drop them without writing
    assert [r["detail"] for r in read_rejects(out, "dedup")] == ["kept=good1"]
    assert kept_ids(out) == ["good1", "good2"]


def test_pairs_with_wrong_types_are_read_rejects(tmp_path):
    good = {"id": "p1", "src_lang": "en", "tgt_lang": "ar", "src": "Good morning to you all, my dear friends.",
            "tgt": "صباح الخير لكم جميعًا يا أصدقائي الأعزاء.", "origin": "t", "judge": None, "meta": {}}
    rows = [good, {**good, "id": "p2", "tgt": 42}, {**good, "id": "p3", "tgt": None}, {**good, "id": "p4", "src": ["x"]},
            {**good, "id": "p5", "judge": "ACCEPT"}, {**good, "id": "p6", "meta": [1]},
            {**good, "id": "p7", "judge": {"verdict": 1}}, {"id": "p8", "messages": []}]
    src = tmp_path / "pairs.jsonl"
    src.write_bytes(b"".join(jsonl_line(r) for r in rows))
    stats = run_filter(str(src), str(tmp_path / "out"), "pairs")
    assert stats["stages"]["read"] == {"read": 8, "kept": 1, "rejected": 7,
                                       "reasons": {"non_string_content": 3, "bad_schema": 4}}
    found = {r["id"]: (r["reason"], r["detail"].split(": ", 1)[1]) for r in read_rejects(tmp_path / "out")}
    assert found == {
        "p2": ("non_string_content", "`tgt` is a number, not a string"),
        "p3": ("non_string_content", "`tgt` is null, not a string"),
        "p4": ("non_string_content", "`src` is a list, not a string"),
        "p5": ("bad_schema", "`judge` is a string, not an object"),
        "p6": ("bad_schema", "`meta` is a list, not an object or a JSON string"),
        "p7": ("bad_schema", "`judge.verdict` is a number, not a string"),
        "p8": ("bad_schema", "no `src` and `tgt` (keys: id, messages)"),
    }
    assert stats["stages"]["lid"]["read"] == 1


def test_parquet_rows_with_null_content_are_read_rejects(tmp_path):
    rows = [good_record("ok"), with_content("null_content", None)]
    folder = tmp_path / "in" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{**r, "meta": "{}"} for r in rows], schema=instruction_schema()),
                   folder / "00000.parquet")
    stats = run_filter_and_dedup(str(tmp_path / "in"), str(tmp_path / "out"), "instructions", dedup=DedupConfig())
    assert list(stats["stages"]) == ["read", "lid", "quality", "dedup"]
    assert stats["stages"]["read"] == {"read": 2, "kept": 1, "rejected": 1, "reasons": {"non_string_content": 1}}
    assert stats["stages"]["dedup"]["read"] == 1 and kept_ids(tmp_path / "out") == ["ok"]


def test_parquet_columns_of_other_types_are_checked_row_by_row(tmp_path):
    table = pa.table({"id": ["a", "b"], "src": ["Good morning to you all, my dear friends.", "x"], "tgt": [7, None],
                      "judge": ["ACCEPT", None]})
    pq.write_table(table, tmp_path / "pairs.parquet")
    stats = run_filter(str(tmp_path / "pairs.parquet"), str(tmp_path / "out"), "pairs")
    assert stats["stages"]["read"] == {"read": 2, "kept": 0, "rejected": 2, "reasons": {"non_string_content": 2}}
    details = sorted(r["detail"].split(": ", 1)[1] for r in read_rejects(tmp_path / "out"))
    assert details == ["`tgt` is a number, not a string", "`tgt` is null, not a string"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_corrupt_parquet_is_a_one_line_error(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([], schema=pair_schema()), folder / "a.parquet")
    (folder / "b.parquet").write_bytes(b"PAR1 this is not a parquet file")
    for args in (["filter", str(folder), str(tmp_path / "f"), "--kind", "pairs"],
                 ["dedup", str(folder / "b.parquet"), str(tmp_path / "d")]):
        res = run_cli(*args)
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert res.stderr.startswith("error: ") and "b.parquet: not a readable parquet file" in res.stderr


def test_without_check_input_a_bad_row_is_a_user_error(tmp_path):
    """run_dedup's default is for input another hala stage wrote: a row that is not a record stops it clearly."""
    src = tmp_path / "bad.jsonl"
    src.write_bytes(jsonl_line(good_record("a")) + jsonl_line(with_content("b", None)))
    with pytest.raises(UserError, match=r"bad.jsonl row 2: non_string_content: messages\[0\].content is null"):
        run_dedup(str(src), str(tmp_path / "out"), DedupConfig())
