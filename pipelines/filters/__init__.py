"""Language-ID and bilingual quality filters as datatrove steps (the `lid` and `quality` stages).

`build_filter_steps(kind, output_dir, config)` gives the steps to put after translation (or after a reader, for
`hala filter`); `FilterConfig` is the part of a recipe that sets them.
"""

from __future__ import annotations

from typing import Literal

from datatrove.pipeline.base import PipelineStep
from pydantic import BaseModel, ConfigDict, Field

from hala.pipelines.filters.lid import LidConfig, LidStage
from hala.pipelines.filters.quality_filters import QualityConfig, QualityStage

Kind = Literal["instructions", "pairs"]


class FilterConfig(BaseModel):
    """LID then quality checks; set either to null to skip it."""

    model_config = ConfigDict(extra="forbid")

    lid: LidConfig | None = Field(default_factory=LidConfig, description="language-ID on both sides (null: off)")
    quality: QualityConfig | None = Field(default_factory=QualityConfig, description="quality checks (null: off)")


def build_filter_steps(kind: Kind, output_dir: str, config: FilterConfig | None = None) -> list[PipelineStep]:
    """The `lid` and `quality` stages for records of `kind`; their rejects go to OUTPUT/rejects/<stage>/."""
    if kind not in ("instructions", "pairs"):
        raise ValueError(f"kind must be 'instructions' or 'pairs', not {kind!r}")
    config = config or FilterConfig()
    steps: list[PipelineStep] = []
    if config.lid is not None:
        steps.append(LidStage(output_dir, kind, config.lid))
    if config.quality is not None:
        steps.append(QualityStage(output_dir, kind, config.quality))
    return steps


__all__ = ["FilterConfig", "LidConfig", "QualityConfig", "LidStage", "QualityStage", "build_filter_steps"]
