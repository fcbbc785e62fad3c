"""The translator's training set: teacher pairs + judged mined pairs → exact dedup → train/dev/test → pairs and chat.

Exact duplicates (normalized src + tgt, across all inputs) are removed by hala.pipelines.dedup.flow, i.e. datatrove's exact
dedup stages; the first copy read is kept and each other one is rejected with `kept=<id>`.

The split of a pair is a hash of its normalized source text, so the same source (and every spelling variant the
dedup key folds together) always lands in one split: no test source is ever seen in training, on any machine and in
any re-run. `reverse` adds the AR→EN row of every pair in the same split as its forward row; a `split` guard then
rejects the rare reverse row whose Arabic source already sits in another split (`source_in_other_split`).
Outputs, each written in a work folder and moved into place: OUT/pairs/<split>.parquet (the pair contract),
OUT/chat/<split>.parquet (`messages`: user = instruction + source, assistant = target, ready for TRL), stats.json
(`rows_added.reverse` counts the reverse rows, so read + added = kept + rejected). `hala gate OUT` validates the pairs
and `hala publish OUT` releases both (configs `pairs` and `chat`, each with its splits).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Literal

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hala.pipelines.bilingual.common import has_rows, merge_rejects
from hala.pipelines.core.records import stable_id, stage_meta
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.core.stats import step_counters, write_stats
from hala.pipelines.dedup.keys import dedup_key
from hala.pipelines.serving.tiny_model import TRANSLATE_INSTRUCTION
from hala.pipelines.translate.prompts import BUILTIN_PROMPTS

SPLITS = ("train", "dev", "test")
# The instruction of each target language; Arabic is the lfm2 prompt the spine translates with, verbatim.
INSTRUCTIONS = {"ar": TRANSLATE_INSTRUCTION, "en": "Translate everything that follows into English:"}


class TranslatorSetRecipe(BaseModel):
    """Merge pair datasets into the translator's train/dev/test sets."""

    model_config = ConfigDict(extra="forbid")

    flow: Literal["translator_set"] = "translator_set"
    inputs: list[str] = Field(..., min_length=1, description="pair dataset folders (teacher pairs, judged pairs) or "
                                                             "parquet/jsonl files")
    output: str = Field(..., min_length=1, description="output folder: pairs/<split>.parquet, chat/<split>.parquet, "
                        "stats.json")
    overwrite: bool = Field(False, description="start OUTPUT clean when it holds another run")
    reverse: bool = Field(False, description="also add the AR→EN row of every pair")
    test_size: float = Field(0.05, ge=0, lt=1, description="share of source texts held out for test")
    dev_size: float = Field(0.05, ge=0, lt=1, description="share of source texts held out for dev")
    salt: str = Field("hala", description="mixed into the split hash; change it to draw another split")

    @model_validator(mode="after")
    def _sizes(self):
        if self.test_size + self.dev_size >= 1:
            raise ValueError("test_size + dev_size must leave room for train (< 1)")
        return self


def source_key(src: str) -> str:
    """The normalized source text (the dedup key's normalization: diacritics, alef/yeh forms, punctuation, case)."""
    return dedup_key({"src": src, "tgt": ""}, "pairs", "source")


def split_of(src: str, test_size: float, dev_size: float, salt: str = "hala") -> str:
    """test / dev / train from a hash of the normalized source: deterministic, and one source → one split."""
    h = int(hashlib.sha1(f"{salt}\x1f{source_key(src)}".encode("utf-8")).hexdigest()[:15], 16) / 16**15
    if h < test_size:
        return "test"
    if h < test_size + dev_size:
        return "dev"
    return "train"


def chat_messages(src: str, tgt: str, tgt_lang: str) -> list[dict]:
    """User = instruction + source (the lfm2 prompt shape for Arabic), assistant = target."""
    if tgt_lang == "ar":
        user = BUILTIN_PROMPTS["lfm2"].messages(src)[0]["content"]
    else:
        user = f"{INSTRUCTIONS.get(tgt_lang, f'Translate everything that follows into {tgt_lang}:')}\n{src}"
    return [{"role": "user", "content": user}, {"role": "assistant", "content": tgt}]


class PairCheck(HalaStage):
    """Rows that are not usable pairs leave here: `empty_content` for a missing/empty side or language."""

    stage = "pair_check"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        m = doc.metadata
        for key in ("src", "tgt", "src_lang", "tgt_lang"):
            value = m.get(key)
            if not isinstance(value, str) or not value.strip():
                return self.reject(doc, "empty_content", f"{key} is empty or missing")
        return True


class AssignSplit(PipelineStep):
    type = "🔀 - SPLIT"
    name = "assign split"

    def __init__(self, test_size: float, dev_size: float, salt: str):
        super().__init__()
        self.test_size, self.dev_size, self.salt = test_size, dev_size, salt

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            doc.metadata["split"] = split_of(doc.metadata["src"], self.test_size, self.dev_size, self.salt)
            self.stat_update(doc.metadata["split"])
            yield doc


class AddReverse(PipelineStep):
    """After each pair, its AR→EN twin (same split, same origin and judge; `meta.reverse_of` = forward id)."""

    type = "🔀 - SPLIT"
    name = "add reverse"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            yield doc
            m = doc.metadata
            meta = dict(stage_meta(doc))
            meta["reverse_of"] = doc.id
            self.stat_update("reverse")
            yield Document(text=m["src"], id=stable_id(doc.id, "reverse"), metadata={
                **m, "src_lang": m["tgt_lang"], "tgt_lang": m["src_lang"], "src": m["tgt"], "tgt": m["src"],
                "meta": meta})


class SplitGuard(HalaStage):
    """No source text in two splits: a row whose normalized source already sits in another split is rejected.
    (Only reverse rows can hit it: a forward row's split is the hash of its source.) Keys are 16-byte digests, so
    memory stays small next to the texts."""

    stage = "split"

    def __init__(self, output_dir: str | None):
        super().__init__(output_dir)
        self.where: dict[bytes, str] = {}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        key = hashlib.blake2b(source_key(doc.metadata["src"]).encode("utf-8"), digest_size=16).digest()
        split = self.where.setdefault(key, doc.metadata["split"])
        if split != doc.metadata["split"]:
            return self.reject(doc, "source_in_other_split", f"source already in {split}")
        return True


def chat_schema():
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema([("id", pa.string()), ("messages", pa.list_(message)), ("src_lang", pa.string()),
                      ("tgt_lang", pa.string()), ("origin", pa.string())])


def chat_adapter(self, doc: Document) -> dict:
    m = doc.metadata
    return {"id": doc.id, "messages": chat_messages(m["src"], m["tgt"], m["tgt_lang"]), "src_lang": m["src_lang"],
            "tgt_lang": m["tgt_lang"], "origin": m.get("origin")}


def _publish(build: Path, dest: Path, schema) -> None:
    """Put each split's file in place with os.replace (readers never see half a file). datatrove's writer names its
    files `000_<split>.parquet`, `001_…` when it rotates: several are streamed into one. An empty split gets an
    empty file with the schema, so every split always loads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dest.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        parts = sorted(build.glob(f"*_{split}.parquet"))
        target = build / f"{split}.parquet"
        if len(parts) == 1:
            parts[0].replace(target)
        else:
            build.mkdir(parents=True, exist_ok=True)
            with pq.ParquetWriter(target, schema) as writer:
                for part in parts:
                    for batch in pq.ParquetFile(part).iter_batches():
                        writer.write_table(pa.Table.from_batches([batch], schema=schema))
        os.replace(target, dest / f"{split}.parquet")


def _split_counts(out: Path) -> tuple[dict, dict]:
    import pyarrow.parquet as pq

    splits, origins = {}, defaultdict(dict)
    for split in SPLITS:
        rows = pq.read_table(out / "pairs" / f"{split}.parquet", columns=["origin", "src_lang", "tgt_lang"]).to_pylist()
        by_origin = Counter(r["origin"] for r in rows)
        splits[split] = {"rows": len(rows), "chat_rows": pq.read_metadata(out / "chat" / f"{split}.parquet").num_rows,
                         "origins": dict(sorted(by_origin.items())),
                         "directions": dict(sorted(Counter(f"{r['src_lang']}-{r['tgt_lang']}" for r in rows).items()))}
        for origin, n in by_origin.items():
            origins[origin][split] = n
    return splits, dict(origins)


def _exact_dedup_config():
    """datatrove's exact dedup on the normalized src + tgt (hala.pipelines.dedup.flow, key `conversation`); no MinHash: two
    different translations of one source are both worth keeping."""
    from hala.pipelines.dedup.flow import DedupConfig

    return DedupConfig(key="conversation", exact=True, near=False)


def build_translator_set(recipe: TranslatorSetRecipe) -> dict:
    """Merge, dedup, split, optionally reverse; write pairs/, chat/ and stats.json under OUT. Rebuilt from scratch
    on every run (it is cheap), so a changed input or option never mixes with an older build.

    Three datatrove runs: merge (every input → `normalize` check → one folder), exact dedup (hala.pipelines.dedup.flow:
    datatrove's ExactDedupSignature / ExactFindDedups, the `dedup` stage rejects each copy with `kept=<id>`), split
    (assign split → reverse → split guard → the pairs and chat writers)."""
    from hala.pipelines.core.run_folder import bound_run, recipe_fingerprint
    from hala.pipelines.io.records import detect_kind

    for path in recipe.inputs:
        detect_kind(path, "pairs")  # a folder of instruction records is a user error, before any work
    data = recipe.model_dump(mode="json")
    inputs = {f"inputs.{i}": p for i, p in enumerate(data.pop("inputs"))}
    with bound_run(recipe.output, recipe_fingerprint("translator_set", data, inputs), recipe.overwrite):
        return _build(recipe)


def _build(recipe: TranslatorSetRecipe) -> dict:
    from datatrove.pipeline.writers import ParquetWriter

    from hala.pipelines.core.config import write_recipe
    from hala.pipelines.core.executors import make_executor
    from hala.pipelines.core.records import pair_schema, pair_writer_adapter
    from hala.pipelines.dedup.flow import FINAL_STAGE, run_dedup
    from hala.pipelines.io.records import record_reader, record_writer

    out = Path(recipe.output)
    work, logs = out / "work", out / "logs"
    build, merged, deduped = work / "build", work / "merged", work / "deduped"
    for stale in (build, merged, deduped, logs / "translator_set", logs / "translator_set_merge",
                  logs / "translator_set_split", out / "rejects"):
        shutil.rmtree(stale, ignore_errors=True)
    filled = [p for p in recipe.inputs if has_rows(Path(p))]  # a run that kept nothing has no files
    stage_logs: list[Path] = []
    if filled:
        make_executor(None, [*(record_reader(p) for p in filled), PairCheck(str(out)),
                             record_writer("pairs", str(merged / "data"))], logs / "translator_set_merge").run()
        stage_logs.append(logs / "translator_set_merge")
    if has_rows(merged / "data"):
        run_dedup(str(merged), str(deduped), _exact_dedup_config(), kind="pairs")
        merge_rejects(deduped, out)
        stage_logs.append(deduped / "logs" / FINAL_STAGE)
    if has_rows(deduped / "data"):
        steps = [record_reader(str(deduped / "data")), AssignSplit(recipe.test_size, recipe.dev_size, recipe.salt),
                 *([AddReverse()] if recipe.reverse else []), SplitGuard(str(out)),
                 ParquetWriter(str(build / "pairs"), output_filename="${split}.parquet", adapter=pair_writer_adapter,
                               schema=pair_schema()),
                 ParquetWriter(str(build / "chat"), output_filename="${split}.parquet", adapter=chat_adapter,
                               schema=chat_schema())]
        make_executor(None, steps, logs / "translator_set_split").run()
        stage_logs.append(logs / "translator_set_split")
    _publish(build / "pairs", out / "pairs", pair_schema())
    _publish(build / "chat", out / "chat", chat_schema())
    splits, origins = _split_counts(out)
    reversed_rows = step_counters(logs / "translator_set_split", AddReverse.name).get("reverse", 0)
    stats = write_stats(out, stage_logs, kind="pairs", extra={
        "splits": splits, "origins": origins, "total": sum(s["rows"] for s in splits.values()),
        "reverse": recipe.reverse, "rows_added": {"reverse": reversed_rows} if recipe.reverse else {},
        "test_size": recipe.test_size, "dev_size": recipe.dev_size, "salt": recipe.salt,
        "inputs": list(recipe.inputs), "empty_inputs": [p for p in recipe.inputs if p not in filled]})
    write_recipe(out, recipe)  # split settings for the card; `hala run OUT/recipe.yaml` rebuilds the set
    return stats
