"""The corpus flow: translate → LID → quality filters → dedup, into one output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hala.pipelines.core.executors import run_stages, submitted
from hala.pipelines.core.stats import write_stats
from hala.pipelines.dedup.flow import DedupConfig, run_dedup
from hala.pipelines.filters import FilterConfig, build_filter_steps
from hala.pipelines.translate.flow import (
    TranslateConfig,
    merge_task_memories,
    translate_pipelines,
    translate_stages,
)


class CorpusRecipe(TranslateConfig):
    """Translate an English instruction dataset to Arabic, then filter and deduplicate it."""

    flow: Literal["corpus"] = "corpus"
    filters: FilterConfig | None = Field(default_factory=FilterConfig, description="null: no LID/quality filters")
    dedup: DedupConfig | None = Field(default_factory=DedupConfig, description="null: no deduplication")


def run_corpus(recipe: CorpusRecipe) -> dict:
    """Run the corpus flow; OUT/data holds the final rows, OUT/rejects every dropped one, OUT/stats.json the counts."""
    out = Path(recipe.output)
    out.mkdir(parents=True, exist_ok=True)
    later = build_filter_steps("instructions", str(out), recipe.filters) if recipe.filters else []
    staged = out / "work" / "filtered"
    merge_task_memories(recipe)  # what tasks of an earlier submission translated (a no-op when merged already)
    first, finalize = translate_pipelines(recipe, later, data_dir=str(staged / "data") if recipe.dedup else None)
    if not run_stages(recipe.executor, *translate_stages(recipe, first, finalize)):
        return submitted(out, finalize)  # Slurm without --wait: dedup and stats when the recipe is re-run
    logs = [out / "logs" / "translate", out / "logs" / "finalize"]
    if recipe.dedup:
        stats = run_dedup(str(staged), str(out), recipe.dedup, executor=recipe.executor, kind="instructions")
        if stats.get("submitted"):
            return stats
        logs += sorted(p for p in (out / "logs").glob("dedup*") if p.is_dir())
    return write_stats(out, logs)
