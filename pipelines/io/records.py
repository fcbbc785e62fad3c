"""Reading and writing hala records (instruction records or bilingual pairs) with datatrove, never dropping a row.

Every JSONL line and every parquet row becomes a Document. A row that cannot be a record — malformed JSON, broken
UTF-8, a JSON value that is not an object, a field of the wrong type, a null or non-string text, a record too large —
becomes a *quarantined* Document (`metadata["raw"]` holds the row as read, `read_error` / `read_detail` say why), and
the `read` stage (`ReadStage`, right after the reader) rejects it with that reason, so the stats show
`read = kept + rejected` for reading too. datatrove's own JsonlReader would log and skip such a line, or stop at a
bad byte, and its readers would crash on a wrong type further down; these readers replace its `read_file`.

A reader built with `quarantine=False` (the default, for flows whose input another hala stage wrote) raises a
one-line `UserError` on such a row instead. A file that is not readable at all (a corrupt parquet footer) is a
`UserError` before any work starts (`record_reader` opens every parquet footer first).

`record_writer` writes records as parquet with datatrove's ParquetWriter, minus its per-document bookkeeping
(`RecordParquetWriter`).
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from datatrove.data import Document
from datatrove.pipeline.readers import JsonlReader, ParquetReader
from datatrove.pipeline.writers import ParquetWriter

from hala.pipelines.core.compat import BatchedDocStats, BatchedStatsFilter, RecordParquetWriter
from hala.pipelines.core.datasets import data_folder, record_files, recorded_kind
from hala.pipelines.core.errors import UserError
from hala.pipelines.core.gc_tuning import tune_gc_for_rows
from hala.pipelines.core.records import (
    has_record_types,
    instruction_schema,
    instruction_writer_adapter,
    opus_pair,
    pair_schema,
    pair_writer_adapter,
    record_kind,
    record_problem,
    record_to_document,
    stable_id,
)
from hala.pipelines.core.stages import READ_DETAIL, READ_ERROR, HalaStage
from hala.pipelines.io.files import ListedFiles
from hala.pipelines.io.lines import parse_line


def _meta_object(meta):
    """`meta` as a dict: parquet keeps it as a JSON string (the writer serializes a dict); anything that does not
    parse to an object is kept, unparsed, under `unparsed`."""
    if not isinstance(meta, str):
        return meta
    if meta == "{}":
        return {}  # what most rows hold: no parsing
    if not meta.strip():
        return {}
    try:
        value = json.loads(meta)
    except ValueError:
        return {"unparsed": meta}
    return value if isinstance(value, dict) else {"unparsed": meta}


def quarantined(raw, reason: str, detail: str, source_file: str, row: int) -> Document:
    """A row that is not a record, carried to the `read` stage as it was read."""
    rid = raw.get("id") if isinstance(raw, dict) else None
    rid = str(rid) if isinstance(rid, (str, int)) and str(rid) else stable_id(source_file, row)
    return Document(text="", id=rid, metadata={"raw": raw, READ_ERROR: reason, READ_DETAIL: detail})


class _RecordRows:
    """What both record readers do with a parsed row: a record Document, or a quarantined one (or a UserError)."""

    kind: str | None = None
    quarantine: bool = False

    def _document(self, row, source_file: str, row_index: int, typed: bool = False) -> Document:
        if self.kind in (None, "pairs") and isinstance(row, dict) and "translation" in row:
            row = opus_pair(row, Path(source_file).stem) or row  # OPUS's own schema: `translation: {ar, en}`
        problem = record_problem(row, self.kind, typed=typed)
        if problem:
            return self._bad_row(row, *problem, source_file, row_index)
        if "meta" in row:
            row["meta"] = _meta_object(row["meta"])
        if not row.get("id"):
            row["id"] = stable_id(source_file, row_index)
        return record_to_document(row)  # the row was made for this call: it becomes the record (no copy)

    def _bad_row(self, raw, reason: str, detail: str, source_file: str, row_index: int) -> Document:
        if not self.quarantine:
            raise UserError(f"{source_file} row {row_index + 1}: {reason}: {detail}")
        return quarantined(raw, reason, f"{Path(source_file).name} row {row_index + 1}: {detail}", source_file,
                           row_index)

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        tune_gc_for_rows()  # in the worker, before its first row
        try:
            yield from super().run(data, rank, world_size)
        finally:
            self.flush_doc_stats()


class EmptyFolderOk:
    """For a reader of a folder an earlier stage of the same run wrote: when that stage kept no row it wrote no
    file, and datatrove's reader raises `No files found` — here that is zero rows read, so a run that rejected
    everything still ends with its rejects and stats.json."""

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if not self.paths_file and not self.data_folder.list_files(recursive=self.recursive,
                                                                   glob_pattern=self.glob_pattern):
            if data:
                yield from data
            return
        yield from super().run(data, rank, world_size)


class WorkJsonlReader(EmptyFolderOk, JsonlReader):
    """datatrove's JsonlReader over a work folder of this run (empty when the earlier stage kept nothing)."""


class RecordJsonlReader(EmptyFolderOk, _RecordRows, ListedFiles, BatchedDocStats, JsonlReader):
    """hala records from JSONL files, one Document per line (broken lines quarantined: see the module doc)."""

    name = "📖 Records (jsonl)"

    def __init__(self, *args, kind: str | None = None, quarantine: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.quarantine = kind, quarantine

    def read_file(self, filepath: str):
        with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
            for li, line in enumerate(f):
                if li == 0:
                    line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is not part of the row
                with self.track_time():
                    document = self._line_document(line, filepath, li)
                yield document

    def _line_document(self, line: bytes, filepath: str, li: int) -> Document:
        row, reason, detail = parse_line(line)
        if reason:
            return self._bad_row(row, reason, detail, filepath, li)
        return self._document(row, filepath, li)


class RecordParquetReader(EmptyFolderOk, _RecordRows, ListedFiles, BatchedDocStats, ParquetReader):
    """hala records from parquet files, each row checked like a JSONL row; a file that turns out unreadable midway
    is a UserError (its footer was checked before the run: `record_reader`)."""

    name = "📖 Records (parquet)"

    def __init__(self, *args, kind: str | None = None, quarantine: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind, self.quarantine = kind, quarantine

    def read_file(self, filepath: str):
        import pyarrow as pa
        import pyarrow.parquet as pq

        with self.data_folder.open(filepath, "rb") as f:
            try:
                pqf = pq.ParquetFile(f)
                # columns with the record schema's types: a row can only hold a null or too much text
                typed = self.kind is not None and has_record_types(pqf.schema_arrow, self.kind)
                li = 0
                for batch in pqf.iter_batches(batch_size=self.batch_size):
                    with self.track_time("batch"):
                        documents = [self._document(row, filepath, li + i, typed)
                                     for i, row in enumerate(batch.to_pylist())]
                    li += len(documents)
                    yield from documents
            except (pa.ArrowException, OSError) as e:
                raise UserError(f"{filepath}: not a readable parquet file ({e})") from e


class ReadStage(BatchedStatsFilter, HalaStage):
    """The rows the record readers could not make into records leave here, with the reader's reason
    (`malformed_json`, `bad_utf8`, `not_a_record`, `bad_schema`, `non_string_content`, `too_large`) and the
    row as it was read in the reject."""

    stage = "read"

    def __init__(self, output_dir: str | None = None):
        super().__init__(output_dir, batch_size=512)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.read_error(doc) or True

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        return [self.filter(doc) for doc in batch]


# ------------------------------------------------------------------------------------------------------- writing
def record_writer(kind: str, data_dir: str) -> ParquetWriter:
    """Records of `kind` as `DATA_DIR/<rank>.parquet` shards, with the record schema (explicit: no inference)."""
    if kind == "pairs":
        return RecordParquetWriter(data_dir, output_filename="${rank}.parquet", adapter=pair_writer_adapter,
                                   schema=pair_schema())
    return RecordParquetWriter(data_dir, output_filename="${rank}.parquet", adapter=instruction_writer_adapter,
                               schema=instruction_schema())


# ------------------------------------------------------------------------------------------------ finding the input
def input_files(input_path: str) -> tuple[Path, list[Path]]:
    """(folder the reader reads, record files under it): INPUT's `data/` when it is a dataset folder."""
    p = Path(input_path)
    if not p.exists():
        raise UserError(f"{input_path}: no such file or folder")
    return data_folder(p), record_files(p)


def _parquet_file(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise UserError(f"{path}: not a readable parquet file ({e})") from e


def record_reader(input_path: str, limit: int = -1, kind: str | None = None, quarantine: bool = False):
    """A datatrove reader over the records of INPUT (its `data/` when it is a dataset folder). With `quarantine`,
    rows that are not records of `kind` reach the pipeline quarantined (put a `ReadStage` right after the reader);
    without, they are a UserError."""
    from hala.pipelines.io.sources import has_content

    folder, files = input_files(input_path)
    if not files:
        raise UserError(f"{input_path}: no .parquet or .jsonl records inside")
    suffixes = {f.suffix for f in files}
    if len(suffixes) > 1:
        raise UserError(f"{input_path}: mixes .parquet and .jsonl files; give one kind")
    if ".parquet" in suffixes:
        for f in files:  # an unreadable footer is a clear error now, not a traceback inside a task
            _parquet_file(f)
    if not any(has_content(f) for f in files):
        raise UserError(f"{input_path}: empty (no rows to read)")
    if ".parquet" in suffixes:
        reader = RecordParquetReader(str(folder), limit=limit, kind=kind, quarantine=quarantine)
    else:
        reader = RecordJsonlReader(str(folder), compression=None, limit=limit, kind=kind, quarantine=quarantine)
    reader.listed = [str(f.relative_to(folder)) for f in files]  # exactly these files (hala.pipelines.io.files)
    return reader


def first_record_keys(input_path: str, scan: int = 1000) -> tuple[str | None, list[str] | None]:
    """(kind of the first record found, keys of the first JSON object seen): what `detect_kind` decides on. Lines
    that do not parse are skipped here (the reader quarantines them); parquet files answer from their schema."""
    _, files = input_files(input_path)
    first_keys = None
    for f in files:
        if f.suffix == ".parquet":
            names = _parquet_file(f).schema_arrow.names
            kind = record_kind(dict.fromkeys(names))
            if kind:
                return kind, names
            first_keys = first_keys or names
            continue
        with open(f, "rb") as fh:
            for i, line in zip(range(scan), fh):
                line = line.removeprefix(b"\xef\xbb\xbf") if i == 0 else line
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    kind = record_kind(row)
                    if kind:
                        return kind, sorted(map(str, row))
                    first_keys = first_keys or sorted(map(str, row))
    return None, first_keys


def detect_kind(input_path: str, expected: str | None = None) -> str:
    """`instructions` (records with messages) or `pairs` (src/tgt); a mismatch with `expected` is a user error.
    An input with no readable record at all is taken to be `expected` (its rows all leave as `read` rejects)."""
    kind = recorded_kind(input_path)
    if kind is None:
        kind, keys = first_record_keys(input_path)
        if kind is None and keys is not None:
            raise UserError(f"{input_path}: records have neither `messages` nor `src`/`tgt` (keys: "
                            f"{', '.join(keys)})")
        kind = kind or expected or "instructions"
    if expected and kind != expected:
        raise UserError(f"{input_path}: holds {kind}, not {expected} (--kind)")
    return kind
