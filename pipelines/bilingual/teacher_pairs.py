"""Teacher translation of instruction data into EN→AR pairs (the paper's 405K Open-Orca rows → 810K pairs).

The first `limit` rows of the input (in total, however many tasks run: hala.pipelines.io.sources.FirstRowsReader)
go through the spine's translate stage unchanged (normalize → translation rollout with masking, TM and verification
on datatrove's InferenceRunner → finalize), which writes Arabic instruction records to OUT/work/records. A second
datatrove pipeline turns every message of every kept record into a candidate pair (`messages_en[i]` → `messages[i]`)
and the `pairs` stage keeps one per translated user instruction and one per assistant response, with
`origin = teacher:<model>@<revision>`; every other message (a system prompt, a message whose roles differ, one without
a counterpart) is rejected with its reason, and a record that gave no pair says so in its messages' detail.
Accounting: `pairs` reads messages and keeps pairs; stats.json `rows_added.messages` counts the candidates beyond one
per record, so rows read + rows added = pairs kept + rows and messages rejected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from pydantic import Field

from hala.pipelines.bilingual.common import has_rows
from hala.pipelines.core.executors import followed, make_executor, run_stages
from hala.pipelines.core.records import Role, stable_id, stage_meta
from hala.pipelines.core.run_folder import bound_run
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.core.stats import stage_accounting, step_counters, write_stats
from hala.pipelines.filters import FilterConfig, build_filter_steps
from hala.pipelines.translate.flow import (
    TranslateConfig,
    check_translate,
    resolve_model,
    translate_fingerprint,
    translate_pipelines,
    translate_stages,
)

PAIRS_STEP = "instruction messages"
SKIP_KEY = "pair_skip"  # (reason, detail) of a candidate that is not a pair; read by the `pairs` stage


class TeacherPairsRecipe(TranslateConfig):
    """Translate the first `limit` rows of an instruction dataset with a teacher model and keep them as pairs."""

    flow: Literal["teacher_pairs"] = "teacher_pairs"
    format: str = Field("openorca", description="input format: a preset name, or auto (detected per row)")
    revision: str | None = Field(None, description="teacher model revision recorded in `origin` (a local folder is "
                                                   "recorded as @local)")
    roles: list[Role] = Field(
        default_factory=lambda: ["user", "assistant"], description="which translated messages become pairs")
    filters: FilterConfig | None = Field(None, description="LID/quality filters on the pairs (null: none; the "
                                                           "rollout already verified every segment)")
    limit: int = Field(-1, ge=-1, description="the first N rows of the input (the paper: 405K), in total whatever "
                                              "the number of tasks (-1: all)")


def teacher_origin(model: str, revision: str | None, tiny: bool = False) -> str:
    """`teacher:<model>@<revision>`: a local folder is named by its folder name and recorded as `@local`."""
    if tiny or Path(model).is_dir():
        return f"teacher:{Path(model).name}@{revision or 'local'}"
    return f"teacher:{model}@{revision or 'main'}"


def skip_reason(ar: dict | None, en: dict | None, roles: list[str]) -> tuple[str, str] | None:
    """Why a message is not a pair (reason, detail), or None when it is one."""
    if ar is None or en is None:
        return "unaligned_message", "no English original" if en is None else "no Arabic translation"
    if ar.get("role") != en.get("role"):
        return "role_mismatch", f"English {en.get('role')!r}, Arabic {ar.get('role')!r}"
    if ar.get("role") not in roles:
        return "role_not_paired", f"{ar.get('role')!r} messages are not made into pairs (roles: {', '.join(roles)})"
    return None


class InstructionMessages(PipelineStep):
    """Every message of a translated record as a candidate pair, marked with why it is not a pair when it is not;
    a record without messages gives one candidate (`no_messages`), so no record disappears here."""

    type = "🔀 - PAIRS"
    name = PAIRS_STEP

    def __init__(self, origin: str, roles: list[str]):
        super().__init__()
        self.origin, self.roles = origin, list(roles)

    def candidates(self, doc: Document) -> list[Document]:
        meta = doc.metadata
        messages, english = meta.get("messages") or [], meta.get("messages_en") or []
        source = meta.get("source") or {}
        translate = stage_meta(doc).get("translate", {})
        out = []
        for i in range(max(len(messages), len(english), 1)):
            ar = messages[i] if i < len(messages) else None
            en = english[i] if i < len(english) else None
            skip = skip_reason(ar, en, self.roles) if (messages or english) else ("no_messages", "record has none")
            pair_meta = {"parent": doc.id, "role": (ar or en or {}).get("role"), "message": i,
                         "source": source.get("dataset", ""), "translate_model": translate.get("model", "")}
            out.append(Document(text=(ar or {}).get("content") or "", id=stable_id("teacher", doc.id, i), metadata={
                "src_lang": "en", "tgt_lang": "ar", "src": (en or {}).get("content") or "",
                "tgt": (ar or {}).get("content") or "", "origin": self.origin, "judge": None, "meta": pair_meta,
                SKIP_KEY: skip}))
        if all(c.metadata[SKIP_KEY] for c in out):
            self.stat_update("rows_without_pairs")
            for c in out:
                reason, detail = c.metadata[SKIP_KEY]
                c.metadata[SKIP_KEY] = (reason, f"{detail}; record {doc.id} gave no pair")
        return out

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update("rows")
            candidates = self.candidates(doc)
            self.stat_update("candidates", value=len(candidates))
            yield from candidates


class PairSelection(HalaStage):
    """Keeps the candidates that are pairs; the others leave with their reason (role_not_paired, role_mismatch,
    unaligned_message, no_messages)."""

    stage = "pairs"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        skip = doc.metadata.pop(SKIP_KEY, None)
        return self.reject(doc, *skip) if skip else True


def run_teacher_pairs(recipe: TeacherPairsRecipe) -> dict:
    """Translate, then pair; OUT/data holds the pairs, OUT/rejects every dropped row or message, OUT/stats.json the
    counts."""
    check_translate(recipe)
    with bound_run(recipe.output, translate_fingerprint(recipe), recipe.overwrite):
        return _run_teacher_pairs(recipe)


def _run_teacher_pairs(recipe: TeacherPairsRecipe) -> dict:
    from hala.pipelines.io.records import record_reader, record_writer

    out = Path(recipe.output)
    records = out / "work" / "records"
    translation = translate_pipelines(recipe, [], data_dir=str(records / "data"))  # every check, then recipe.yaml
    model, tiny = resolve_model(recipe.server)
    origin = teacher_origin(model, recipe.revision, tiny)
    engine = followed(recipe.executor)  # pairing reads the translation's output
    run_stages(engine, *translate_stages(recipe, *translation))
    (out / "data").mkdir(parents=True, exist_ok=True)
    logs = [out / "logs" / "translate", out / "logs" / "finalize"]
    if has_rows(records / "data"):
        steps = [record_reader(str(records / "data")), InstructionMessages(origin, recipe.roles),
                 PairSelection(str(out)),
                 *(build_filter_steps("pairs", str(out), recipe.filters) if recipe.filters else []),
                 record_writer("pairs", str(out / "data"))]
        run_stages(engine, [("pairs", make_executor(engine, steps, str(out / "logs" / "pairs"), tasks=1))])
        logs.append(out / "logs" / "pairs")
    counters = step_counters(out / "logs" / "pairs", PAIRS_STEP)
    rows, candidates = counters.get("rows", 0), counters.get("candidates", 0)
    selected = stage_accounting(out / "logs" / "pairs")["pairs"]["kept"] if counters else 0
    extra = {"origin": origin, "rows_added": {"messages": candidates - rows},
             "pairs": {"parent_rows": rows, "messages": candidates, "pairs": selected,
                       "rows_without_pairs": counters.get("rows_without_pairs", 0)}}
    return write_stats(out, logs, extra=extra, kind="pairs")
