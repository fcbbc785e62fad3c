"""`hala run RECIPE.yaml`: the corpus flow (translate → LID → quality filters → dedup), and dispatch to the others.

A recipe's `flow:` key picks the flow; every other key is validated by that flow's pydantic model, so a typo is a
one-line error naming the key, before any work starts.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from pydantic import Field

from pipelines.filters import FilterConfig, build_filter_steps
from pipelines.dedup import DedupConfig, run_dedup
from pipelines.recipe import load_yaml, validate
from pipelines.translate_flow import (TranslateConfig, run_executor, run_translate, submitted, translate_pipelines,
                                      write_stats)


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
    _, finalize = translate_pipelines(recipe, later, data_dir=str(staged / "data") if recipe.dedup else None)
    if not run_executor(finalize, "translate"):
        return submitted(out, finalize)  # Slurm: dedup and stats once the jobs are done and the recipe is re-run
    logs = [out / "logs" / "translate", out / "logs" / "finalize"]
    if recipe.dedup:
        run_dedup(str(staged), str(out), recipe.dedup, tasks=1, workers=1)
        logs += sorted(p for p in (out / "logs").glob("dedup*") if p.is_dir())
    return write_stats(out, logs)


FLOWS = {"corpus": (CorpusRecipe, run_corpus), "translate": (TranslateConfig, run_translate)}


def _bilingual_flows() -> dict:
    from pipelines.bilingual import FLOWS as bilingual

    return bilingual


def run_recipe(path: str) -> tuple[dict, Path]:
    data = load_yaml(path)
    flow = data.get("flow", "corpus")
    flows = {**FLOWS, **_bilingual_flows()}
    if flow not in flows:
        from pipelines.errors import UserError

        raise UserError(f"{path}: flow: unknown flow {flow!r} (one of {', '.join(sorted(flows))})")
    model, runner = flows[flow]
    recipe = validate(model, data, path)
    return runner(recipe), Path(recipe.output)
