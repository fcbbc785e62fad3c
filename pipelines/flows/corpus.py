"""The corpus flow: translate → LID → quality filters → dedup, into one output folder.

One source (`input:` and its keys, as `hala translate`), or several (`sources:`, the paper's seven): every source is
streamed through the same server and translation memory, the filters judge every row alike, and dedup runs over
all sources at once, so a row that two sources share is kept once (the reject names the kept twin).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from hala.pipelines.core.executors import run_stages, submitted
from hala.pipelines.core.run_folder import bound_run
from hala.pipelines.core.stats import write_stats
from hala.pipelines.dedup.flow import DedupConfig, run_dedup
from hala.pipelines.filters import FilterConfig, build_filter_steps
from hala.pipelines.sources.spec import SourceSpec
from hala.pipelines.translate.flow import (
    TranslateConfig,
    check_translate,
    merge_task_memories,
    translate_fingerprint,
    translate_pipelines,
    translate_stages,
)


class CorpusRecipe(TranslateConfig):
    """Translate an English instruction dataset to Arabic, then filter and deduplicate it."""

    flow: Literal["corpus"] = "corpus"
    input: str | None = Field(None, description="one source: file or folder of jsonl/json/parquet, or a Hub id "
                              "(or list several under `sources`)")
    sources: list[SourceSpec] | None = Field(None, description="several sources, each {input, name, config, split, "
                                             "format, limit, columns}, into one corpus")
    filters: FilterConfig | None = Field(default_factory=FilterConfig, description="null: no LID/quality filters")
    dedup: DedupConfig | None = Field(default_factory=DedupConfig, description="null: no deduplication")

    @model_validator(mode="after")
    def _one_way_to_name_sources(self):
        if (self.input is None) == (self.sources is None):
            raise ValueError("give either `input` (one source) or `sources` (a list), not both and not neither")
        if self.sources is not None and not self.sources:
            raise ValueError("sources: the list is empty")
        per_source = {"format": "auto", "dataset_name": None, "config": None, "columns": None, "limit": -1}
        if self.sources is not None:
            for key, default in per_source.items():
                if getattr(self, key) != default:
                    raise ValueError(f"`{key}` is a per-source key: set it inside each `sources` entry")
        return self

    def source_specs(self) -> list[SourceSpec]:
        return list(self.sources) if self.sources is not None else super().source_specs()


def run_corpus(recipe: CorpusRecipe) -> dict:
    """Run the corpus flow; OUT/data holds the final rows, OUT/rejects every dropped one, OUT/stats.json the counts."""
    check_translate(recipe)
    with bound_run(recipe.output, translate_fingerprint(recipe), recipe.overwrite):
        return _run_corpus(recipe)


def _run_corpus(recipe: CorpusRecipe) -> dict:
    out = Path(recipe.output)
    later = build_filter_steps("instructions", str(out), recipe.filters) if recipe.filters else []
    staged = out / "work" / "filtered"
    (staged / "data").mkdir(parents=True, exist_ok=True)  # exists even when the filters reject every row
    merge_task_memories(recipe)  # what tasks of an earlier submission translated (a no-op when merged already)
    first, finalize = translate_pipelines(recipe, later, data_dir=str(staged / "data") if recipe.dedup else None)
    if not run_stages(recipe.executor, *translate_stages(recipe, first, finalize)):
        return submitted(out, finalize)  # Slurm without --wait: dedup and stats when the recipe is re-run
    logs = [out / "logs" / "translate", out / "logs" / "finalize"]
    if recipe.dedup:
        (staged / "data").mkdir(parents=True, exist_ok=True)  # no shard is written when every row was rejected
        stats = run_dedup(str(staged), str(out), recipe.dedup, executor=recipe.executor, kind="instructions")
        if stats.get("submitted"):
            return stats
        logs += sorted(p for p in (out / "logs").glob("dedup*") if p.is_dir())
    return write_stats(out, logs)
