"""Read raw source rows (local jsonl/parquet, or a Hub dataset id) without ever dropping one.

datatrove's own JsonlReader logs and skips a line it cannot parse; here every line becomes a Document — the row in
`metadata["raw"]`, or a `read_error` (bad_utf8, malformed_json, too_large) that the `normalize` stage turns into a
reasoned reject. Files are sharded across tasks by datatrove (`BaseDiskReader`), Hub rows by index.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import orjson
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers.base import BaseDiskReader, BaseReader

from hala.pipelines.core.datasets import record_files
from hala.pipelines.core.records import make_source, stable_id
from hala.pipelines.core.stages import READ_DETAIL, READ_ERROR
from hala.pipelines.io.files import ListedFiles
from hala.pipelines.io.lines import BOM, parse_line, too_large

INPUT_SUFFIXES = (".jsonl", ".json", ".parquet")


def _raw_document(dataset: str, config: str, split: str, file: str, row: int, raw, error: str | None = None,
                  detail: str = "") -> Document:
    meta = {"raw": raw, "source": make_source(dataset, config, split), "row": row, "file": file}
    if error:
        meta[READ_ERROR] = error
        meta[READ_DETAIL] = detail
    return Document(text="", id=stable_id(dataset, config, split, file, row), metadata=meta)


class SourceFileReader(ListedFiles, BaseDiskReader):
    """jsonl and parquet files under a folder (or exactly one file, whatever its name); one Document per line/row,
    broken ones included. hala's sidecars (stats.json, x.validation.json…) are never read as rows."""

    name = "📖 Source files"

    def __init__(self, path: str, dataset: str | None = None, config: str = "default", split: str = "train",
                 limit: int = -1, per_file: bool | None = None):
        p = Path(path)
        folder = self.list_input(p, INPUT_SUFFIXES)
        super().__init__(folder, limit=limit, recursive=True, doc_progress=False)
        self.dataset = dataset or p.stem
        # a folder of files: each file is its own source ("folder/file"), unless the source is named
        self.per_file = not p.is_file() if per_file is None else per_file
        self.config = config
        self.split = split

    def read_file(self, filepath: str) -> DocumentsPipeline:
        if filepath.endswith(".parquet"):
            yield from self._read_parquet(filepath)
        elif filepath.endswith(".json") and _is_one_json_value(self.data_folder, filepath):
            yield from self._read_json_array(filepath)
        elif filepath.endswith((".jsonl", ".json")):
            yield from self._read_jsonl(filepath)

    def _read_json_array(self, filepath: str) -> Iterator[Document]:
        """A `.json` file holding one array of rows (Alpaca's `alpaca_data.json`): each element is a row; one
        holding one object (pretty-printed or not) is one row. A file that does not parse is one `malformed_json`
        reject (its rows cannot be told apart)."""
        with self.data_folder.open(filepath, "rb") as f:
            data = f.read().removeprefix(BOM)
        try:
            rows = orjson.loads(data)
            if isinstance(rows, dict):
                rows = [rows]
        except orjson.JSONDecodeError as e:
            yield self._doc(filepath, 0, data[:200].decode("utf-8", "replace") + "…", "malformed_json",
                            f"a JSON array file that does not parse: {e}")
            return
        for row, item in enumerate(rows):
            yield self._doc(filepath, row, *(too_large(item) or (item,)))

    def _read_jsonl(self, filepath: str) -> Iterator[Document]:
        with self.data_folder.open(filepath, "rb") as f:
            for row, line in enumerate(f):
                yield self._doc(filepath, row, *parse_line(line))

    def _read_parquet(self, filepath: str) -> Iterator[Document]:
        import pyarrow.parquet as pq

        with self.data_folder.open(filepath, "rb") as f:
            row = 0
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1000):
                for item in batch.to_pylist():
                    yield self._doc(filepath, row, item)
                    row += 1

    def _doc(self, filepath: str, row: int, raw, error: str | None = None, detail: str = "") -> Document:
        dataset = f"{self.dataset}/{Path(filepath).name.split('.')[0]}" if self.per_file else self.dataset
        return _raw_document(dataset, self.config, self.split, filepath, row, raw, error, detail)


def _is_one_json_value(folder, filepath: str) -> bool:
    """Whether a `.json` file is one JSON value (an array of rows, or one object) rather than JSON lines: its first
    non-blank byte is `[`, or the whole file parses as one object."""
    with folder.open(filepath, "rb") as f:
        head = f.read(4096).removeprefix(BOM).lstrip()
        if head[:1] == b"[":
            return True
        if head[:1] != b"{":
            return False
        f.seek(0)
        try:
            return isinstance(orjson.loads(f.read().removeprefix(BOM)), dict)
        except orjson.JSONDecodeError:
            return False  # JSON lines (several objects), or broken: read line by line


def has_content(path: Path) -> bool:
    """Whether a file holds at least one row (or, for JSON, one non-blank byte): an empty input is a one-line error
    before anything starts, not a run that ends with nothing to say."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_metadata(path).num_rows > 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 16):
            if chunk.strip():
                return True
    return False


def _check_parquet_files(files: list[Path]) -> None:
    """Every parquet file's footer reads: a corrupt file is one clear line before any task starts."""
    import pyarrow.parquet as pq
    from pyarrow import ArrowException

    from hala.pipelines.core.errors import UserError

    for f in files:
        try:
            pq.read_metadata(f)
        except (ArrowException, OSError) as e:
            raise UserError(f"{f}: not a readable parquet file ({str(e).splitlines()[0]})") from e


class HubDatasetReader(BaseReader):
    """A dataset by Hub id (or any path `datasets.load_dataset` accepts), streamed: rows are never all in memory.

    Work is split by the dataset's file shards (shard i goes to task i mod N); with fewer shards than tasks every
    task streams each shard and keeps every N-th row. A row's id comes from (shard, row in shard), so it is the
    same whatever the task count."""

    name = "🤗 Hub dataset"

    def __init__(self, dataset: str, config: str | None = None, split: str = "train", revision: str | None = None,
                 limit: int = -1, name: str | None = None):
        super().__init__(limit=limit)
        self.dataset, self.config, self.split, self.revision = dataset, config, split, revision
        self.recorded = name or dataset

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from datasets import load_dataset

        if data:
            yield from data
        ds = load_dataset(self.dataset, self.config, split=self.split, revision=self.revision, streaming=True)
        shards = ds.num_shards
        by_shard = shards >= world_size
        count = 0
        for shard in range(shards):
            if by_shard and shard % world_size != rank:
                continue
            part = ds.shard(num_shards=shards, index=shard, contiguous=True) if shards > 1 else ds
            file = f"shard-{shard:05d}" if shards > 1 else ""
            for row, item in enumerate(part):
                if not by_shard and row % world_size != rank:
                    continue
                if self.limit != -1 and count >= self.limit:
                    return
                doc = _raw_document(self.recorded, self.config or "default", self.split, file, row, item)
                doc.metadata["source"]["revision"] = self.revision or ""
                count += 1
                yield doc


class ChainedSources(BaseReader):
    """Several sources one after the other in one pipeline (a multi-source corpus): each reader shards its own
    rows across the tasks."""

    name = "📚 Sources"

    def __init__(self, readers: list[BaseReader]):
        super().__init__()
        self.readers = readers

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for reader in self.readers:
            for doc in reader.run(None, rank=rank, world_size=world_size):
                self.stat_update("documents")
                yield doc


def first_rows(reader: BaseReader, n: int = 5) -> list[dict]:
    """The first `n` rows of a source that parsed as JSON objects (to check a column mapping before any work).
    Give a reader built for this: reading updates its counters."""
    rows = []
    for r in (reader, getattr(reader, "reader", None)):
        if hasattr(r, "doc_progress"):
            r.doc_progress = False  # a peek, not a stage: no progress bar on the screen
    docs = reader.run(None, rank=0, world_size=1)
    try:
        for doc in docs:
            raw = doc.metadata.get("raw")
            if READ_ERROR not in doc.metadata and isinstance(raw, dict):
                rows.append(raw)
                if len(rows) >= n:
                    break
    finally:
        docs.close()
    return rows


class FirstRowsReader(BaseReader):
    """The first `limit` rows of the input in total, however many tasks run (datatrove's own `limit` is per task:
    N tasks would read up to N x limit rows). Every task reads the same first rows with the wrapped reader as if it
    were the only task, and keeps every world_size-th one: together the tasks read exactly those rows, each row in
    one task, the same on every run (so a resumed task redoes the same rows). Reading a row is cheap next to
    translating or judging it."""

    name = "📖 First rows"

    def __init__(self, reader: BaseReader, limit: int):
        super().__init__(limit=limit)
        self.reader = reader
        self.reader.limit = limit

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for i, doc in enumerate(self.reader.run(None, rank=0, world_size=1)):
            if i >= self.limit:
                break
            if i % world_size == rank:
                self.stat_update("documents")
                yield doc


def source_reader(input_path: str, dataset: str | None = None, config: str | None = None, split: str = "train",
                  limit: int = -1, per_file: bool | None = None, revision: str | None = None) -> BaseReader:
    """A local file/folder if it exists, else a Hub dataset id: paths and ids are interchangeable. `limit` is the
    first N rows of the input in total (FirstRowsReader; -1: every row, sharded across tasks). Checked before any
    task starts: a folder holds input files, parquet files are readable, a Hub id can be opened."""
    from hala.pipelines.core.errors import UserError

    if limit == 0:
        raise UserError("--limit 0 (recipe key `limit`) reads no rows: give N > 0, or -1 for every row")
    reader = _source_reader(input_path, dataset, config, split, per_file, revision)
    return reader if limit < 0 else FirstRowsReader(reader, limit)


def _source_reader(input_path: str, dataset: str | None, config: str | None, split: str,
                   per_file: bool | None = None, revision: str | None = None) -> BaseReader:
    from hala.pipelines.core.errors import UserError

    if os.path.exists(input_path):
        p = Path(input_path)
        files = record_files(p, INPUT_SUFFIXES)
        if not files:
            raise UserError(f"{input_path}: no .jsonl/.json/.parquet files inside")
        if p.is_file() and p.suffix not in INPUT_SUFFIXES:
            raise UserError(f"{input_path}: not a .jsonl, .json or .parquet file")
        _check_parquet_files([f for f in files if f.suffix == ".parquet"])
        if not any(has_content(f) for f in files):
            raise UserError(f"{input_path}: empty (no rows to read)")
        name = dataset or (p.stem if p.is_file() else p.name)
        return SourceFileReader(input_path, dataset=name, config=config or "default", split=split, per_file=per_file)
    from hala.pipelines.core.hub import locate

    locate(input_path, "dataset", what="input")
    return HubDatasetReader(input_path, config=config, split=split, revision=revision, name=dataset)
