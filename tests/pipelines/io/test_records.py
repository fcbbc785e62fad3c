"""The throughput shortcuts of the filter flow leave exactly what datatrove's own code leaves: the batch-wise stats
of BatchedStatsFilter against BaseFilter.run, and RecordParquetWriter against datatrove's ParquetWriter (same
files, same rows, same counts), each through the real datatrove steps."""

from __future__ import annotations

import copy
from collections import deque

import pyarrow.parquet as pq
import pytest
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers import ParquetWriter

from hala.pipelines.core.executors import start_method
from hala.pipelines.core.records import pair_schema, pair_writer_adapter, record_to_document
from hala.pipelines.filters.quality_filters import QualityStage
from hala.pipelines.io.records import RecordParquetWriter

GOOD = ("Please water the plants twice a week in summer.", "يرجى سقي النباتات مرتين في الأسبوع في الصيف.")
ROWS = [GOOD, ("The museum opens at 9 and closes at 17.", "يفتح المتحف أبوابه صباحًا ويغلقها مساءً."),
        ("Good morning, how are you today?", ""), ("Here is a long sentence with many words in it.", "نعم."),
        ("The train leaves at 7:45 from platform 3.", "يغادر القطار في الساعة 7:45 من الرصيف 3.")]


def pair_docs(n: int = 40) -> list:
    rows = [{"id": f"p{i}", "src_lang": "en", "tgt_lang": "ar", "src": s, "tgt": t, "origin": "test", "judge": None,
             "meta": {"i": i}} for i, (s, t) in enumerate(ROWS * (n // len(ROWS)))]
    return [record_to_document(r) for r in rows]


def stats_dict(step) -> dict:
    return {k: (v.total, v.n, v.min, v.max) for k, v in step.stats.stats.items() if k != "batches"}


class PlainQuality(QualityStage):
    run = BaseFilter.run  # datatrove's own per-document loop


def test_batched_stats_filter_matches_datatrove(tmp_path):
    ours, theirs = QualityStage(str(tmp_path / "a"), "pairs", batch_size=7), PlainQuality(str(tmp_path / "b"), "pairs",
                                                                                          batch_size=7)
    kept_ours = [d.id for d in ours.run(iter(pair_docs()), 0, 1)]
    kept_theirs = [d.id for d in theirs.run(iter(pair_docs()), 0, 1)]
    assert kept_ours == kept_theirs and 0 < len(kept_ours) < 40
    assert stats_dict(ours) == stats_dict(theirs)
    assert {"total", "forwarded", "dropped", "doc_len"} <= set(stats_dict(ours))
    a, b = (sorted((p / "rejects").rglob("*.jsonl")) for p in (tmp_path / "a", tmp_path / "b"))
    assert [f.read_text() for f in a] == [f.read_text() for f in b] and a


@pytest.mark.parametrize("max_file_size", [-1, 2_000, 1])  # 2 kB: a switch every few batches; 1 byte: after every write (the header included)
def test_record_parquet_writer_matches_datatrove(tmp_path, max_file_size):
    docs = pair_docs(400)
    written = {}
    for name, cls in (("ours", RecordParquetWriter), ("theirs", ParquetWriter)):
        writer = cls(str(tmp_path / name), output_filename="${rank}.parquet", adapter=pair_writer_adapter,
                     schema=pair_schema(), batch_size=50, max_file_size=max_file_size)
        deque(writer.run(iter(copy.deepcopy(docs)), 3, 4), maxlen=0)
        files = sorted(p.name for p in (tmp_path / name).glob("*.parquet"))
        rows = [r for f in files for r in pq.read_table(tmp_path / name / f).to_pylist()]
        written[name] = (files, rows, stats_dict(writer))
    assert written["ours"] == written["theirs"]
    files, rows, stats = written["ours"]
    assert len(rows) == 400 and stats["total"][0] == 400 and stats["XXXXX.parquet"][0] == 400
    assert (len(files) > 1) == (max_file_size > 0)


def test_workers_fork_when_only_fsspec_runs_a_thread():
    import threading

    from datatrove.io import get_datafolder

    get_datafolder(".")  # starts fsspec's IO loop thread, as every datatrove step does
    others = {t.name for t in threading.enumerate() if t is not threading.main_thread()}
    assert start_method() == ("fork" if others <= {"fsspecIO"} else "spawn")
    stop = threading.Event()
    busy = threading.Thread(target=stop.wait, name="busy")
    busy.start()
    try:
        assert start_method() == "spawn"
    finally:
        stop.set()
        busy.join()


def test_two_workers_give_the_rows_and_counts_of_one(tmp_path):
    """Workers started by the executor's pool (forked when start_method() allows) do the same work as in-process."""
    import json

    from hala.pipelines.filters.flow import run_filter

    lines = [json.dumps({"id": f"p{i}", "src_lang": "en", "tgt_lang": "ar", "src": s, "tgt": t, "origin": "test",
                         "judge": None, "meta": {}}, ensure_ascii=False) for i, (s, t) in enumerate(ROWS * 4)]
    (tmp_path / "in").mkdir()
    for part in range(2):
        (tmp_path / "in" / f"{part}.jsonl").write_text("\n".join(lines[part::2]) + "\n{broken\n", encoding="utf-8")
    runs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        stats = run_filter(str(tmp_path / "in"), str(out), "pairs", tasks=2, workers=workers)
        rows = sorted(r["id"] for f in (out / "data").glob("*.parquet") for r in pq.read_table(f).to_pylist())
        runs[workers] = (stats, rows)
    assert runs[1] == runs[2]
    assert runs[2][0]["stages"]["read"]["reasons"] == {"malformed_json": 2} and runs[2][1]


@pytest.mark.parametrize("meta", [None, {}, "", {"lid": {"min_score": 0.9731}},
                                  {"quality": {"stripped_preamble": 1}, "lid": {"min_score": 1e-05}, "ترجمة": "نعم"},
                                  {"b": [1, 2.5, None, True], "a": {"z": "x", "y": float("nan")}}])
def test_written_meta_is_json_dumps_sorted_and_unescaped(meta):
    """The meta column is exactly `json.dumps(meta or {}, ensure_ascii=False, sort_keys=True)`: files written
    before and after the writer stopped building an encoder per row hold the same bytes."""
    import json

    doc = record_to_document({"id": "p1", "src_lang": "en", "tgt_lang": "ar", "src": "a", "tgt": "ب", "origin": "t",
                              "judge": None, "meta": meta})
    assert pair_writer_adapter(None, doc)["meta"] == json.dumps(meta or {}, ensure_ascii=False, sort_keys=True)
