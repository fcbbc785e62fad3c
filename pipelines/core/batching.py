"""datatrove's filter loop with the per-document bookkeeping done once per batch.

`BaseFilter.run` updates four or five statistics per document (`total`, `forwarded`/`dropped`, `dropped_<reason>`,
`doc_len`), a few microseconds each: as much as some checks cost. `BatchedStatsFilter.run` does the same filtering,
writes the same rejects and leaves the same counts (`total`, `forwarded`, `dropped`, `dropped_<reason>`, which
`hala.pipelines.core.stages.stage_accounting` reads, are identical to datatrove's; `doc_len` has the same total, count, min and
max, its mean and variance are merged per batch), adding them once per batch, before the batch's documents move on.
"""

from __future__ import annotations

import contextlib
from collections import Counter

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from datatrove.utils.batching import batched
from datatrove.utils.stats import MetricStats
from datatrove.utils.typeshelper import StatHints


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
