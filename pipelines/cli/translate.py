"""`hala translate` and `hala run`: the corpus flow from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hala.pipelines.cli import options as o
from hala.pipelines.core.errors import UserError
from hala.pipelines.core.stats import summary_lines

COLUMNS_HELP = ("column mapping for any other dataset: user=COL,assistant=COL[,system=COL] (user=a+b joins two), or "
                "turns=COL,role=FIELD,content=FIELD,roles.NAME=user|assistant|system,…")



def _summary(stats: dict, out: Path) -> str:
    return "\n".join(summary_lines(stats, out))


def translate(
    input: o.Input,
    output: o.Output,
    format: o.Format = "auto",
    columns: Optional[str] = o.value("--columns", COLUMNS_HELP, "MAPPING"),
    model: o.Model = None,
    server: o.Server = "transformers",
    endpoint: o.Endpoint = None,
    prompt: o.Prompt = "lfm2",
    device: o.Device = "cpu",
    concurrency: o.Concurrency = 32,
    tasks: o.Tasks = 1,
    workers: o.Workers = 1,
    limit: o.Limit = -1,
    split: o.Split = "train",
    hub_config: o.HubConfig = None,
    dataset_name: o.DatasetName = None,
    tm: o.TM = None,
    overwrite: o.Overwrite = False,
    model_revision: o.ModelRevision = None,
    executor: o.Executor = "local",
    wait: o.Wait = False,
) -> None:
    """Translate English instruction rows to Arabic (roles kept, code/LaTeX/URLs untouched)."""
    from pydantic import ValidationError

    from hala.pipelines.core.config import format_validation_error
    from hala.pipelines.sources.columns import parse_columns
    from hala.pipelines.translate.flow import TranslateConfig, run_translate

    try:
        cfg = TranslateConfig(
            input=input, output=output, format=format, split=split, limit=limit, prompt=prompt, tm_path=tm,
            columns=parse_columns(columns) if columns else None,
            config=hub_config, dataset_name=dataset_name, overwrite=overwrite,
            server={"type": server, "model": model, "endpoint": endpoint, "device": device,
                    "max_concurrency": concurrency, "model_revision": model_revision},
            executor={"type": executor, "tasks": tasks, "workers": workers, "wait": wait},
        )
    except ValidationError as e:
        raise UserError(format_validation_error("options", e, o.FLAG_NAMES)) from e
    stats = run_translate(cfg)
    typer.echo(_summary(stats, Path(output)))


def run(recipe: str = typer.Argument(..., metavar="RECIPE", help="a YAML recipe (see recipes/)"),
        wait: o.Wait = False) -> None:
    """Run a whole flow described by a YAML recipe (`flow:` picks it: corpus, translate, teacher_pairs, mine, translator_set)."""
    from hala.pipelines.flows.registry import run_recipe

    stats, out = run_recipe(recipe, wait=wait)
    typer.echo(_summary(stats, out))


def register(app: typer.Typer) -> None:
    o.command(app, "translate")(translate)
    o.command(app, "run")(run)
