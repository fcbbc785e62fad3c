"""`hala filter` and `hala dedup`: the filtering half of the corpus flow on any dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hala.pipelines.cli import options as o
from hala.pipelines.core.errors import UserError


def _load_block(path: Optional[str], model, block: str, overrides: dict):
    """The settings model from a YAML file (whole file, or its `block:` key) with command-line overrides applied."""
    from hala.pipelines.core.config import apply_overrides, load_yaml, validate

    data: dict = {}
    if path:
        data = load_yaml(path)
        data = data.get(block, data) if isinstance(data.get(block), dict) else data
    apply_overrides(data, overrides)
    return validate(model, data, path or "options")


def _summary(stats: dict, out: Path) -> str:
    from hala.pipelines.core.stats import summary_lines

    return "\n".join(summary_lines(stats, out))


def filter_cmd(
    input: o.Input,
    output: o.Output,
    kind: str = typer.Option(..., "--kind", metavar="KIND", help="instructions | pairs (src_lang, tgt_lang, src, tgt)"),
    settings: o.Settings = None,
    lid_model: o.LidModel = None,
    lid_threshold: Optional[float] = o.value("--lid-threshold", "minimum expected-language score", "SCORE"),
    no_lid: o.NoLid = False,
    no_quality: bool = o.flag("--no-quality", "skip the quality checks"),
    tasks: o.Tasks = 1,
    workers: o.Workers = 1,
    overwrite: o.Overwrite = False,
    executor: o.Executor = "local",
    wait: o.Wait = False,
) -> None:
    """Language-ID on both sides and bilingual quality checks; rejects carry a reason and a detail."""
    from hala.pipelines.filters import FilterConfig
    from hala.pipelines.flows.folder import FilterRecipe, run_filter_flow

    if kind not in ("instructions", "pairs"):
        raise UserError(f"--kind must be instructions or pairs, not {kind!r}")
    cfg = _load_block(settings, FilterConfig, "filters", {"lid.model": lid_model, "lid.threshold": lid_threshold})
    if no_lid:
        cfg.lid = None
    if no_quality:
        cfg.quality = None
    if cfg.lid is not None and cfg.lid.model and "://" not in cfg.lid.model:
        from hala.pipelines.filters.lid import check_lid_model

        check_lid_model(cfg.lid.model)
    recipe = FilterRecipe(input=input, output=output, kind=kind, filters=cfg,  # type: ignore[arg-type]
                          executor={"type": executor, "tasks": tasks, "workers": workers, "wait": wait},
                          overwrite=overwrite)
    stats = run_filter_flow(recipe)
    typer.echo(_summary(stats, Path(output)))


def dedup_cmd(
    input: o.Input,
    output: o.Output,
    key: Optional[str] = o.value("--key", "user | conversation | source | target (default conversation)", "KEY"),
    settings: o.Settings = None,
    no_exact: bool = o.flag("--no-exact", "skip exact dedup"),
    no_near: bool = o.flag("--no-near", "skip MinHash near-dedup"),
    tasks: o.Tasks = 1,
    workers: o.Workers = 1,
    overwrite: o.Overwrite = False,
    executor: o.Executor = "local",
    wait: o.Wait = False,
) -> None:
    """Exact and MinHash near-dedup on the normalized Arabic key; each removed row names its kept twin."""
    from hala.pipelines.dedup.flow import DedupConfig
    from hala.pipelines.flows.folder import DedupRecipe, run_dedup_flow

    overrides = {"key": key, "exact": False if no_exact else None, "near": False if no_near else None}
    cfg = _load_block(settings, DedupConfig, "dedup", overrides)
    try:
        stats = run_dedup_flow(DedupRecipe(input=input, output=output, dedup=cfg,
                                           executor={"type": executor, "tasks": tasks, "workers": workers, "wait": wait},
                                           overwrite=overwrite))
    except ValueError as e:
        if "dedup key" in str(e):
            raise UserError(str(e)) from e
        raise
    typer.echo(_summary(stats, Path(output)))


def register(app: typer.Typer) -> None:
    """Add `filter` and `dedup` to the `hala` app."""
    o.command(app, "filter")(filter_cmd)
    o.command(app, "dedup")(dedup_cmd)
