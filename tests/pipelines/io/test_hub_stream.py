"""The Hub reader streams (`datasets` streaming, never the whole split in memory) and shards by file shard; a row's
id is the same whatever the task count."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from hala.pipelines.io.sources import HubDatasetReader


def _dataset(tmp_path, files: int = 4, rows: int = 5):
    folder = tmp_path / "ds" / "data"
    folder.mkdir(parents=True)
    for f in range(files):
        pq.write_table(pa.Table.from_pylist([{"prompt": f"q{f}-{i}", "chosen": "a", "rejected": "b"}
                                             for i in range(rows)]), folder / f"train-{f:05d}.parquet")
    return str(tmp_path / "ds")


def test_streamed_sharded_by_file_and_ids_stable(tmp_path):
    path = _dataset(tmp_path)
    alone = {d.metadata["raw"]["prompt"]: d.id for d in HubDatasetReader(path, name="Dahoas/x").run()}
    assert len(alone) == 20
    parts = [list(HubDatasetReader(path, name="Dahoas/x").run(rank=r, world_size=3)) for r in range(3)]
    together = {d.metadata["raw"]["prompt"]: d.id for part in parts for d in part}
    assert together == alone  # every row once, same ids with 3 tasks as with 1
    assert sum(len(p) for p in parts) == 20
    assert {d.metadata["source"]["dataset"] for p in parts for d in p} == {"Dahoas/x"}
    # each task got whole files (4 shards over 3 tasks: 2, 1, 1 of them)
    assert sorted(len({d.metadata["raw"]["prompt"].split("-")[0] for d in p}) for p in parts) == [1, 1, 2]


def test_fewer_shards_than_tasks_keeps_every_nth_row(tmp_path):
    path = _dataset(tmp_path, files=1, rows=6)
    parts = [[d.metadata["row"] for d in HubDatasetReader(path).run(rank=r, world_size=4)] for r in range(4)]
    assert parts == [[0, 4], [1, 5], [2], [3]]
