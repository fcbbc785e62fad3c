"""`hala teacher-pairs`, `hala mine`, `hala build-translator-set`: the bilingual-supervision flows from the command
line. Each takes either a recipe YAML (the same file `hala run` takes) or inputs and options; heavy imports stay in
the command bodies so `hala --help` is instant."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from hala.pipelines.core.config import is_recipe
from hala.pipelines.core.errors import UserError

SERVER_HELP = "transformers | endpoint | vllm | sglang"


def _recipe(path: str, flow: str):
    """A recipe file for this command's flow, validated (a recipe of another flow is a one-line error)."""
    from hala.pipelines.bilingual import FLOWS
    from hala.pipelines.core.config import load_yaml, validate

    data = load_yaml(path)
    if data.get("flow", flow) != flow:
        raise UserError(f"{path}: flow: this command runs flow {flow!r}, the recipe says {data.get('flow')!r} "
                        f"(use `hala run {path}`)")
    model, _ = FLOWS[flow]
    return validate(model, {**data, "flow": flow}, path)


def _options(model, where: str, **values):
    from pydantic import ValidationError

    from hala.pipelines.core.config import format_validation_error

    try:
        return model(**values)
    except ValidationError as e:
        raise UserError(format_validation_error(where, e)) from e


def _server(model, server, endpoint, device, concurrency) -> dict:
    return {"type": server, "model": model, "endpoint": endpoint, "device": device, "max_concurrency": concurrency}


def _echo_stats(stats: dict, out: Path, data: str = "data") -> None:
    from hala.pipelines.core.stats import stage_lines

    lines = stage_lines(stats)
    pairs = stats.get("pairs")
    if isinstance(pairs, dict) and "parent_rows" in pairs:
        lines.append(f"  pairs: {pairs['pairs']} from {pairs['parent_rows']} translated rows ({stats.get('origin')})")
    for split, s in (stats.get("splits") or {}).items():
        origins = ", ".join(f"{k}={v}" for k, v in s["origins"].items()) or "-"
        lines.append(f"  {split:<6} {s['rows']:>6} rows  ({origins})")
    lines.append(f"  output: {out / data}   rejects: {out / 'rejects'}   stats: {out / 'stats.json'}")
    typer.echo("\n".join(lines))


def teacher_pairs(
    input: str = typer.Argument(..., help="a teacher_pairs recipe YAML, or an Open-Orca-style file/folder/Hub id"),
    output: Optional[str] = typer.Argument(None, help="output folder (not with a recipe)"),
    rows: int = typer.Option(-1, "--rows", help="the first N rows of the input, in total (-1: all)"),
    format: str = typer.Option("openorca", "--format", help="openorca | alpaca | sharegpt | messages | auto"),
    model: Optional[str] = typer.Option(None, "--model", help="teacher model path or Hub id (default: tiny demo)"),
    revision: Optional[str] = typer.Option(None, "--revision", help="teacher revision recorded in `origin`"),
    server: str = typer.Option("transformers", "--server", help=SERVER_HELP),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="OpenAI-compatible base URL"),
    prompt: str = typer.Option("lfm2", "--prompt", help="lfm2 | teacher | path to a YAML prompt file"),
    device: str = typer.Option("cpu", "--device", help="transformers server device"),
    concurrency: int = typer.Option(32, "--concurrency", help="requests in flight"),
    tm: Optional[str] = typer.Option(None, "--tm", help="translation memory file"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start OUTPUT clean when it holds another run"),
) -> None:
    """Translate instruction rows with a teacher model into EN→AR pairs (instruction and response separately)."""
    from hala.pipelines.bilingual.teacher_pairs import TeacherPairsRecipe, run_teacher_pairs

    if is_recipe(input) and output is None:
        recipe = _recipe(input, "teacher_pairs")
    else:
        if output is None:
            raise UserError("teacher-pairs: give INPUT OUTPUT, or a recipe YAML")
        recipe = _options(TeacherPairsRecipe, "options", input=input, output=output, limit=rows, format=format,
                          revision=revision, prompt=prompt, tm_path=tm, overwrite=overwrite,
                          server=_server(model, server, endpoint, device, concurrency))
    _echo_stats(run_teacher_pairs(recipe), Path(recipe.output))


def mine(
    input: str = typer.Argument(..., help="a mine recipe YAML, or an OPUS-style file/folder/Hub id"),
    output: Optional[str] = typer.Argument(None, help="output folder (not with a recipe)"),
    config: Optional[str] = typer.Option(None, "--config", help="Hub dataset config (ar-en for OPUS-100)"),
    split: str = typer.Option("train", "--split", help="split to read"),
    limit: int = typer.Option(-1, "--limit", help="the first N rows of the input, in total (-1: all)"),
    origin: str = typer.Option("opus-100", "--origin", help="`origin` of every mined pair"),
    model: Optional[str] = typer.Option(None, "--model", help="judge model path or Hub id (default: tiny demo)"),
    server: str = typer.Option("transformers", "--server", help=SERVER_HELP),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="OpenAI-compatible base URL"),
    device: str = typer.Option("cpu", "--device", help="transformers server device"),
    concurrency: int = typer.Option(32, "--concurrency", help="requests in flight"),
    judge_prompt: str = typer.Option("judge_v1", "--judge-prompt", help="judge prompt name or file"),
    no_judge: bool = typer.Option(False, "--no-judge", help="keep the pre-filtered, deduplicated pairs unjudged"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start OUTPUT clean when it holds another run"),
) -> None:
    """Mine pairs from a parallel corpus: LID, quality and exact dedup first, then a strict ACCEPT/REJECT judge."""
    from hala.pipelines.bilingual.mining import MineRecipe, run_mine

    if is_recipe(input) and output is None:
        recipe = _recipe(input, "mine")
    else:
        if output is None:
            raise UserError("mine: give INPUT OUTPUT, or a recipe YAML")
        recipe = _options(MineRecipe, "options", input=input, output=output, config=config, split=split,
                          limit=limit, origin=origin, judge=None if no_judge else {"prompt": judge_prompt},
                          overwrite=overwrite,
                          server=_server(model, server, endpoint, device, concurrency))
    _echo_stats(run_mine(recipe), Path(recipe.output))


def build_translator_set(
    paths: List[str] = typer.Argument(..., help="INPUTS... OUTPUT (pair dataset folders, then the output folder), "
                                                "or one translator_set recipe YAML"),
    reverse: bool = typer.Option(False, "--reverse", help="also add AR→EN rows"),
    test_size: float = typer.Option(0.05, "--test-size", help="share of source texts held out for test"),
    dev_size: float = typer.Option(0.05, "--dev-size", help="share of source texts held out for dev"),
    salt: str = typer.Option("hala", "--salt", help="mixed into the split hash"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start OUTPUT clean when it holds another run"),
) -> None:
    """Merge teacher and judged pairs, dedup, split train/dev/test by source, write pairs and chat rows."""
    from hala.pipelines.bilingual.translator_set import TranslatorSetRecipe
    from hala.pipelines.bilingual.translator_set import build_translator_set as build

    if len(paths) == 1 and is_recipe(paths[0]):
        recipe = _recipe(paths[0], "translator_set")
    else:
        if len(paths) < 2:
            raise UserError("build-translator-set: give INPUTS... OUTPUT (at least one input), or a recipe YAML")
        recipe = _options(TranslatorSetRecipe, "options", inputs=paths[:-1], output=paths[-1], reverse=reverse,
                          test_size=test_size, dev_size=dev_size, salt=salt, overwrite=overwrite)
    _echo_stats(build(recipe), Path(recipe.output), data="chat")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hala` app."""
    app.command("teacher-pairs")(teacher_pairs)
    app.command("mine")(mine)
    app.command("build-translator-set")(build_translator_set)
