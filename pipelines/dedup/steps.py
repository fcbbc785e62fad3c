"""The steps around datatrove's MinHash dedup stages: one key per row, one decision per duplicate.

datatrove decides which documents are near-duplicates (MinhashDedupSignature / Buckets / Cluster, run on the
normalized dedup key). Exact duplicates need no stages of their own: identical keys have identical MinHash
signatures, so MinHash clusters every exact copy with its twin; only keys too short for one shingle (and runs
without MinHash) are grouped by the key's hash alone. These steps add what the rejects convention needs:

- `SetDedupKey` (signature pass) normalizes each row's key (the only time it is normalized), puts it in
  `doc.text` as MinHash shingles it, and writes the rank's key index (`<rank>.parquet`: the id and the key's hash
  of every row, in order).
- `ResolveDuplicates` (one task, right after the clustering) joins each row's MinHash cluster and key hash into one
  group, keeps the member with the smallest id — the same row whatever the task count, where datatrove keeps the
  first in (rank, position) order, which moves with the sharding — and writes, per rank, the position, reason and
  kept twin of every other member.
- `DedupStage` (final pass) rejects those positions with `kept=<id>` and keeps the rest.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.text import NUMBERS_PATTERN, TextNormConfig
from datatrove.utils.word_tokenizers import WordTokenizer

from hala.pipelines.core.errors import RunFailed
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.dedup.keys import dedup_key


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


# What MinHash's shingling (datatrove's simplify_text) still has to do to a normalized key: numbers to 0 and
# combining marks dropped. Lowercasing, punctuation and whitespace were done by the key's normalization (a key is
# lowercase words, one space apart, with no character of datatrove's punctuation list once numbers are 0), so the
# shingles are the same as under datatrove's default config (tests/pipelines/dedup/test_key_norm.py checks it over
# every Unicode character).
KEY_TEXT_NORM = TextNormConfig(lowercase=False, norm_whitespace=False, remove_punctuation=False)
# What MinHash is told to do to `doc.text` in the signature pass: nothing (SetDedupKey hands it `shingle_text`).
AS_IS = TextNormConfig(lowercase=False, norm_whitespace=False, remove_punctuation=False, norm_unicode_diacritics=False,
                       norm_numbers=False)


_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


@lru_cache(maxsize=1)
def _bmp_marks_re() -> re.Pattern:
    """Every nonspacing mark (category Mn) of the Basic Multilingual Plane, as one class of ranges (BMP only: the
    regex engine then tests a character with one bitmap lookup)."""
    ranges: list[list[int]] = []
    for c in range(0x10000):
        if unicodedata.category(chr(c)) == "Mn":
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
    return re.compile("[" + "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges) + "]")


def shingle_text(key: str) -> str:
    """`simplify_text(key, KEY_TEXT_NORM)`: numbers to 0, then NFD without nonspacing marks, in datatrove's order
    and with its number pattern; the marks go in one regex pass instead of datatrove's Python loop over every
    character (a fifth of the signature pass). A text with a character beyond the BMP takes datatrove's loop."""
    text = unicodedata.normalize("NFD", NUMBERS_PATTERN.sub("0", key))
    if not text.isascii():  # ASCII has no mark
        if _ASTRAL_RE.search(text):
            text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        else:
            text = _bmp_marks_re().sub("", text)
    return text.strip()


def key_hash(key: str) -> int:
    """64 bits of the key's sha1 (signed, for an Int64 column): rows with equal keys are exact duplicates."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "little", signed=True)


class SetDedupKey(PipelineStep):
    """The key as MinHash shingles it in `doc.text` (`shingle_text` of the normalized key), and the rank's key index
    (id and hash of the normalized key of every row, by position) once the rank's rows have all passed (a killed
    task leaves an incomplete rank, which runs again whole)."""

    type = "🫂 - DEDUP"
    name = "🔑 dedup key"

    def __init__(self, kind: str, key: str, index_dir: str):
        super().__init__()
        self.kind, self.key = kind, key
        self.index_folder = get_datafolder(index_dir)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow as pa
        import pyarrow.parquet as pq

        ids: list[str] = []
        hashes: list[int] = []
        for doc in data:
            with self.track_time():
                key = dedup_key(doc.metadata, self.kind, self.key)
                ids.append(doc.id)
                hashes.append(key_hash(key))
                doc.text = shingle_text(key)
            yield doc
        table = pa.table({"id": pa.array(ids, pa.string()), "hash": pa.array(hashes, pa.int64())})
        with self.index_folder.open(f"{rank:05d}.parquet", "wb") as f:
            pq.write_table(table, f)


class ResolveDuplicates(PipelineStep):
    """Every duplicate's decision, per rank: `decisions/<rank>.parquet` rows `{pos, reason, kept}`.

    A row's group is its MinHash cluster (`near`), else the rows with the same key hash (`exact`): exact copies
    share their twin's signature, so a hash group with shingles lies inside one cluster. The member with the
    smallest id is kept; another member is an `exact_duplicate` when its key equals the kept one's (and exact dedup
    is on), else a `near_duplicate`."""

    type = "🫂 - DEDUP"
    name = "🧮 dedup decisions"

    def __init__(self, index_dir: str, clusters_dir: str | None, decisions_dir: str, exact: bool, near: bool):
        super().__init__()
        self.index_folder = get_datafolder(index_dir)
        self.clusters_folder = get_datafolder(clusters_dir) if clusters_dir else None
        self.decisions_folder = get_datafolder(decisions_dir)
        self.exact, self.near = exact, near

    def _ranks(self) -> list[int]:
        """Every task of the signature pass, including one that read no row (it still needs its decisions)."""
        return sorted(int(name.removesuffix(".parquet")) for name in self.index_folder.list_files(glob_pattern="*.parquet"))

    def _rows(self):
        import polars as pl

        frames = []
        for name in sorted(self.index_folder.list_files(glob_pattern="*.parquet")):
            with self.index_folder.open(name, "rb") as f:
                frame = pl.read_parquet(f)
            frames.append(frame.with_columns(rank=pl.lit(int(name.removesuffix(".parquet")), pl.UInt32),
                                             pos=pl.int_range(pl.len(), dtype=pl.UInt32)))
        return pl.concat(frames) if frames else pl.DataFrame(schema={"id": pl.String, "hash": pl.Int64,
                                                                    "rank": pl.UInt32, "pos": pl.UInt32})

    def _clusters(self):
        """datatrove's `<rank>.clusters` files: (position, cluster id) uint32 pairs of every clustered row."""
        import numpy as np
        import polars as pl

        parts = []
        for name in self.clusters_folder.list_files(glob_pattern="*.clusters"):
            with self.clusters_folder.open(name, "rb") as f:
                pairs = np.frombuffer(f.read(), dtype="<u4").reshape(-1, 2)
            parts.append(pl.DataFrame({"rank": np.full(len(pairs), int(name.removesuffix(".clusters")), np.uint32),
                                       "pos": pairs[:, 0], "cluster": pairs[:, 1].astype(np.int64)}))
        return pl.concat(parts) if parts else pl.DataFrame(schema={"rank": pl.UInt32, "pos": pl.UInt32,
                                                                  "cluster": pl.Int64})

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import polars as pl

        with self.track_time():
            rows = self._rows()
            ranks = self._ranks()
            if not (self.exact or self.near):
                rows = rows.clear()  # nothing to deduplicate: empty decisions for every rank
            if self.near:
                rows = rows.join(self._clusters(), on=["rank", "pos"], how="left")
                cluster = pl.col("cluster").min().over("hash") if self.exact else pl.col("cluster")
                rows = rows.with_columns(g1=cluster).with_columns(
                    g2=pl.when(pl.col("g1").is_null()).then(pl.col("hash")) if self.exact else pl.lit(0))
                if not self.exact:
                    rows = rows.filter(pl.col("g1").is_not_null())  # no cluster, no twin
                group = ["g1", "g2"]
            else:
                group = ["hash"]
            first = pl.int_range(pl.len()).over(group) == 0
            dups = (rows.filter(pl.len().over(group) > 1).sort(["id", "rank", "pos"])
                    .with_columns(kept=pl.col("id").first().over(group), same=pl.col("hash").first().over(group)
                                  == pl.col("hash"), first=first)
                    .filter(~pl.col("first")))
            same_key = pl.col("same") if self.exact else pl.lit(False)
            reason = pl.when(same_key).then(pl.lit("exact_duplicate")).otherwise(pl.lit("near_duplicate"))
            dups = dups.select("rank", "pos", reason.alias("reason"), "kept")
            for r in ranks:
                part = dups.filter(pl.col("rank") == r).drop("rank").sort("pos")
                with self.decisions_folder.open(f"{r:05d}.parquet", "wb") as f:
                    part.write_parquet(f)
                self.stat_update("rejected", value=len(part))


class DedupStage(HalaStage):
    """Drops the duplicates `ResolveDuplicates` decided on: `exact_duplicate` / `near_duplicate`, detail
    `kept=<id of the kept twin>`."""

    stage = "dedup"

    def __init__(self, output_dir: str, decisions_dir: str):
        super().__init__(output_dir)
        self.decisions_folder = get_datafolder(decisions_dir)
        self._decisions: dict[int, tuple[str, str]] = {}
        self._pos = 0

    def _load(self, rank: int) -> None:
        import pyarrow.parquet as pq

        name = f"{rank:05d}.parquet"
        if not self.decisions_folder.exists(name):
            raise RunFailed(f"dedup: no decisions for task {rank} ({self.decisions_folder.path}/{name}): the "
                            "clustering stage has not completed; run the same command again")
        with self.decisions_folder.open(name, "rb") as f:
            t = pq.read_table(f).to_pydict()
        self._decisions = {p: (r, k) for p, r, k in zip(t["pos"], t["reason"], t["kept"])}
        self._pos = 0

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._load(rank)
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        decision = self._decisions.get(self._pos)
        self._pos += 1
        if decision is None:
            return True
        return self.reject(doc, decision[0], f"kept={decision[1]}")
