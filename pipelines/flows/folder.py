"""The flows over a dataset folder that already exists: `filter` (LID + quality, optionally then dedup) and `dedup`.
Their recipes are what `hala filter` / `hala dedup` write as OUTPUT/recipe.yaml, so `hala run OUTPUT/recipe.yaml`
re-runs them and a card can state their thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hala.pipelines.core.executors import ExecutorConfig
from hala.pipelines.dedup.flow import DedupConfig, run_dedup, run_filter_and_dedup
from hala.pipelines.filters import FilterConfig, Kind


class _FolderRecipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(..., description="dataset folder (its data/ is read), folder of .parquet/.jsonl, or a file")
    output: str = Field(..., description="output folder: data/*.parquet, rejects/, stats.json, recipe.yaml")
    kind: Kind | None = Field(None, description="instructions | pairs (null: detected from the first record)")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    overwrite: bool = Field(False, description="start OUTPUT clean when it holds another run")


class FilterRecipe(_FolderRecipe):
    """`hala filter`: LID and quality checks; with a `dedup:` block, deduplication of what they kept."""

    flow: Literal["filter"] = "filter"
    filters: FilterConfig = Field(default_factory=FilterConfig)
    dedup: DedupConfig | None = Field(None, description="null: no deduplication after the filters")


class DedupRecipe(_FolderRecipe):
    """`hala dedup`: exact and MinHash near-dedup of anyone's records (rows that are not records are rejects of a
    `read` stage)."""

    flow: Literal["dedup"] = "dedup"
    dedup: DedupConfig = Field(default_factory=DedupConfig)


def run_filter_flow(recipe: FilterRecipe) -> dict:
    ex = recipe.executor
    return run_filter_and_dedup(recipe.input, recipe.output, recipe.kind, recipe.filters, recipe.dedup,
                                recipe=recipe, overwrite=recipe.overwrite, executor=ex)


def run_dedup_flow(recipe: DedupRecipe) -> dict:
    ex = recipe.executor
    return run_dedup(recipe.input, recipe.output, recipe.dedup, tasks=ex.tasks, workers=ex.workers, kind=recipe.kind,
                     check_input=True, recipe=recipe, overwrite=recipe.overwrite, executor=ex)


__all__ = ["DedupRecipe", "FilterRecipe", "run_dedup_flow", "run_filter_flow"]
