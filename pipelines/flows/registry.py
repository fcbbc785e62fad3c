"""`hala run RECIPE.yaml`: a recipe's `flow:` key picks the flow; every other key is validated by that flow's
pydantic model, so a typo is a one-line error naming the key, before any work starts."""

from __future__ import annotations

from pathlib import Path

from hala.pipelines.bilingual import FLOWS as BILINGUAL_FLOWS
from hala.pipelines.core.config import load_yaml, validate
from hala.pipelines.core.errors import UserError
from hala.pipelines.flows.corpus import CorpusRecipe, run_corpus
from hala.pipelines.flows.folder import DedupRecipe, FilterRecipe, run_dedup_flow, run_filter_flow
from hala.pipelines.translate.flow import TranslateConfig, run_translate

FLOWS = {"corpus": (CorpusRecipe, run_corpus), "translate": (TranslateConfig, run_translate),
         "filter": (FilterRecipe, run_filter_flow), "dedup": (DedupRecipe, run_dedup_flow), **BILINGUAL_FLOWS}


def run_recipe(path: str, wait: bool = False) -> tuple[dict, Path]:
    """Run the recipe at `path`; `wait` (`hala run --wait`) is the recipe's `executor.wait: true`."""
    data = load_yaml(path)
    flow = data.get("flow", "corpus")
    if flow not in FLOWS:
        raise UserError(f"{path}: flow: unknown flow {flow!r} (one of {', '.join(sorted(FLOWS))})")
    model, runner = FLOWS[flow]
    if wait and "executor" in model.model_fields:
        executor = data.get("executor")
        data["executor"] = {**(executor if isinstance(executor, dict) else {}), "wait": True}
    recipe = validate(model, data, path)
    return runner(recipe), Path(recipe.output)
