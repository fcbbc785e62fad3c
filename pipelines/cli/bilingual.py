"""`hala teacher-pairs`, `hala mine`, `hala build-translator-set`: the bilingual-supervision flows from the command
line. Each takes either a recipe YAML (the same file `hala run` takes) or inputs and options; heavy imports stay in
the command bodies so `hala --help` is instant."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from hala.pipelines.cli import options as o
from hala.pipelines.core.config import is_recipe
from hala.pipelines.core.errors import UserError


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
        raise UserError(format_validation_error(where, e, o.FLAG_NAMES)) from e


def _server(model, server, endpoint, device, concurrency) -> dict:
    return {"type": server, "model": model, "endpoint": endpoint, "device": device, "max_concurrency": concurrency}


def _echo_stats(stats: dict, out: Path, data: str = "data") -> None:
    from hala.pipelines.core.stats import summary_lines

    *lines, where = summary_lines(stats, out, data)
    pairs = stats.get("pairs")
    if isinstance(pairs, dict) and "parent_rows" in pairs:
        lines.append(f"  pairs: {pairs['pairs']} from {pairs['parent_rows']} translated rows ({stats.get('origin')})")
    splits = stats.get("splits") or {}
    if splits:
        lines.append(f"  written: {out / 'pairs'}/<split>.parquet (bilingual pairs) and {out / 'chat'}/<split>.parquet "
                     "(chat rows for SFT)")
    for split, s in splits.items():
        origins = ", ".join(f"{k}={v}" for k, v in s["origins"].items()) or "-"
        chat = s.get("chat_rows", s["rows"])
        lines.append(f"  {split:<6} pairs/{split}.parquet {s['rows']:>6} rows  chat/{split}.parquet {chat:>6} rows  "
                     f"({origins})")
    if splits:
        where = f"  rejects: {out / 'rejects'}   stats: {out / 'stats.json'}"
    typer.echo("\n".join([*lines, where]))


def teacher_pairs(
    input: o.InputOrRecipe,
    output: o.OutputUnlessRecipe = None,
    limit: o.Limit = -1,
    format: o.Format = "openorca",
    model: o.Model = None,
    revision: Optional[str] = o.value("--revision", "teacher revision recorded in `origin`", "REV"),
    server: o.Server = "transformers",
    endpoint: o.Endpoint = None,
    prompt: o.Prompt = "lfm2",
    device: o.Device = "cpu",
    concurrency: o.Concurrency = 32,
    tm: o.TM = None,
    overwrite: o.Overwrite = False,
) -> None:
    """Translate instruction rows with a teacher model into EN→AR pairs (instruction and response separately)."""
    from hala.pipelines.bilingual.teacher_pairs import TeacherPairsRecipe, run_teacher_pairs

    if is_recipe(input):
        recipe = _recipe(input, "teacher_pairs")
        recipe.output = output or recipe.output
    else:
        if output is None:
            raise UserError("teacher-pairs: give INPUT OUTPUT, or a recipe YAML")
        recipe = _options(TeacherPairsRecipe, "options", input=input, output=output, limit=limit, format=format,
                          revision=revision, prompt=prompt, tm_path=tm, overwrite=overwrite,
                          server=_server(model, server, endpoint, device, concurrency))
    _echo_stats(run_teacher_pairs(recipe), Path(recipe.output))


def mine(
    input: o.InputOrRecipe,
    output: o.OutputUnlessRecipe = None,
    hub_config: o.HubConfig = None,
    split: o.Split = "train",
    limit: o.Limit = -1,
    origin: str = typer.Option("opus-100", "--origin", metavar="NAME", help="`origin` of every mined pair"),
    model: o.Model = None,
    server: o.Server = "transformers",
    endpoint: o.Endpoint = None,
    device: o.Device = "cpu",
    concurrency: o.Concurrency = 32,
    judge_prompt: str = typer.Option("judge_v1", "--judge-prompt", metavar="PROMPT", help="judge prompt name or file"),
    no_judge: bool = o.flag("--no-judge", "keep the pre-filtered, deduplicated pairs unjudged"),
    overwrite: o.Overwrite = False,
) -> None:
    """Mine pairs from a parallel corpus: LID, quality and exact dedup first, then a strict ACCEPT/REJECT judge."""
    from hala.pipelines.bilingual.mining import MineRecipe, run_mine

    if is_recipe(input):
        recipe = _recipe(input, "mine")
        recipe.output = output or recipe.output
    else:
        if output is None:
            raise UserError("mine: give INPUT OUTPUT, or a recipe YAML")
        recipe = _options(MineRecipe, "options", input=input, output=output, config=hub_config, split=split,
                          limit=limit, origin=origin, judge=None if no_judge else {"prompt": judge_prompt},
                          overwrite=overwrite,
                          server=_server(model, server, endpoint, device, concurrency))
    _echo_stats(run_mine(recipe), Path(recipe.output))


def build_translator_set(
    paths: List[str] = typer.Argument(..., metavar="INPUTS... OUTPUT", help="INPUTS... OUTPUT (pair dataset folders, then the output folder), "
                                                "or one translator_set recipe YAML"),
    reverse: bool = o.flag("--reverse", "also add AR→EN rows"),
    test_size: float = typer.Option(0.05, "--test-size", metavar="SHARE", help="share of source texts held out for test"),
    dev_size: float = typer.Option(0.05, "--dev-size", metavar="SHARE", help="share of source texts held out for dev"),
    salt: str = typer.Option("hala", "--salt", metavar="TEXT", help="mixed into the split hash"),
    overwrite: o.Overwrite = False,
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
    o.command(app, "teacher-pairs")(teacher_pairs)
    o.command(app, "mine")(mine)
    o.command(app, "build-translator-set")(build_translator_set)
