"""`hala filter` / `hala dedup` on any dataset folder: datatrove readers → stages → ParquetWriter, rejects and stats.

INPUT is a dataset folder written by a hala stage (its `data/` is read), a plain folder of `.parquet`/`.jsonl`
records, or one such file. OUTPUT gets the usual layout: `data/*.parquet`, `rejects/<stage>/*.jsonl`, `stats.json`
(`read = kept + rejected` per stage) and `logs/`. Re-running into the same OUTPUT resumes: datatrove skips the
tasks it already completed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader, ParquetReader
from datatrove.pipeline.writers import ParquetWriter

from pipelines.errors import UserError
from pipelines.filters import FilterConfig, build_filter_steps
from pipelines.records import (instruction_schema, instruction_writer_adapter, pair_schema, pair_writer_adapter,
                               record_to_document, stable_id)
from pipelines.stages import stage_accounting

Kind = Literal["instructions", "pairs"]


def _record_document(data: dict, source_file: str, id_in_file) -> Document:
    """A record row (parquet or jsonl; `meta` as JSON string or dict) as a Document; never None, so an empty record
    reaches the stages and leaves as an `empty_content` reject instead of vanishing in the reader."""
    record = dict(data)
    meta = record.get("meta")
    if isinstance(meta, str):  # parquet keeps `meta` as a JSON string; the writer serializes a dict (not a string)
        try:
            record["meta"] = json.loads(meta) if meta.strip() else {}
        except ValueError:
            record["meta"] = {"unparsed": meta}
    if not record.get("id"):
        record["id"] = stable_id(source_file, id_in_file)
    return record_to_document(record)


class RecordParquetReader(ParquetReader):
    name = "📖 Records (parquet)"

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file) -> Document:
        return _record_document(data, source_file, id_in_file)


class RecordJsonlReader(JsonlReader):
    name = "📖 Records (jsonl)"

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file) -> Document:
        return _record_document(data, source_file, id_in_file)


def _input_files(input_path: str) -> tuple[Path, list[Path]]:
    p = Path(input_path)
    if not p.exists():
        raise UserError(f"{input_path}: no such file or folder")
    if p.is_file():
        return p.parent, [p]
    folder = p / "data" if (p / "data").is_dir() else p
    files = sorted(q for q in folder.rglob("*") if q.is_file() and q.suffix in (".parquet", ".jsonl"))
    return folder, files


def record_reader(input_path: str, limit: int = -1):
    """A datatrove reader over the records of INPUT (its `data/` when it is a dataset folder)."""
    folder, files = _input_files(input_path)
    if not files:
        raise UserError(f"{input_path}: no .parquet or .jsonl records inside")
    suffixes = {f.suffix for f in files}
    if len(suffixes) > 1:
        raise UserError(f"{input_path}: mixes .parquet and .jsonl files; give one kind")
    single = str(files[0].name) if Path(input_path).is_file() else None
    if ".parquet" in suffixes:
        return RecordParquetReader(str(folder), glob_pattern=single or "**/*.parquet", limit=limit)
    return RecordJsonlReader(str(folder), glob_pattern=single or "**/*.jsonl", compression=None, limit=limit)


def _first_record(input_path: str) -> dict | None:
    _, files = _input_files(input_path)
    for f in files:
        if f.suffix == ".jsonl":
            with open(f, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        return json.loads(line)
        else:
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(f)
            for batch in pf.iter_batches(batch_size=1):
                rows = batch.to_pylist()
                if rows:
                    return rows[0]
    return None


def detect_kind(input_path: str, expected: str | None = None) -> Kind:
    """`instructions` (records with messages) or `pairs` (src/tgt); a mismatch with `expected` is a user error."""
    p = Path(input_path)
    stats = p / "stats.json"
    kind = None
    if stats.is_file():
        kind = json.loads(stats.read_text()).get("kind")
    if kind not in ("instructions", "pairs"):
        first = _first_record(input_path)
        if first is None:
            kind = expected or "instructions"
        elif "messages" in first:
            kind = "instructions"
        elif "src" in first and "tgt" in first:
            kind = "pairs"
        else:
            raise UserError(f"{input_path}: records have neither `messages` nor `src`/`tgt` (keys: "
                            f"{', '.join(sorted(first))})")
    if expected and kind != expected:
        raise UserError(f"{input_path}: holds {kind}, not {expected} (--kind)")
    return kind  # type: ignore[return-value]


def record_writer(kind: Kind, data_dir: str) -> ParquetWriter:
    if kind == "pairs":
        return ParquetWriter(data_dir, output_filename="${rank}.parquet", adapter=pair_writer_adapter,
                             schema=pair_schema())
    return ParquetWriter(data_dir, output_filename="${rank}.parquet", adapter=instruction_writer_adapter,
                         schema=instruction_schema())


def local_executor(pipeline: list, logging_dir: Path, tasks: int = 1, workers: int = 1, depends=None):
    return LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(workers, tasks),
                                 logging_dir=str(logging_dir), depends=depends, start_method="spawn")


def write_dataset_stats(out: Path, kind: str, logging_dirs: list[Path] | None = None) -> dict:
    """OUT/stats.json from the stage accounting of every executor that logged under OUT/logs (in run order)."""
    if logging_dirs is None:
        found = [d for d in (out / "logs").glob("*") if (d / "stats.json").is_file()]
        logging_dirs = sorted(found, key=lambda d: (d / "stats.json").stat().st_mtime)
    stages: dict[str, dict] = {}
    for d in logging_dirs:
        if (d / "stats.json").is_file():
            stages.update(stage_accounting(d))
    stats = {"kind": kind, "stages": stages}
    tmp = out / "stats.json.tmp"
    tmp.write_text(json.dumps(stats, indent=2, ensure_ascii=False))
    tmp.replace(out / "stats.json")
    return stats


def run_filter(input_path: str, output_dir: str, kind: Kind | None = None, config: FilterConfig | None = None,
               tasks: int = 1, workers: int = 1, data_dir: str | None = None, limit: int = -1) -> dict:
    """LID + quality filters over INPUT into OUTPUT; returns (and writes) the stats."""
    kind = detect_kind(input_path, kind)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = build_filter_steps(kind, str(out), config or FilterConfig())
    data_dir = data_dir or str(out / "data")
    Path(data_dir).mkdir(parents=True, exist_ok=True)  # exists even when every row is rejected
    pipeline = [record_reader(input_path, limit), *steps, record_writer(kind, data_dir)]
    local_executor(pipeline, out / "logs" / "filter", tasks, workers).run()
    return write_dataset_stats(out, kind)


def run_filter_and_dedup(input_path: str, output_dir: str, kind: Kind | None = None,
                         filters: FilterConfig | None = None, dedup=None, tasks: int = 1, workers: int = 1) -> dict:
    """Filters, then (when `dedup` is a DedupConfig) deduplication of what the filters kept, into one OUTPUT."""
    from pipelines.dedup import run_dedup

    filters = filters if filters is not None else FilterConfig()
    out = Path(output_dir)
    kind = detect_kind(input_path, kind)
    if dedup is None:
        return run_filter(input_path, output_dir, kind, filters, tasks, workers)
    staged = out / "work" / "filtered"
    run_filter(input_path, output_dir, kind, filters, tasks, workers, data_dir=str(staged / "data"))
    return run_dedup(str(staged), output_dir, dedup, tasks=tasks, workers=workers, kind=kind)
