"""Teacher translation of instruction data into EN→AR pairs (the paper's 405K Open-Orca rows → 810K pairs).

The rows go through the spine's translate stage unchanged (normalize → translation rollout with masking, TM and
verification on datatrove's InferenceRunner → finalize), which writes Arabic instruction records to OUT/work/records.
A second datatrove pipeline turns every kept record into one pair per translated user instruction and one per
assistant response (`messages_en[i]` → `messages[i]`), with `origin = teacher:<model>@<revision>`. Accounting: rows
read = rows rejected by normalize/translate + parent rows of the pairs (stats.json `pairs.parent_rows`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from pydantic import Field

from pipelines.bilingual.common import has_rows, step_counters
from pipelines.filters import FilterConfig, build_filter_steps
from pipelines.records import stable_id, stage_meta
from pipelines.translate_flow import TranslateConfig, make_executor, resolve_model, translate_pipelines, write_stats

PAIRS_STEP = "instruction pairs"


class TeacherPairsRecipe(TranslateConfig):
    """Translate the first `limit` rows of an instruction dataset with a teacher model and keep them as pairs."""

    flow: Literal["teacher_pairs"] = "teacher_pairs"
    format: str = Field("openorca", pattern="^(auto|alpaca|sharegpt|openorca|messages)$")
    revision: str | None = Field(None, description="teacher model revision recorded in `origin` (a local folder is "
                                                   "recorded as @local)")
    roles: list[Literal["system", "user", "assistant"]] = Field(
        default_factory=lambda: ["user", "assistant"], description="which translated messages become pairs")
    filters: FilterConfig | None = Field(None, description="LID/quality filters on the pairs (null: none; the "
                                                           "rollout already verified every segment)")


def teacher_origin(model: str, revision: str | None, tiny: bool = False) -> str:
    """`teacher:<model>@<revision>`: a local folder is named by its folder name and recorded as `@local`."""
    if tiny or Path(model).is_dir():
        return f"teacher:{Path(model).name}@{revision or 'local'}"
    return f"teacher:{model}@{revision or 'main'}"


class InstructionPairs(PipelineStep):
    """One EN→AR pair per translated message of the chosen roles; system prompts are not pairs by default."""

    type = "🔀 - PAIRS"
    name = PAIRS_STEP

    def __init__(self, origin: str, roles: list[str]):
        super().__init__()
        self.origin, self.roles = origin, list(roles)

    def pairs(self, doc: Document) -> list[Document]:
        meta = doc.metadata
        messages, english = meta.get("messages") or [], meta.get("messages_en") or []
        source = meta.get("source") or {}
        translate = stage_meta(doc).get("translate", {})
        out = []
        for i, (ar, en) in enumerate(zip(messages, english)):
            if ar.get("role") not in self.roles or ar.get("role") != en.get("role"):
                self.stat_update(f"skipped_{ar.get('role')}")
                continue
            pair_meta = {"parent": doc.id, "role": ar["role"], "message": i, "source": source.get("dataset", ""),
                         "translate_model": translate.get("model", "")}
            out.append(Document(text=ar["content"], id=stable_id("teacher", doc.id, i), metadata={
                "src_lang": "en", "tgt_lang": "ar", "src": en["content"], "tgt": ar["content"],
                "origin": self.origin, "judge": None, "meta": pair_meta}))
        return out

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update("rows")
            pairs = self.pairs(doc)
            self.stat_update("pairs", value=len(pairs))
            if not pairs:
                self.stat_update("rows_without_pairs")
            yield from pairs


def run_teacher_pairs(recipe: TeacherPairsRecipe) -> dict:
    """Translate, then pair; OUT/data holds the pairs, OUT/rejects every dropped row, OUT/stats.json the counts."""
    from pipelines.filter_flow import record_reader, record_writer

    out = Path(recipe.output)
    out.mkdir(parents=True, exist_ok=True)
    model, tiny = resolve_model(recipe.server)
    origin = teacher_origin(model, recipe.revision, tiny)
    records = out / "work" / "records"
    _, finalize = translate_pipelines(recipe, [], data_dir=str(records / "data"))
    finalize.run()
    (out / "data").mkdir(parents=True, exist_ok=True)
    logs = [out / "logs" / "translate", out / "logs" / "finalize"]
    if has_rows(records / "data"):
        steps = [record_reader(str(records / "data")), InstructionPairs(origin, recipe.roles),
                 *(build_filter_steps("pairs", str(out), recipe.filters) if recipe.filters else []),
                 record_writer("pairs", str(out / "data"))]
        make_executor(recipe.executor, steps, str(out / "logs" / "pairs"), tasks=1).run()
        logs.append(out / "logs" / "pairs")
    counters = step_counters(out / "logs" / "pairs", PAIRS_STEP)
    extra = {"origin": origin, "pairs": {"parent_rows": counters.get("rows", 0), "pairs": counters.get("pairs", 0),
                                         "rows_without_pairs": counters.get("rows_without_pairs", 0)}}
    return write_stats(out, logs, extra=extra, kind="pairs")
