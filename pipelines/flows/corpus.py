"""The corpus flow: translate → LID → quality filters → dedup, into one output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hala.pipelines.core.executors import run_executor, submitted
from hala.pipelines.core.run_folder import bound_run
from hala.pipelines.core.stats import write_stats
from hala.pipelines.dedup.flow import DedupConfig, run_dedup
from hala.pipelines.filters import FilterConfig, build_filter_steps
from hala.pipelines.translate.flow import TranslateConfig, translate_fingerprint, translate_pipelines


class CorpusRecipe(TranslateConfig):
    """Translate an English instruction dataset to Arabic, then filter and deduplicate it."""

    flow: Literal["corpus"] = "corpus"
    filters: FilterConfig | None = Field(default_factory=FilterConfig, description="null: no LID/quality filters")
    dedup: DedupConfig | None = Field(default_factory=DedupConfig, description="null: no deduplication")


def run_corpus(recipe: CorpusRecipe) -> dict:
    """Run the corpus flow; OUT/data holds the final rows, OUT/rejects every dropped one, OUT/stats.json the counts."""
    with bound_run(recipe.output, translate_fingerprint(recipe), recipe.overwrite):
        return _run_corpus(recipe)


def _run_corpus(recipe: CorpusRecipe) -> dict:
    out = Path(recipe.output)
    later = build_filter_steps("instructions", str(out), recipe.filters) if recipe.filters else []
    staged = out / "work" / "filtered"
    (staged / "data").mkdir(parents=True, exist_ok=True)  # exists even when the filters reject every row
    _, finalize = translate_pipelines(recipe, later, data_dir=str(staged / "data") if recipe.dedup else None)
    if not run_executor(finalize, "translate"):
        return submitted(out, finalize)  # Slurm: dedup and stats once the jobs are done and the recipe is re-run
    logs = [out / "logs" / "translate", out / "logs" / "finalize"]
    if recipe.dedup:
        run_dedup(str(staged), str(out), recipe.dedup, tasks=1, workers=1)
        logs += sorted(p for p in (out / "logs").glob("dedup*") if p.is_dir())
    return write_stats(out, logs)
