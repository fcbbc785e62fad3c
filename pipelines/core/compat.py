"""Every use of a dependency's private internals, in one place, each kept only where it measurably pays
(figures: benchmarks/internals_speed.py) and each guarded: `INTERNALS_VERSIONS` names the releases they were
written against, and tests/pipelines/core/test_compat.py fails loudly the moment an installed release differs or an
attribute used here is gone. Elsewhere hala uses the public APIs.

- datatrove logging (`quiet_datatrove`): datatrove's task logger prints each task's pipeline and stats tables to
  stderr at INFO; the patch keeps warnings, errors and the reader's progress on screen and every line in the task
  logs (`OUT/logs/<stage>/logs/task_*.log`). No public switch exists.
- datatrove filter/reader/writer statistics (`BatchedStatsFilter`, `BatchedDocStats`, `RecordParquetWriter`):
  `BaseFilter.run` and `DiskWriter.write` update several statistics per document, a few microseconds each (as much
  as some checks cost); these do the same bookkeeping once per batch, building `MetricStats` directly (its private
  `_running_variance`), with the same files, rows and counts.
- fastText (`fasttext_model`): datatrove's `FastTextLID` only loads models from its asset cache; a local model file
  is opened with fastText's `_FastText` class, as `fasttext.load_model` does without its stderr warning.
- datatrove inference servers (hala.pipelines.serving.servers subclasses them; each override below is a protected
  hook of datatrove 0.10.1, checked by the compat test): `CustomServer.__init__` requires a script path, hala's
  servers run modules, so they call `InferenceServer.__init__` directly (`init_inference_server`);
  `VLLMServer._start_vllm_task` drops the `--trust-remote-code` datatrove always adds; `InferenceRunner._init_server`
  adds hala's server types; `InferenceServer._make_request` is hala's one request path (retries with backoff, a
  failed task when exhausted, redacted errors: datatrove's turns a dropped connection into a rejected row);
  `InferenceServer._wait_until_ready` announces a starting server on screen and names its log
  (`_get_log_file_path`), since datatrove only logs the attempts.
- datatrove inference checkpoints and reading (`ChunkCheckpoints`, `read_ahead`): `CheckpointManager.write_document`
  deep-copies each document (`dataclasses.asdict`) and appends it to its chunk file through aiofiles, three
  thread-pool hops per document; `ChunkCheckpoints` writes the same line (orjson serializes the dataclass itself)
  to a chunk file it keeps open unbuffered (each line reaches the file at once, as before) and otherwise keeps the
  manager's own bookkeeping (`per_chunk_counts`, `new_completed_chunks`, `update_last_chunk_index`, the writer's
  `close_file`/`_get_output_filename`). `InferenceRunner._async_data_gen` asks its reader thread for one document
  at a time; `read_ahead` lets the reader run ahead, `READ_AHEAD` documents per batch.
- typer's help layout (`PlainHelpCommand`, `PlainHelpGroup`): typer renders a type column and `{input}` usage pieces;
  hala's usage lines read `INPUT OUTPUT` as the README writes them (`display_type_rich`, `collect_usage_pieces`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections import Counter
from importlib.metadata import version

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from datatrove.pipeline.writers import ParquetWriter
from datatrove.utils.batching import batched
from datatrove.utils.stats import MetricStats
from datatrove.utils.typeshelper import StatHints

# The releases the internals below were written against (pyproject pins them).
INTERNALS_VERSIONS = {"datatrove": "0.10.1"}


def internals_ok(package: str) -> bool:
    """Whether the installed `package` is the release hala's use of its internals was written for."""
    return version(package) == INTERNALS_VERSIONS[package]


# ------------------------------------------------------------------------------------------------ datatrove logging
# Warnings that are progress or by design, not problems: datatrove polls a starting model server once a second and
# warns each time (hala says on screen that the server is starting), warns for each failed start attempt (hala names
# the server's log), warns when a writer's file name has no ${rank} (hala's single-task writers, e.g. the translator
# set's `${split}.parquet`); its Ray executor warns about every local logging folder (the README says what must be
# shared) and counts failed tasks, which hala names itself in one line.
_EXPECTED_WARNINGS = ("server to become ready", "Server start attempt", "does not include ${rank}",
                      "Logging directory points to a local filesystem", "tasks completed.")
# datatrove's own tqdm bars (no total, no label: `Initializing pq...`, bare `0/1`, `Reading dup files`, `Document
# progress`): hala draws one bar per stage instead (hala.pipelines.core.progress). Module paths, datatrove 0.10.1.
_DATATROVE_TQDM_MODULES = ("datatrove.pipeline.readers.base", "datatrove.pipeline.dedup.exact_dedup",
                           "datatrove.pipeline.dedup.minhash", "datatrove.pipeline.dedup.sentence_dedup",
                           "datatrove.pipeline.readers.huggingface")


def _screen_filter(record) -> bool:
    """What reaches the terminal: warnings and errors without a traceback (a failed task's traceback is in its task
    log; the CLI prints one line and `hala -v` shows everything)."""
    if record["level"].no < 30 or record["exception"] is not None:
        return False
    return record["level"].no > 30 or not any(w in record["message"] for w in _EXPECTED_WARNINGS)


def _silence_datatrove_bars() -> None:
    import functools
    import importlib

    from tqdm import tqdm

    for name in _DATATROVE_TQDM_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # pragma: no cover - an optional datatrove extra
            continue
        if getattr(module, "tqdm", None) is tqdm:
            module.tqdm = functools.partial(tqdm, disable=True)


def quiet_datatrove() -> None:
    """Wrap datatrove's logger set-up so the stderr sink only shows warnings (the file sink is untouched)."""
    import datatrove.executor.base as executor_base
    import datatrove.utils.logging as dt_logging
    from loguru import logger

    if getattr(dt_logging, "_hala_quiet", False):
        return
    original_add = logger.add

    def add(sink, *args, **kwargs):
        if sink is sys.stderr:
            kwargs["filter"] = _screen_filter
        return original_add(sink, *args, **kwargs)

    def add_task_logger(*args, **kwargs):
        logger.add = add
        try:
            return original_add_task_logger(*args, **kwargs)
        finally:
            del logger.add

    def setup_default_logger():
        logger.remove()
        original_add(sys.stderr, filter=_screen_filter)

    # when a task fails, the other requests datatrove had in flight fail too and are never awaited: asyncio would
    # print each one's traceback at exit ("Task exception was never retrieved"); the first is the CLI's one line
    logging.getLogger("asyncio").addFilter(lambda r: "exception was never retrieved" not in r.getMessage())
    original_add_task_logger = dt_logging.add_task_logger
    executor_base.add_task_logger = add_task_logger
    dt_logging.add_task_logger = add_task_logger
    dt_logging.setup_default_logger = setup_default_logger
    dt_logging._hala_quiet = True
    setup_default_logger()
    _silence_datatrove_bars()


# ------------------------------------------------------------------------------------------- datatrove statistics
def values_stats(values: list[int]) -> MetricStats:
    """The MetricStats of one `stat_update(label, value=v)` per value, built at once (same total, count, min and
    max; mean and variance as datatrove merges them)."""
    n, total = len(values), sum(values)
    mean = total / n
    return MetricStats(total=total, n=n, mean=mean, min=min(values), max=max(values),
                       _running_variance=sum((v - mean) ** 2 for v in values))


class BatchedStatsFilter(BaseFilter):
    """Mixin for a `BaseFilter` subclass: same results and statistics as `BaseFilter.run`, batch-wise bookkeeping."""

    def _add_count(self, label: str, k: int) -> None:
        """Same as `k` calls of `stat_update(label)` (k observations of 1)."""
        if k:
            self.stats[label] = self.stats[label] + MetricStats(total=k, n=k, mean=1.0, min=1, max=1)

    def _add_values(self, label: str, values: list[int]) -> None:
        """Same total, count, min and max as one `stat_update(label, value=v)` per value; mean/variance merged."""
        if values:
            self.stats[label] = self.stats[label] + values_stats(values)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for batch in batched(data, self.batch_size):
                if self.batch_size > 1:
                    self.stat_update("batches")
                with self.track_time("batch" if self.batch_size > 1 else None):
                    results = self.filter_batch(batch)
                kept: list[Document] = []
                rejected: list[tuple[Document, str | None]] = []
                for doc, res in zip(batch, results):
                    if res is True:
                        kept.append(doc)
                        continue
                    keep, reason = get_filter_result(res)
                    if keep:
                        kept.append(doc)
                    else:
                        rejected.append((doc, reason))
                self._add_count(StatHints.total, len(batch))
                self._add_count(StatHints.forwarded, len(kept))
                self._add_count(StatHints.dropped, len(rejected))
                for reason, k in Counter(reason for _, reason in rejected if reason).items():
                    self._add_count(f"dropped_{reason}", k)
                self._add_values("doc_len", [len(doc.text) for doc in kept])
                tokens = [t for doc in kept if (t := doc.metadata.get("token_count", None))]
                self._add_values("doc_len_tokens", tokens)
                if writer is not None:
                    for doc, reason in rejected:
                        if reason:
                            doc.metadata["filter_reason"] = reason
                        writer.write(doc, rank)
                yield from kept


class BatchedDocStats:
    """Mixin for a datatrove reader or writer: `doc_len` is collected per document and added to the stats in
    chunks (same total, count, min and max as datatrove's per-document update; mean and variance merged).
    `flush_doc_stats()` must run before the stats are read: the reader's `run` and the writer's `close` call it."""

    _DOC_STATS_CHUNK = 4096

    def update_doc_stats(self, document: Document) -> None:
        pending = self.__dict__.setdefault("_pending_doc_lens", [])
        pending.append(len(document.text))
        if token_count := document.metadata.get("token_count", None):
            self.stat_update("doc_len_tokens", value=token_count, unit="doc")
        if len(pending) >= self._DOC_STATS_CHUNK:
            self.flush_doc_stats()

    def flush_doc_stats(self) -> None:
        pending = self.__dict__.get("_pending_doc_lens")
        if not pending:
            return
        self.stats["doc_len"] = self.stats["doc_len"] + values_stats(pending)
        pending.clear()


# ------------------------------------------------------------------------------------------------- datatrove writer
class RecordParquetWriter(BatchedDocStats, ParquetWriter):
    """datatrove's ParquetWriter with its per-document bookkeeping cut (the stock writer's per-row cost is measured
    against this one in benchmarks/filter_throughput.py). For an output name that depends on the rank only (`${rank}.parquet`), the
    name and its stats label are worked out once per rank instead of twice per document (each a Template
    substitution over a copy of the metadata), the open file and pyarrow writer are looked up directly, a file's size
    (for `max_file_size`) is read again only once something was written to it, and the
    `total`, per-file and `doc_len` counts are added in chunks. Same files, same rows, same counts.

    `write` re-does `DiskWriter.write` + `ParquetWriter._write` of datatrove 0.10.1 (pinned in pyproject) using its
    internals `_get_output_filename`, `_get_filename_with_file_id`, `file_id_counter`, `_on_file_switch`,
    `_get_output_file_with_retry`, `output_mg`, `_writers`, `_batches` and `_write_batch`; under any other datatrove
    version, or for names with other placeholders, it is datatrove's own `write`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rank_only = internals_ok("datatrove") and set(self.output_filename.get_identifiers()) <= {"rank"}
        self._names: dict = {}
        self._pending_counts: dict[str, int] = {}
        self._below_max: set[str] = set()  # files whose size was under max_file_size and not written to since

    def write(self, document: Document, rank: int = 0, **kwargs):
        if kwargs or not self._rank_only:
            return super().write(document, rank, **kwargs)
        names = self._names.get(rank)
        if names is None:
            names = self._names[rank] = (self._get_output_filename(document, rank),
                                         self._get_output_filename(document, "XXXXX"))
        original_name, stat_name = names
        output_filename = original_name
        if self.max_file_size > 0:  # DiskWriter.write: switch files past max_file_size
            output_filename = self._get_filename_with_file_id(original_name)
            if output_filename in self._below_max:
                pass  # nothing was written to it since its size was last read: still under the limit
            elif self._output_file(output_filename).tell() >= self.max_file_size:
                self.file_id_counter[original_name] += 1
                new_output_filename = self._get_filename_with_file_id(original_name)
                self._on_file_switch(original_name, output_filename, new_output_filename)
                output_filename = new_output_filename
            else:
                self._below_max.add(output_filename)
        row = self.adapter(document)
        if output_filename in self._writers:  # ParquetWriter._write once the file's pyarrow writer exists
            rows = self._batches[output_filename]
            rows.append(row)
            if len(rows) == self.batch_size:
                self._write_batch(output_filename)
        else:
            self._write(row, self._output_file(output_filename), original_name)
        counts = self._pending_counts
        counts[stat_name] = counts.get(stat_name, 0) + 1
        self.update_doc_stats(document)

    def _write(self, document: dict, file_handler, filename: str):
        super()._write(document, file_handler, filename)
        self._below_max.clear()  # a file may have grown (its pyarrow writer was created or wrote a batch)

    def _write_batch(self, filename):
        super()._write_batch(filename)
        self._below_max.discard(filename)  # only a batch written to the file makes it grow

    def _output_file(self, filename: str):
        fh = self.output_mg.get_open_files().get(filename)
        return fh if fh is not None else self._get_output_file_with_retry(filename)

    def flush_doc_stats(self) -> None:
        super().flush_doc_stats()
        for label, k in self._pending_counts.items():
            # same as k calls of stat_update(label) and of stat_update("total")
            for name in (label, StatHints.total):
                self.stats[name] = self.stats[name] + MetricStats(total=k, n=k, mean=1.0, min=1, max=1)
        self._pending_counts.clear()

    def close(self):
        self.flush_doc_stats()
        super().close()



# ---------------------------------------------------------------------------------------------------------- fastText
def fasttext_model(path: str):
    """A fastText model file opened in place (what `fasttext.load_model` does, minus its deprecation print)."""
    from fasttext.FastText import _FastText

    return _FastText(path)


# ---------------------------------------------------------------------------------------- datatrove inference servers
def init_inference_server(server, config, rank: int) -> None:
    """`InferenceServer.__init__` for a subclass of a datatrove server whose own constructor wants what hala's
    servers do not have (CustomServer: a script path)."""
    from datatrove.pipeline.inference.servers import InferenceServer

    InferenceServer.__init__(server, config, rank)


# ------------------------------------------------------------------------- datatrove inference checkpoints, reading
try:  # the inference extra; the core layer must import without it
    from datatrove.pipeline.inference.checkpointing import CheckpointManager
except ImportError:  # pragma: no cover
    CheckpointManager = object  # type: ignore[assignment,misc]

READ_AHEAD = 64
READ_AHEAD_BATCHES = 64  # 4,096 documents


class ChunkCheckpoints(CheckpointManager):  # type: ignore[misc,valid-type]
    """datatrove's CheckpointManager with the same files, lines and chunk bookkeeping, without its per-document
    copy and thread hops (see the module docstring). Under another datatrove release it is datatrove's own."""

    @classmethod
    def like(cls, manager) -> "ChunkCheckpoints":
        return cls(manager.checkpoints_local_dir, manager.records_per_chunk, request_cache=manager.request_cache)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._files: dict = {}
        self._fast = internals_ok("datatrove")

    async def write_document(self, document: Document, rank: int, chunk_index: int, output_writer_context) -> None:
        if not self._fast or self.checkpoints_local_dir is None:
            return await super().write_document(document, rank, chunk_index, output_writer_context)
        import os

        import orjson
        from loguru import logger

        # nothing below awaits before the chunk is complete: no other document of the chunk can come in between
        if "__no_rollouts_remove" not in document.metadata:
            output_writer_context.write(document, rank=rank, chunk_index=chunk_index)
        self.per_chunk_counts[chunk_index] += 1
        f = self._files.get(chunk_index)
        if f is None:
            path = os.path.join(self.checkpoints_local_dir, f"{rank:05d}/chunk_{chunk_index:05d}.jsonl")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not os.path.exists(path):
                logger.info(f"Creating checkpoint file {path}")
            f = self._files[chunk_index] = open(path, "ab", buffering=0)
        f.write(orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE))
        if self.per_chunk_counts[chunk_index] == self.records_per_chunk:
            self._files.pop(chunk_index).close()
            output_writer_context.close_file(
                output_writer_context._get_output_filename(document, rank, chunk_index=chunk_index))
            self.new_completed_chunks.add(chunk_index)
            await self.update_last_chunk_index(rank)

    def close_files(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    async def cleanup_last_chunk(self, rank: int, chunk_index: int):
        self.close_files()
        return await super().cleanup_last_chunk(rank, chunk_index)


async def read_ahead(sync_gen, n: int = READ_AHEAD, depth: int = READ_AHEAD_BATCHES):
    """`InferenceRunner._async_data_gen`: the documents of `sync_gen`, read on a thread of their own `n` at a time and
    up to `depth` batches ahead of the runner. Reading, normalizing and checking the first rows thus go on while the
    model server starts (the runner takes no more rows than it has requests in flight), and the event loop and the
    reader meet once per batch instead of once per document."""
    import asyncio
    import threading
    from itertools import islice

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(sync_gen)
        while not stop.is_set():
            batch, error = [], None
            try:
                batch.extend(islice(iterator, n))
            except BaseException as e:  # the reader's error is the runner's, after the rows read before it
                error = e
            done = error is not None or len(batch) < n
            try:
                put = asyncio.run_coroutine_threadsafe(queue.put((batch, error, done)), loop)
            except RuntimeError:  # the runner's loop has closed: nobody is reading
                return
            while not stop.is_set():
                try:
                    put.result(timeout=0.5)
                    break
                except TimeoutError:
                    continue
            else:
                put.cancel()
            if done:
                return

    thread = threading.Thread(target=produce, name="hala-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            batch, error, done = await queue.get()
            for doc in batch:
                yield doc
            if error is not None:
                raise error
            if done:
                return
    finally:
        stop.set()


# --- typer's help layout -------------------------------------------------------------------------------------------
# typer 0.2x renders a `<str>`/`<int>`/`<bool>` type column for every parameter (an option's metavar replaces it; an
# argument's cannot) and writes required arguments as `{input}` in the usage line. hala's usage lines read
# `INPUT OUTPUT` as the README writes them. `display_type_rich` and `_usage_display_name` are typer internals
# (typer/core.py); the test `tests/pipelines/cli/test_help.py` pins the rendered help.
try:  # typer is the CLI's dependency; the core layer must import without it
    from typer.core import TyperArgument, TyperCommand, TyperOption
except ImportError:  # pragma: no cover
    TyperCommand = object  # type: ignore[assignment,misc]


class PlainHelpCommand(TyperCommand):  # type: ignore[misc,valid-type]
    """A typer command whose help shows `[OPTIONS] INPUT [OUTPUT]` and no type labels."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument):
                if param.metavar is None:
                    param.metavar = param.name.upper()
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
            elif isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar + ("..." if param.nargs != 1 and "..." not in param.metavar else "")
                pieces.append(name if param.required else f"[{name}]")
        return pieces


try:
    from typer.core import TyperGroup
except ImportError:  # pragma: no cover
    TyperGroup = object  # type: ignore[assignment,misc]


class PlainHelpGroup(TyperGroup):  # type: ignore[misc,valid-type]
    """The root `hala` group (and `hala train`) with the same help layout as its commands."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option
