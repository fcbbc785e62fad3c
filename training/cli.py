"""`hala compress`, `hala train sft`, `hala merge`, `hala eval`: the training half from the command line.

Each takes a recipe YAML (`training/recipes/<model>/<stage>/config.yaml`) or plain arguments; flags override the
recipe. Heavy imports stay inside the command bodies so `hala --help` is instant.
"""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from hala.pipelines.core.config import is_recipe
from hala.pipelines.core.errors import UserError

train_app = typer.Typer(help="Fine-tune models (TRL SFTTrainer, assistant-only loss).", no_args_is_help=True)


def _build(model, data: dict, source: str, overrides: dict):
    """Validate recipe data with dotted-key overrides applied (None values are left out)."""
    from hala.pipelines.core.config import validate

    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[leaf] = value
    return validate(model, data, source)


def _pairs(items: List[str], what: str) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"{what} {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def compress(
    input: str = typer.Argument(..., help="a compress recipe YAML, or the model folder / Hub id to quantize"),
    output: Optional[str] = typer.Argument(None, help="output folder (not with a recipe)"),
    heldout: Optional[str] = typer.Option(None, "--heldout", help="held-out pairs (file/folder) for BLEU/chrF"),
    max_samples: Optional[int] = typer.Option(None, "--max-samples", help="first N held-out rows"),
    max_bleu_drop: Optional[float] = typer.Option(None, "--max-bleu-drop", help="fail if BLEU drops more"),
    max_chrf_drop: Optional[float] = typer.Option(None, "--max-chrf-drop", help="fail if chrF++ drops more"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="throughput batch size"),
    new_tokens: Optional[int] = typer.Option(None, "--new-tokens", help="throughput: tokens generated per row"),
    device: Optional[str] = typer.Option(None, "--device", help="throughput device: cpu | cuda"),
    no_throughput: bool = typer.Option(False, "--no-throughput", help="skip the tokens/s comparison"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start the output folder clean when it holds another run"),
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
                 "validation.heldout.path": heldout, "validation.heldout.max_samples": max_samples,
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
        typer.echo(f"  tokens/s original {tp['original']['tokens_per_s']}  fp8 {tp['fp8']['tokens_per_s']}  "
                   f"ratio {tp['fp8_over_original']} ({tp['fp8']['device']}, batch {tp['fp8']['batch_size']})")
    typer.echo(f"  report: {report['output_dir']}/compress_report.json")
    if not report["passed"]:
        typer.secho("validation failed: " + "; ".join(report["failures"]), err=True, fg=typer.colors.RED)
        raise typer.Exit(1)


@train_app.command("sft")
def train_sft(
    recipe: str = typer.Argument(..., help="SFT recipe YAML (training/recipes/<model>/<stage>/config.yaml)"),
    output_dir: Optional[str] = typer.Option(None, "--output-dir", help="override output_dir"),
    model: Optional[str] = typer.Option(None, "--model", help="override model_name_or_path"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="override dataset.path"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="override training.max_steps"),
    max_samples: Optional[int] = typer.Option(None, "--max-samples", help="override dataset.max_samples"),
    cpu: bool = typer.Option(False, "--cpu", help="train on CPU (use_cpu: true, bf16: false)"),
    allow_ungated: bool = typer.Option(False, "--allow-ungated", help="train on local data that has not passed "
                                       "`hala gate` (dataset.allow_ungated: true; logged as a warning)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start the output folder clean when it holds another run"),
) -> None:
    """TRL SFTTrainer on conversational `messages` with assistant-only loss."""
    from hala.pipelines.core.config import load_yaml
    from hala.training.recipes import SFTRecipe
    from hala.training.sft import run_sft

    overrides = {"output_dir": output_dir, "model_name_or_path": model, "dataset.path": dataset,
                 "training.max_steps": max_steps, "dataset.max_samples": max_samples, "overwrite": overwrite or None}
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
    input: str = typer.Argument(..., help="a merge recipe YAML, or the base model"),
    model: Optional[str] = typer.Argument(None, help="fine-tuned model (not with a recipe)"),
    output: Optional[str] = typer.Argument(None, help="output folder (not with a recipe)"),
    t: Optional[float] = typer.Option(None, "--t", help="slerp factor (0 base, 1 model; default 0.5)"),
    t_filter: List[str] = typer.Option([], "--t-filter", help="per-tensor-type t, e.g. self_attn=0.3 (repeatable)"),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="output dtype (float32, bfloat16)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start the output folder clean when it holds another run"),
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
    recipe: Optional[str] = typer.Argument(None, help="an eval recipe YAML (or use --model/--heldout/--output)"),
    model: List[str] = typer.Option([], "--model", help="LABEL=PATH (repeatable), e.g. base=..., sft=..., merged=..."),
    heldout: Optional[str] = typer.Option(None, "--heldout", help="held-out pairs or chat rows (file or folder)"),
    output: Optional[str] = typer.Option(None, "--output", help="output folder for eval_results.json/.md"),
    max_samples: Optional[int] = typer.Option(None, "--max-samples", help="first N held-out rows"),
    device: Optional[str] = typer.Option(None, "--device", help="transformers server device"),
    server: Optional[str] = typer.Option(None, "--server", help="server type: transformers | batched | vllm | "
                                         "sglang | endpoint (one server per model)"),
    lighteval_task: List[str] = typer.Option([], "--lighteval-task", help="lighteval task spec (repeatable)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start the output folder clean when it holds another run"),
) -> None:
    """BLEU and chrF++ on a held-out split through the pipelines' inference path; lighteval tasks if installed."""
    from hala.pipelines.core.config import load_yaml
    from hala.training.evaluate import markdown_table, run_eval
    from hala.training.recipes import EvalRecipe

    data, source = (load_yaml(recipe), recipe) if recipe else ({}, "options")
    if model:
        data["models"] = _pairs(model, "--model")
    if lighteval_task:
        data["lighteval_tasks"] = lighteval_task
    r = _build(EvalRecipe, data, source, {"heldout.path": heldout, "heldout.max_samples": max_samples,
                                          "output_dir": output, "server.device": device,
                                          "server.type": server, "overwrite": overwrite or None})
    results = run_eval(r)
    typer.echo(markdown_table(results).rstrip())
    typer.echo(f"  results: {r.output_dir}/eval_results.json, {r.output_dir}/eval_results.md")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hala` app."""
    app.command("compress")(compress)
    app.add_typer(train_app, name="train")
    app.command("merge")(merge)
    app.command("eval")(eval_cmd)
