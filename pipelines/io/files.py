"""Readers that read exactly the files they were given.

datatrove's disk readers list a folder and filter it with a glob, and a glob without magic characters gets a `*`
in front: a single file `a.jsonl` handed over as folder + name also read `backup_of_a.jsonl`, and `b[1].jsonl`
matched nothing. Here the files are listed once, by hala (`hala.pipelines.core.datasets.record_files`: no sidecars, no logs/work/rejects), and
each task reads its share of that list (every world_size-th file, as datatrove shards).
"""

from __future__ import annotations

from pathlib import Path

from hala.pipelines.core.datasets import record_files


class ListedFiles:
    """Mixin for a datatrove `BaseDiskReader`: `self.listed` (paths relative to the data folder) replaces the glob."""

    listed: list[str] | None = None

    def list_input(self, path: str | Path, suffixes: tuple[str, ...]) -> str:
        """Point the reader at `path` (one file, or a folder's data files) and return the folder to read from."""
        p = Path(path)
        if p.is_file():
            self.listed = [p.name]
            return str(p.parent)
        self.listed = [str(q.relative_to(p)) for q in record_files(p, suffixes)]
        return str(p)

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if self.listed is None:
            yield from super().run(data, rank, world_size)
            return
        if data:
            yield from data
        for doc in self.read_files_shard(self.listed[rank::world_size]):
            self.update_doc_stats(doc)
            yield doc
