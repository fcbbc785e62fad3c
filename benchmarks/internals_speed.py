"""What each use of a dependency's private internals (hala.pipelines.core.compat) buys, against datatrove's own
public code path on the same documents in the same run.

    python benchmarks/internals_speed.py [--rows 200000]

- writer: `RecordParquetWriter` (rank-only names worked out once, counts added in chunks) vs datatrove's stock
  `ParquetWriter` with the same adapter and schema, writing the same pair records; the files must hold the same rows.
- filter bookkeeping: a `BatchedStatsFilter` stage vs the same stage on datatrove's `BaseFilter.run` (per-document
  `stat_update`s), with a check that keeps every other document; the counts must be the same.

Prints µs per row for each side, the difference, and the load average. A use whose saving is within noise should be
deleted from compat.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _docs(n: int):
    from datatrove.data import Document

    from hala.pipelines.core.records import record_to_document

    out: list[Document] = []
    for i in range(n):
        out.append(record_to_document({"id": f"p{i}", "src_lang": "en", "tgt_lang": "ar", "src": f"The cat {i} sat.",
                                       "tgt": f"جلس القط {i}.", "origin": "bench", "judge": None, "meta": {}}))
    return out


def time_writer(cls, docs, folder: Path) -> float:
    from hala.pipelines.core.records import pair_schema, pair_writer_adapter

    shutil.rmtree(folder, ignore_errors=True)
    writer = cls(str(folder), output_filename="${rank}.parquet", adapter=pair_writer_adapter, schema=pair_schema())
    t0 = time.process_time()
    with writer:
        for doc in docs:
            writer.write(doc, rank=0)
    return time.process_time() - t0


def time_filter(batched: bool, docs) -> tuple[float, dict]:
    from datatrove.pipeline.filters.base_filter import BaseFilter

    from hala.pipelines.core.compat import BatchedStatsFilter

    bases = (BatchedStatsFilter, BaseFilter) if batched else (BaseFilter,)

    class EveryOther(*bases):
        name = "every_other"

        def filter(self, doc):
            return int(doc.id[1:]) % 2 == 0 or (False, "odd")

        def filter_batch(self, batch):
            return [self.filter(doc) for doc in batch]

    step = EveryOther(batch_size=512)
    t0 = time.process_time()
    for _ in step.run(iter(docs)):
        pass
    counts = {k: step.stats[k].total for k in ("total", "forwarded", "dropped", "dropped_odd")}
    return time.process_time() - t0, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    from datatrove.pipeline.writers import ParquetWriter

    from hala.pipelines.core.compat import RecordParquetWriter

    docs = _docs(args.rows)
    tmp = Path(tempfile.mkdtemp(prefix="hala-internals-"))
    failed = False
    try:
        stock_w = time_writer(ParquetWriter, docs, tmp / "stock")
        fast_w = time_writer(RecordParquetWriter, docs, tmp / "fast")
        import pyarrow.parquet as pq

        same = pq.read_table(tmp / "stock").equals(pq.read_table(tmp / "fast"))
        failed |= not same
        stock_f, stock_counts = time_filter(False, docs)
        fast_f, fast_counts = time_filter(True, docs)
        failed |= stock_counts != fast_counts
        per = 1e6 / args.rows
        print(f"rows: {args.rows:,}   load average: {os.getloadavg()[0]:.2f}")
        print(f"writer  stock ParquetWriter {stock_w * per:6.2f} µs/row   RecordParquetWriter {fast_w * per:6.2f} µs/row"
              f"   saves {(stock_w - fast_w) * per:5.2f} µs/row ({stock_w / fast_w:.2f}×)   same rows: {same}")
        print(f"filter  BaseFilter.run      {stock_f * per:6.2f} µs/row   BatchedStatsFilter  {fast_f * per:6.2f} µs/row"
              f"   saves {(stock_f - fast_f) * per:5.2f} µs/row ({stock_f / fast_f:.2f}×)   same counts: "
              f"{stock_counts == fast_counts}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
