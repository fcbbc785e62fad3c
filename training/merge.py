"""Slerp merge of a fine-tuned model with its base through mergekit's Python API.

The merge is described once, as a mergekit configuration with absolute paths (mergekit reads a relative path as a
Hub id), run with `run_merge`, and written next to the merged weights as `mergekit_config.yml`, so
`mergekit-yaml OUT/mergekit_config.yml OUT2` reproduces it bit for bit. `t` follows mergekit: 0 → base, 1 → model;
`t_filters` sets t per tensor-name substring (LFM2: `self_attn`, `conv`, `feed_forward`; Llama: `self_attn`, `mlp`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from hala.training.recipes import MergeRecipe, absolute_model_path

CONFIG_NAME = "mergekit_config.yml"


def mergekit_config(recipe: MergeRecipe) -> dict:
    """The mergekit YAML as a dict (absolute paths; base first)."""
    base, model = absolute_model_path(recipe.base), absolute_model_path(recipe.model)
    t = [{"filter": f, "value": v} for f, v in recipe.t_filters.items()] + [{"value": recipe.t}]
    return {
        "merge_method": "slerp",
        "base_model": base,
        "models": [{"model": base}, {"model": model}],
        "parameters": {"t": t if recipe.t_filters else recipe.t},
        "dtype": recipe.dtype,
        "tokenizer_source": "base" if recipe.copy_tokenizer_from == "base" else model,
    }


def run_merge(recipe: MergeRecipe) -> dict:
    """`_run_merge` into an output_dir bound to this run (hala.training.recipes.bound_output)."""
    from hala.training.recipes import absolute_model_path, bound_output

    mergekit_config(recipe)  # bad model specs fail here, before anything is bound or imported
    with bound_output(recipe, "merge", {"base": absolute_model_path(recipe.base),
                                        "model": absolute_model_path(recipe.model)}, {}):
        return _run_merge(recipe)

def _run_merge(recipe: MergeRecipe) -> dict:
    """Validate the config with mergekit, merge on CPU, write the YAML and a small summary next to the model."""
    data = mergekit_config(recipe)  # bad model specs fail here, before mergekit is imported
    import yaml
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge as mk_run_merge
    from mergekit.options import MergeOptions

    config = MergeConfiguration.model_validate(data)
    out = Path(recipe.output_dir).expanduser().resolve()
    t0 = time.monotonic()
    mk_run_merge(config, str(out), options=MergeOptions(copy_tokenizer=True, write_model_card=True, quiet=True,
                                                        lazy_unpickle=False))
    text = yaml.safe_dump(data, sort_keys=False)
    (out / CONFIG_NAME).write_text(text, encoding="utf-8")
    _keep_chat_template(recipe, out)
    summary = {"method": "slerp", "base": data["base_model"], "model": data["models"][1]["model"], "t": recipe.t,
               "t_filters": recipe.t_filters, "output_dir": str(out), "config": str(out / CONFIG_NAME),
               "reproduce": f"mergekit-yaml {out / CONFIG_NAME} OUT", "seconds": round(time.monotonic() - t0, 2)}
    (out / "hala_merge.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _keep_chat_template(recipe: MergeRecipe, out: Path) -> None:
    """mergekit copies the tokenizer; make sure the chosen side's chat template file came along too."""
    import shutil

    src = Path(absolute_model_path(recipe.base if recipe.copy_tokenizer_from == "base" else recipe.model))
    for name in ("chat_template.jinja", "generation_config.json"):
        if (src / name).is_file() and not (out / name).exists():
            shutil.copy2(src / name, out / name)
