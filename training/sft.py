"""Supervised fine-tuning (translator and Hala instruction models) with TRL's SFTTrainer.

Conversational `messages` rows, assistant-only loss (the prompt and the user turns carry label -100), the chat
template given `{% generation %}` markers when it lacks them. The recipe is copied next to the model with a
`hala_sft.json` summary (rows, steps, final loss, how the template was obtained).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from hala.training.recipes import SFTRecipe, absolute_model_path

log = logging.getLogger(__name__)


def load_tokenizer(recipe: SFTRecipe):
    from transformers import AutoTokenizer

    from hala.training.chat_template import ensure_generation_markers

    tok = AutoTokenizer.from_pretrained(absolute_model_path(recipe.model_name_or_path), revision=recipe.model_revision,
                                        trust_remote_code=recipe.trust_remote_code)
    if recipe.chat_template:
        tok.chat_template = Path(recipe.chat_template).read_text(encoding="utf-8")
        log.warning("chat template: replaced by %s", recipe.chat_template)
    how = ensure_generation_markers(tok)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok, how


def sft_config(recipe: SFTRecipe):
    """TRL's SFTConfig from the recipe's `training:` block (assistant_only_loss always on)."""
    from trl import SFTConfig

    from hala.pipelines.core.errors import UserError

    try:
        return SFTConfig(output_dir=recipe.output_dir, assistant_only_loss=True, **recipe.training)
    except (TypeError, ValueError) as e:  # TRL/transformers' own check of a value, as one line
        first = (str(e).strip().splitlines() or [""])[0]
        raise UserError(f"training: {first}") from None


class Built(NamedTuple):
    trainer: Any  # trl.SFTTrainer
    chat_template: str  # how the template got its generation markers (hala.training.chat_template)
    rows: int
    gate: dict  # what vouched for the data (hala.training.gating.require_gated)


def _gated_messages(d, split: str):
    """The rows of one split, refused unless published or gated (hala.training.gating)."""
    from hala.training.data import load_messages_dataset, local_files
    from hala.training.gating import require_gated

    gate = require_gated(d.path, local_files(d.path, split, sub="chat"), allow_ungated=d.allow_ungated)
    rows = load_messages_dataset(d.path, split=split, name=d.name, revision=d.revision, field=d.messages_field,
                                 max_samples=d.max_samples)
    return rows, gate


def build_trainer(recipe: SFTRecipe) -> Built:
    """The SFTTrainer for a recipe (separate from `run_sft` so tests can inspect its collator)."""
    d = recipe.dataset
    train, gate = _gated_messages(d, d.split)  # refused data stops here, before torch and TRL are even imported
    evald = _gated_messages(d, d.eval_split)[0] if d.eval_split else None
    import torch
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    tok, how = load_tokenizer(recipe)
    dtype = "auto" if recipe.dtype == "auto" else getattr(torch, recipe.dtype)
    if recipe.training.get("use_cpu") and dtype == "auto":
        dtype = torch.float32
    model = AutoModelForCausalLM.from_pretrained(absolute_model_path(recipe.model_name_or_path), revision=recipe.model_revision,
                                                 dtype=dtype, trust_remote_code=recipe.trust_remote_code)
    trainer = SFTTrainer(model=model, args=sft_config(recipe), train_dataset=train, eval_dataset=evald,
                         processing_class=tok)
    return Built(trainer, how, len(train), gate)


def run_sft(recipe: SFTRecipe, recipe_path: str | None = None) -> dict:
    """Train, save model + tokenizer (with the marker template) to `output_dir`, write hala_sft.json; output_dir is
    bound to this run (another model, dataset or setting into it is refused unless `overwrite`)."""
    from hala.training.data import local_files
    from hala.training.gating import require_gated
    from hala.training.recipes import absolute_model_path, bound_output

    d = recipe.dataset  # refused data stops here, before the output folder exists
    require_gated(d.path, local_files(d.path, d.split, sub="chat"), allow_ungated=d.allow_ungated)
    with bound_output(recipe, f"sft-{recipe.stage}",
                      {"model_name_or_path": absolute_model_path(recipe.model_name_or_path)},
                      {"dataset.path": recipe.dataset.path}):
        return _run_sft(recipe, recipe_path)

def _run_sft(recipe: SFTRecipe, recipe_path: str | None = None) -> dict:
    """Train, save model + tokenizer (with the marker template) to `output_dir`, write hala_sft.json."""
    t0 = time.monotonic()
    trainer, how, rows, gate = build_trainer(recipe)
    result = trainer.train()
    out = Path(recipe.output_dir)
    trainer.save_model(str(out))
    trainer.processing_class.save_pretrained(str(out))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    summary = {
        "stage": recipe.stage,
        "recipe": recipe_path,
        "base_model": recipe.model_name_or_path,
        "dataset": recipe.dataset.path,
        "dataset_gate": gate,
        "rows": rows,
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "chat_template": how,
        "assistant_only_loss": True,
        "seconds": round(time.monotonic() - t0, 2),
    }
    (out / "hala_sft.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (out / "hala_recipe.yaml").write_text(yaml.safe_dump(recipe.model_dump(), sort_keys=False, allow_unicode=True),
                                          encoding="utf-8")
    return summary
