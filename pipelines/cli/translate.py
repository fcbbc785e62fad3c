"""`hala translate` and `hala run`: the corpus flow from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hala.pipelines.core.errors import UserError
from hala.pipelines.core.stats import stage_lines

FORMAT_HELP = "input format: auto, alpaca, sharegpt, openorca, messages"
EXECUTOR_HELP = "local | slurm | ray (a recipe's executor: block sets the rest: partition, address…)"
WAIT_HELP = ("slurm: follow the submitted jobs (tasks done/running/failed) and run the later stages and stats in this "
             "command (recipe key executor.wait)")


def _summary(stats: dict, out: Path) -> str:
    if stats.get("submitted"):
        return (f"  submitted: the tasks run on the cluster (logs: {stats['submitted']['logs']}). Run the same command "
                "again once they have finished (or add --wait to follow them): completed tasks are skipped, the "
                "later stages run and stats.json is written.")
    lines = stage_lines(stats)
    lines.append(f"  output: {out / 'data'}   rejects: {out / 'rejects'}   stats: {out / 'stats.json'}")
    return "\n".join(lines)


def translate(
    input: str = typer.Argument(..., help="file or folder of jsonl/parquet, or a Hub dataset id"),
    output: str = typer.Argument(..., help="output folder (receives data/*.parquet, rejects/, stats.json)"),
    format: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    model: Optional[str] = typer.Option(None, "--model", help="model path or Hub id (default: the tiny demo model)"),
    server: str = typer.Option("transformers", "--server", help="transformers | batched | endpoint | vllm | sglang"),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="OpenAI-compatible base URL (--server endpoint)"),
    prompt: str = typer.Option("lfm2", "--prompt", help="lfm2 | teacher | path to a YAML prompt file"),
    device: str = typer.Option("cpu", "--device", help="transformers server device"),
    concurrency: int = typer.Option(32, "--concurrency", help="requests in flight"),
    tasks: int = typer.Option(1, "--tasks", help="datatrove tasks"),
    workers: int = typer.Option(1, "--workers", help="tasks run at once"),
    limit: int = typer.Option(-1, "--limit", help="the first N rows of the input, in total (-1: all)"),
    split: str = typer.Option("train", "--split", help="split to read (Hub datasets) and to record"),
    config: Optional[str] = typer.Option(None, "--config", help="Hub dataset config"),
    dataset_name: Optional[str] = typer.Option(None, "--dataset-name", help="source name recorded on every row"),
    tm: Optional[str] = typer.Option(None, "--tm", help="translation memory file"),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
) -> None:
    """Translate English instruction rows to Arabic (roles kept, code/LaTeX/URLs untouched)."""
    from pydantic import ValidationError

    from hala.pipelines.core.config import format_validation_error
    from hala.pipelines.translate.flow import TranslateConfig, run_translate

    try:
        cfg = TranslateConfig(
            input=input, output=output, format=format, split=split, limit=limit, prompt=prompt, tm_path=tm,
            config=config, dataset_name=dataset_name,
            server={"type": server, "model": model, "endpoint": endpoint, "device": device,
                    "max_concurrency": concurrency},
            executor={"type": executor, "tasks": tasks, "workers": workers, "wait": wait},
        )
    except ValidationError as e:
        raise UserError(format_validation_error("options", e)) from e
    stats = run_translate(cfg)
    typer.echo(_summary(stats, Path(output)))


def run(recipe: str = typer.Argument(..., help="a YAML recipe (see recipes/)"),
        wait: bool = typer.Option(False, "--wait", help=WAIT_HELP)) -> None:
    """Run a whole flow described by a YAML recipe (`flow:` picks it: corpus, translate, teacher_pairs, mine, translator_set)."""
    from hala.pipelines.flows.registry import run_recipe

    stats, out = run_recipe(recipe, wait=wait)
    typer.echo(_summary(stats, out))


def register(app: typer.Typer) -> None:
    app.command("translate")(translate)
    app.command("run")(run)
