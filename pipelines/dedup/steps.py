"""The small steps around datatrove's exact and MinHash dedup stages.

datatrove decides *which* documents are duplicates (ExactDedup* and MinhashDedup* stages, run on the normalized
dedup key). These steps add what the rejects convention needs: the kept twin's id and one `dedup` stage whose
`read = kept + rejected`.

- `SetDedupKey` puts the normalized key in `doc.text` (what both dedup algorithms read) and numbers the documents.
- In the *mark* pass, datatrove's filters drop duplicates into `DecisionWriter`s (position, reason, key hash or
  cluster id), and `KeeperRecorder` notes which id was kept for each duplicated key hash / MinHash cluster.
- In the final pass `DedupStage` replays those decisions by position and writes `kept=<id>` in each reject.
"""

import hashlib
import json
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep
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
            "cluster": doc.metadata.get("minhash_cluster_id", -1), "id": doc.id}


class DecisionWriter(JsonlWriter):
    """Exclusion writer of a datatrove dedup filter: records who was dropped and why, not the document."""

    name = "🗒️ dedup decisions"

    def __init__(self, output_dir: str, reason: str):
        self.reason = reason
        super().__init__(output_dir, output_filename="${rank}.jsonl", compression=None, adapter=_decision_adapter)


class EnsureRankFiles(PipelineStep):
    """MinhashDedupFilter needs a `.remove` and a `.clusters` file for its rank; a rank without near-duplicates gets
    empty ones. Done inside the task (first step of the mark pass): on Slurm the pass may start on another machine
    right after the clustering job, with no command in between."""

    type = "🫂 - DEDUP"
    name = "🗂 dedup rank files"

    def __init__(self, folder: str, suffixes: tuple[str, ...] = (".remove", ".clusters")):
        super().__init__()
        self.folder = get_datafolder(folder)
        self.suffixes = suffixes

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for suffix in self.suffixes:
            if not self.folder.exists(f"{rank:06d}{suffix}"):
                with self.folder.open(f"{rank:06d}{suffix}", "wb"):
                    pass
        yield from data or ()


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
                if self.mode == "exact" and meta.get("duplicate_count", 0) > 0:
                    f.write(json.dumps({"hash": meta[HASH_KEY], "id": doc.id}) + "\n")
                elif self.mode == "near" and meta.get("minhash_cluster_id", -1) != -1:
                    f.write(json.dumps({"cluster": meta["minhash_cluster_id"], "id": doc.id}) + "\n")
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

    def __init__(self, output_dir: str, work_dir: str):
        super().__init__(output_dir)
        self.work_dir = work_dir
        self._decisions: dict[int, dict] = {}
        self._pos = 0

    def _load(self, rank: int) -> None:
        work = Path(self.work_dir)
        keep_hash = {row["hash"]: row["id"] for row in _read_jsonl_dir(work / "keepers" / "exact")}
        keep_cluster = {row["cluster"]: row["id"] for row in _read_jsonl_dir(work / "keepers" / "near")}
        # an exact twin may itself be a near-duplicate of a third row: point at the row that survives
        near_kept = {row["id"]: keep_cluster.get(row["cluster"])
                     for row in _read_jsonl_dir(work / "decisions" / "near_duplicate")}
        self._decisions = {}
        for reason in ("exact_duplicate", "near_duplicate"):
            for row in _read_jsonl_dir(work / "decisions" / reason, f"{rank:05d}.jsonl"):
                if reason == "exact_duplicate":
                    twin = keep_hash.get(row["hash"])
                    twin = near_kept.get(twin, twin)
                else:
                    twin = keep_cluster.get(row["cluster"])
                if twin is None:
                    raise RuntimeError(f"dedup: no kept twin recorded for {row['id']} ({reason}); remove "
                                       f"{work} and the dedup logs, then re-run")
                self._decisions[row["pos"]] = {"reason": reason, "kept": twin}
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
