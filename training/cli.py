"""`hala compress`, `hala train sft`, `hala merge`, `hala eval`: the training half from the command line.

Each takes a recipe YAML (`training/recipes/<model>/<stage>/config.yaml`) or plain arguments; flags override the
recipe. Heavy imports stay inside the command bodies so `hala --help` is instant.
"""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from hala.pipelines.cli import options as o
from hala.pipelines.core.compat import PlainHelpGroup
from hala.pipelines.core.config import is_recipe
from hala.pipelines.core.errors import UserError

train_app = typer.Typer(help="Fine-tune models (TRL SFTTrainer, assistant-only loss).", no_args_is_help=True,
                        cls=PlainHelpGroup)


def _build(model, data: dict, source: str, overrides: dict):
    """Validate recipe data with dotted-key overrides applied (None values are left out)."""
    from hala.pipelines.core.config import apply_overrides, validate

    return validate(model, apply_overrides(data, overrides), source, o.FLAG_NAMES if source == "options" else None)


def _pairs(items: List[str], what: str) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"{what} {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def throughput_lines(tp: dict) -> list[str]:
    """The tokens/s figures and what they mean: batched greedy generation of a fixed number of new tokens, both
    models on this machine; on CPU the FP8 model dequantizes its weights in every forward, so it is slower — the
    FP8 speed-up needs a GPU with FP8 kernels (vLLM)."""
    o, f = tp["original"], tp["fp8"]
    lines = [f"  tokens/s original {o['tokens_per_s']}  fp8 {f['tokens_per_s']}  ratio {tp['fp8_over_original']} "
             f"(generated tokens per second: batch {f['batch_size']} × {f['new_tokens']} new tokens, greedy, "
             f"on {f['device']})"]
    if str(f["device"]).startswith("cpu"):
        lines.append("  on CPU the FP8 model is expected to be slower: its float8 weights are dequantized in every "
                     "forward; the FP8 speed-up needs a GPU with FP8 kernels (vLLM)")
    return lines


def compress(
    input: str = typer.Argument(..., metavar="INPUT", help="a compress recipe YAML, or the model folder / Hub id to "
                                "quantize"),
    output: o.OutputUnlessRecipe = None,
    heldout: Optional[str] = o.value("--heldout", "held-out pairs (file/folder) for BLEU/chrF", "PATH"),
    limit: o.OptionalLimit = None,
    max_bleu_drop: Optional[float] = o.value("--max-bleu-drop", "fail if BLEU drops more", "POINTS"),
    max_chrf_drop: Optional[float] = o.value("--max-chrf-drop", "fail if chrF++ drops more", "POINTS"),
    batch_size: Optional[int] = o.value("--batch-size", "throughput batch size", "N"),
    new_tokens: Optional[int] = o.value("--new-tokens", "throughput: tokens generated per row", "N"),
    device: Optional[str] = o.value("--device", "throughput device: cpu | cuda", "DEVICE"),
    no_throughput: bool = o.flag("--no-throughput", "skip the tokens/s comparison"),
    overwrite: o.Overwrite = False,
) -> None:
    """FP8_DYNAMIC quantization (llm-compressor, lm_head kept), then BLEU/chrF++ and tokens/s against the original."""
    from hala.pipelines.core.config import load_yaml
    from hala.training.compress import run_compress
    from hala.training.recipes import CompressRecipe

    if is_recipe(input):
        data, source = load_yaml(input), input
    else:
        if not output:
            raise UserError("compress MODEL OUTPUT: the output folder is missing")
        data, source = {"model": input, "output_dir": output}, "options"
    overrides = {"output_dir": output if is_recipe(input) else None,
                 "validation.heldout.path": heldout, "validation.heldout.max_samples": limit,
                 "validation.max_bleu_drop": max_bleu_drop, "validation.max_chrf_drop": max_chrf_drop,
                 "throughput.batch_size": batch_size, "throughput.new_tokens": new_tokens,
                 "throughput.device": device, "overwrite": overwrite or None}
    if no_throughput:
        data["throughput"] = None
        overrides = {k: v for k, v in overrides.items() if not k.startswith("throughput.")}
    recipe = _build(CompressRecipe, data, source, overrides)
    report = run_compress(recipe)
    dtypes = ", ".join(f"{k}={v}" for k, v in sorted(report["saved_dtypes"].items()))
    typer.echo(f"FP8 model: {report['output_dir']}  (saved tensors: {dtypes})")
    val = report.get("validation")
    if val:
        o, f = val["original"], val["fp8"]
        typer.echo(f"  BLEU   original {o['bleu']:.2f}  fp8 {f['bleu']:.2f}  drop {val['bleu_drop']:+.2f} "
                   f"(max {val['max_bleu_drop']})")
        typer.echo(f"  chrF++ original {o['chrf++']:.2f}  fp8 {f['chrf++']:.2f}  drop {val['chrf_drop']:+.2f} "
                   f"(max {val['max_chrf_drop']})   rows {val['rows']}")
    else:
        typer.echo("  quality check skipped: no held-out set (--heldout or validation.heldout)")
    tp = report.get("throughput")
    if tp:
        for line in throughput_lines(tp):
            typer.echo(line)
    typer.echo(f"  report: {report['output_dir']}/compress_report.json")
    if not report["passed"]:
        typer.secho("validation failed: " + "; ".join(report["failures"]), err=True, fg=typer.colors.RED)
        raise typer.Exit(1)


@o.command(train_app, "sft")
def train_sft(
    recipe: str = typer.Argument(..., metavar="RECIPE", help="SFT recipe YAML (training/recipes/<model>/<stage>/"
                                 "config.yaml)"),
    output_dir: o.OutputUnlessRecipe = None,
    model: Optional[str] = o.value("--model", "override model_name_or_path", "MODEL"),
    dataset: Optional[str] = o.value("--dataset", "override dataset.path", "PATH"),
    max_steps: Optional[int] = o.value("--max-steps", "override training.max_steps", "N"),
    limit: o.OptionalLimit = None,
    cpu: bool = o.flag("--cpu", "train on CPU (use_cpu: true, bf16: false)"),
    allow_ungated: bool = o.flag("--allow-ungated", "train on local data that has not passed `hala gate` "
                                 "(dataset.allow_ungated: true; logged as a warning)"),
    overwrite: o.Overwrite = False,
) -> None:
    """TRL SFTTrainer on conversational `messages` with assistant-only loss."""
    from hala.pipelines.core.config import load_yaml
    from hala.training.recipes import SFTRecipe
    from hala.training.sft import run_sft

    overrides = {"output_dir": output_dir, "model_name_or_path": model, "dataset.path": dataset,
                 "training.max_steps": max_steps, "dataset.max_samples": limit, "overwrite": overwrite or None}
    if cpu:
        overrides.update({"training.use_cpu": True, "training.bf16": False})
    if allow_ungated:
        overrides["dataset.allow_ungated"] = True
    r = _build(SFTRecipe, load_yaml(recipe), recipe, overrides)
    summary = run_sft(r, recipe)
    typer.echo(f"SFT ({r.stage}) {r.model_name_or_path} → {r.output_dir}: {summary['rows']} rows, "
               f"{summary['steps']} steps, train loss {summary['train_loss']:.4f}, "
               f"chat template {summary['chat_template']}, data gate {summary['dataset_gate']['gate']}, "
               f"{summary['seconds']} s")


def merge(
    input: str = typer.Argument(..., metavar="INPUT", help="a merge recipe YAML, or the base model"),
    model: Optional[str] = typer.Argument(None, metavar="MODEL", help="fine-tuned model (not with a recipe)"),
    output: Optional[str] = typer.Argument(None, metavar="OUTPUT", help="output folder (not with a recipe)"),
    t: Optional[float] = o.value("--t", "slerp factor (0 base, 1 model; default 0.5)", "T"),
    t_filter: List[str] = typer.Option([], "--t-filter", metavar="NAME=T", help="per-tensor-type t, e.g. "
                                       "self_attn=0.3 (repeatable)"),
    dtype: Optional[str] = o.value("--dtype", "output dtype (float32, bfloat16)", "DTYPE"),
    overwrite: o.Overwrite = False,
) -> None:
    """Slerp merge (mergekit) of a fine-tuned model with its base; writes mergekit_config.yml next to it."""
    from hala.pipelines.core.config import load_yaml
    from hala.training.merge import run_merge
    from hala.training.recipes import MergeRecipe

    if is_recipe(input):
        data, source = load_yaml(input), input
        if model or output:
            raise UserError("merge RECIPE takes no MODEL/OUTPUT arguments (set them in the recipe)")
    else:
        if not (model and output):
            raise UserError("merge BASE MODEL OUTPUT: three arguments needed")
        data, source = {"base": input, "model": model, "output_dir": output}, "options"
    filters = {k: float(v) for k, v in _pairs(t_filter, "--t-filter").items()}
    if filters:
        data["t_filters"] = {**(data.get("t_filters") or {}), **filters}
    r = _build(MergeRecipe, data, source, {"t": t, "dtype": dtype, "overwrite": overwrite or None})
    s = run_merge(r)
    typer.echo(f"merged (slerp t={s['t']}{', ' + json.dumps(s['t_filters']) if s['t_filters'] else ''}) → "
               f"{s['output_dir']}\n  reproduce: {s['reproduce']}")


def eval_cmd(
    recipe: Optional[str] = typer.Argument(None, metavar="RECIPE", help="an eval recipe YAML; without one, the "
                                           "output folder (with --model/--heldout)"),
    output: Optional[str] = typer.Argument(None, metavar="OUTPUT", help="output folder for eval_results.json/.md "
                                           "(overrides the recipe's output_dir)"),
    model: List[str] = typer.Option([], "--model", metavar="LABEL=MODEL", help="model path or Hub id per label "
                                    "(repeatable), e.g. base=..., sft=..., merged=...; `tiny`: the tiny demo model"),
    heldout: Optional[str] = o.value("--heldout", "held-out pairs or chat rows (file or folder)", "PATH"),
    limit: o.OptionalLimit = None,
    device: Optional[str] = o.value("--device", "transformers/batched server device: cpu, cuda, auto", "DEVICE"),
    server: Optional[str] = o.value("--server", o.SERVER_TYPES + " (one server per model)", "TYPE"),
    lighteval_task: List[str] = typer.Option([], "--lighteval-task", metavar="TASK", help="lighteval task spec "
                                             "(repeatable); needs the eval extra: pip install 'hala[eval]'"),
    overwrite: o.Overwrite = False,
) -> None:
    """BLEU and chrF++ on a held-out split through the pipelines' inference path; lighteval tasks if installed."""
    from hala.pipelines.core.config import load_yaml
    from hala.training.evaluate import markdown_table, run_eval
    from hala.training.recipes import EvalRecipe

    if recipe and not is_recipe(recipe):  # `hala eval OUTPUT --model ... --heldout ...`
        if output:
            raise UserError(f"eval: {recipe!r} is not a recipe YAML; give RECIPE [OUTPUT] or OUTPUT with --model "
                            "and --heldout")
        recipe, output = None, recipe
    data, source = (load_yaml(recipe), recipe) if recipe else ({}, "options")
    if not output and not data.get("output_dir"):
        raise UserError("eval: no output folder: give it as OUTPUT (hala eval [RECIPE] OUTPUT) or as output_dir in "
                        "the recipe")
    if model:
        data["models"] = _pairs(model, "--model")
    if lighteval_task:
        data["lighteval_tasks"] = lighteval_task
    r = _build(EvalRecipe, data, source, {"heldout.path": heldout, "heldout.max_samples": limit,
                                          "output_dir": output, "server.device": device,
                                          "server.type": server, "overwrite": overwrite or None})
    results = run_eval(r)
    typer.echo(markdown_table(results).rstrip())
    typer.echo(f"  results: {r.output_dir}/eval_results.json, {r.output_dir}/eval_results.md")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hala` app."""
    o.command(app, "compress")(compress)
    app.add_typer(train_app, name="train")
    o.command(app, "merge")(merge)
    o.command(app, "eval")(eval_cmd)
