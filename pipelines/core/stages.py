"""The rejects convention shared by every stage.

A stage is a datatrove `BaseFilter` with a `stage` name. Whatever it drops goes through its `exclusion_writer`
into `OUTPUT/rejects/<stage>/` as rows `{id, stage, reason, detail, record}`; datatrove counts `total`,
`forwarded`, `dropped` and `dropped_<reason>` for it, and `hala.pipelines.core.stats` turns those into
`read = kept + rejected` per stage.
"""

from __future__ import annotations

import json
from abc import ABC
from collections import Counter, deque
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.jsonl import JsonlWriter

from hala.pipelines.core.gc_tuning import tune_gc_for_rows
from hala.pipelines.core.records import document_to_record

REJECT_DETAIL_KEY = "reject_detail"
# Set by a reader on a row it could not read (hala.pipelines.io): the first stage turns it into a reject.
READ_ERROR, READ_DETAIL = "read_error", "read_detail"
# per-source counters of a stage: `by_source/<dataset>/kept`, `by_source/<dataset>/dropped_<reason>`
BY_SOURCE = "by_source/"


def source_name(doc: Document) -> str:
    """The source dataset a document counts under: its record's `source.dataset`, a pair's `origin`."""
    meta = doc.metadata
    source = meta.get("source")
    if isinstance(source, dict) and source.get("dataset"):
        return str(source["dataset"])
    return str(meta.get("origin") or "(unknown)")


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


class RejectsWriter(JsonlWriter):
    """Writes dropped records of one stage as `{id, stage, reason, detail, record}` JSONL rows."""

    name = "🗑️ Rejects"

    def __init__(self, output_dir: str, stage: str):
        self.stage = stage
        super().__init__(
            str(Path(output_dir) / "rejects" / stage),
            output_filename="${rank}.jsonl",
            compression=None,
            adapter=_reject_adapter,
        )


def _reject_adapter(self: RejectsWriter, doc: Document) -> dict:
    meta = doc.metadata
    if "raw" in meta:  # a row that never became a record: keep the raw input as it was read
        record = meta["raw"]
    else:
        record = document_to_record(doc)
    return {
        "id": doc.id,
        "stage": self.stage,
        "reason": meta.get("filter_reason") or "unspecified",
        "detail": str(meta.get(REJECT_DETAIL_KEY, "")),
        "record": json.dumps(_jsonable(record), ensure_ascii=False, default=str),
    }


class HalaStage(BaseFilter, ABC):
    """A filtering stage that writes its rejects next to the output, with a reason and a detail."""

    stage: str = "stage"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.name = cls.stage  # datatrove keys its stats by step name: make it the stage name
        if not getattr(cls.run, "_counts_sources", False):  # whichever filter loop the class uses (datatrove's or
            inner = cls.run                                  # the batched one), count its rows per source too

            def run(self, data, rank: int = 0, world_size: int = 1, _inner=inner):
                return self._run_by_source(_inner, data, rank, world_size)

            run._counts_sources = True
            cls.run = run

    def _run_by_source(self, inner, data, rank: int, world_size: int):
        """`inner`'s results, counting kept and rejected-by-reason rows per source. A filter yields the documents
        it keeps, in order: every document fed before a kept one and not yielded was rejected (its reason is
        already on it)."""
        tune_gc_for_rows()  # in the worker, before its first row
        pending: deque = deque()
        counts: Counter = Counter()

        def feed():
            for doc in data:
                pending.append(doc)
                yield doc

        def settle(upto=None) -> None:
            while pending:
                doc = pending.popleft()
                if doc is upto:
                    return
                reason = doc.metadata.get("filter_reason") or "unspecified"
                counts[f"{BY_SOURCE}{source_name(doc)}/dropped_{reason}"] += 1

        try:
            for doc in inner(self, feed(), rank, world_size):
                settle(doc)
                counts[f"{BY_SOURCE}{source_name(doc)}/kept"] += 1
                yield doc
            settle()
        finally:
            from datatrove.utils.stats import MetricStats

            for label, k in counts.items():
                self.stats[label] = self.stats[label] + MetricStats(total=k, n=k, mean=1.0, min=1, max=1)

    def __init__(self, output_dir: str | None = None, batch_size: int = 1):
        writer = RejectsWriter(output_dir, self.stage) if output_dir else None
        super().__init__(exclusion_writer=writer, batch_size=batch_size)

    @staticmethod
    def reject(doc: Document, reason: str, detail: str = "") -> tuple[bool, str]:
        """Mark `doc` as rejected; the return value is what `filter` hands back to datatrove."""
        doc.metadata[REJECT_DETAIL_KEY] = detail
        return False, reason

    @classmethod
    def read_error(cls, doc: Document) -> tuple[bool, str] | None:
        """The reject of a row its reader could not read (with the reader's reason and detail), else None."""
        meta = doc.metadata
        if READ_ERROR in meta:
            return cls.reject(doc, meta[READ_ERROR], meta.get(READ_DETAIL, ""))
        return None
