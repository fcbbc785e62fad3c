"""The small steps around datatrove's exact and MinHash dedup stages.

datatrove decides *which* documents are duplicates (ExactDedup* and MinhashDedup* stages, run on the normalized
dedup key). These steps add what the rejects convention needs: the kept twin's id and one `dedup` stage whose
`read = kept + rejected`.

- `SetDedupKey` puts the normalized key in `doc.text` (what both dedup algorithms read) and numbers the documents.
- In the *mark* pass, datatrove's filters drop duplicates into `DecisionWriter`s (position, reason, key hash or
  cluster id), and `KeeperRecorder` notes which id was kept for each duplicated key hash / MinHash cluster.
- In the final pass `DedupStage` joins those groups (an exact group and the MinHash cluster its row is in are one
  group), keeps the member with the smallest id — the same row whatever the task count, where datatrove keeps the
  first in (rank, position) order, which moves with the sharding — and rejects the others by position, each with
  `kept=<id>`.
"""

import hashlib
import json
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashDedupFilter
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.utils.word_tokenizers import WordTokenizer

from hala.pipelines.core.stages import HalaStage
from hala.pipelines.dedup.keys import dedup_key

POS_KEY = "dedup_pos"
HASH_KEY = "dedup_hash"


class SplitWordTokenizer(WordTokenizer):
    """Whitespace words: the key is already normalized (no punctuation), so MinHash shingles need nothing more."""

    def __init__(self):
        super().__init__("ar")

    def word_tokenize(self, text: str) -> list[str]:
        return text.split()

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def key_content(doc: Document) -> bytes:
    """ExactDedupConfig content getter: the normalized key as bytes (datatrove picks its hasher from the annotation,
    so this module keeps real annotations: no `from __future__ import annotations`)."""
    return doc.text.encode("utf-8")


class SetDedupKey(PipelineStep):
    type = "🫂 - DEDUP"
    name = "🔑 dedup key"

    def __init__(self, kind: str, key: str):
        super().__init__()
        self.kind, self.key = kind, key

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for pos, doc in enumerate(data):
            with self.track_time():
                doc.text = dedup_key(doc.metadata, self.kind, self.key)
                doc.metadata[POS_KEY] = pos
                doc.metadata[HASH_KEY] = hashlib.sha1(doc.text.encode("utf-8")).hexdigest()[:20]
            yield doc


def _decision_adapter(self: "DecisionWriter", doc: Document) -> dict:
    return {"pos": doc.metadata[POS_KEY], "reason": self.reason, "hash": doc.metadata[HASH_KEY],
            "cluster": doc.metadata.get("minhash_cluster_id", -1), "id": doc.id, "rank": self._rank}


class DecisionWriter(JsonlWriter):
    """Exclusion writer of a datatrove dedup filter: records who was dropped and why, not the document."""

    name = "🗒️ dedup decisions"

    def __init__(self, output_dir: str, reason: str):
        self.reason = reason
        self._rank = 0
        super().__init__(output_dir, output_filename="${rank}.jsonl", compression=None, adapter=_decision_adapter)

    def write(self, document: Document, rank: int = 0, **kwargs):
        self._rank = rank
        return super().write(document, rank, **kwargs)


class RankFilesMinhashFilter(MinhashDedupFilter):
    """datatrove's MinhashDedupFilter, which passes every row through unmarked (no cluster ids) when its rank has no
    `.remove` file: a rank without near-duplicates gets empty `.remove`/`.clusters` files here first, inside the task
    (on Slurm the pass may start on another machine right after the clustering job, with no command in between).
    It has to be this step's own preamble: an earlier step's generator only starts after this one has looked."""

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for suffix in (".remove", ".clusters"):
            if not self.data_folder.exists(f"{rank:06d}{suffix}"):
                with self.data_folder.open(f"{rank:06d}{suffix}", "wb"):
                    pass
        yield from super().run(data, rank, world_size)


class KeeperRecorder(PipelineStep):
    """Notes the id kept for each duplicated key hash (`mode="exact"`, placed right after the exact filter) or each
    MinHash cluster (`mode="near"`, after the MinHash filter)."""

    type = "🫂 - DEDUP"
    name = "📌 dedup keepers"

    def __init__(self, output_dir: str, mode: str):
        super().__init__()
        self.output_folder = get_datafolder(output_dir)
        self.mode = mode

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.output_folder.open(f"{rank:05d}.jsonl", "w") as f:
            for doc in data:
                meta = doc.metadata
                row = {"id": doc.id, "rank": rank, "pos": meta[POS_KEY], "hash": meta[HASH_KEY]}
                if self.mode == "exact" and meta.get("duplicate_count", 0) > 0:
                    f.write(json.dumps(row) + "\n")
                elif self.mode == "near" and meta.get("minhash_cluster_id", -1) != -1:
                    f.write(json.dumps({**row, "cluster": meta["minhash_cluster_id"]}) + "\n")
                yield doc


def _read_jsonl_dir(folder: Path, pattern: str = "*.jsonl"):
    for f in sorted(folder.glob(pattern)) if folder.is_dir() else []:
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


class DedupStage(HalaStage):
    """Drops the duplicates found by datatrove's exact and MinHash stages: `exact_duplicate` / `near_duplicate`,
    detail `kept=<id of the kept twin>`."""

    stage = "dedup"

    def __init__(self, output_dir: str, work_dir: str, exact: bool = True):
        super().__init__(output_dir)
        self.work_dir = work_dir
        self.exact = exact  # whether exact dedup ran: a twin with the same key is then an exact duplicate
        self._decisions: dict[int, dict] = {}
        self._pos = 0

    def _load(self, rank: int) -> None:
        work = Path(self.work_dir)
        members: dict[str, dict] = {}  # id -> {rank, pos, hash}
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def link(row: dict, group: str) -> None:
            members[row["id"]] = row
            a, b = find("id:" + row["id"]), find(group)
            if a != b:
                parent[a] = b

        for row in _read_jsonl_dir(work / "keepers" / "exact"):
            link(row, "hash:" + row["hash"])
        for row in _read_jsonl_dir(work / "decisions" / "exact_duplicate"):
            link(row, "hash:" + row["hash"])
        for row in [*_read_jsonl_dir(work / "keepers" / "near"), *_read_jsonl_dir(work / "decisions" / "near_duplicate")]:
            link(row, f"cluster:{row['cluster']}")
        groups: dict[str, list[str]] = {}
        for rid in members:
            groups.setdefault(find("id:" + rid), []).append(rid)
        self._decisions = {}
        for ids in groups.values():
            kept = min(ids)  # the same twin whatever the task count
            for rid in ids:
                row = members[rid]
                if rid != kept and row["rank"] == rank:
                    same_key = self.exact and row["hash"] == members[kept]["hash"]
                    reason = "exact_duplicate" if same_key else "near_duplicate"
                    self._decisions[row["pos"]] = {"reason": reason, "kept": kept}
        self._pos = 0

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._load(rank)
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        decision = self._decisions.get(self._pos)
        self._pos += 1
        if decision is None:
            return True
        return self.reject(doc, decision["reason"], f"kept={decision['kept']}")
