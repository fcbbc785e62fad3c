"""Translation evaluation (sacrebleu BLEU and chrF++) through the pipelines' inference path, plus lighteval's Arabic
tasks where lighteval is installed; results as JSON and a markdown table comparing the models.

A translation the rollout rejects (truncated, repetition, ...) is scored as an empty hypothesis and counted, so a
model cannot look better by failing on the hard rows.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from training.arabic_tasks import markdown_rows, run_lighteval
from training.recipes import EvalRecipe, HeldOut, ServerBlock

log = logging.getLogger(__name__)

def score(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus BLEU and chrF++ (chrF with word bigrams), with sacrebleu's signatures for reproducibility."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu, chrf = BLEU(), CHRF(word_order=2)
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return {"bleu": round(b.score, 4), "chrf++": round(c.score, 4),
            "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature())}


@contextmanager
def shared_server(server: ServerBlock) -> Iterator[tuple[str, str | None]]:
    """One OpenAI-compatible server for every model of a comparison: (base_url, api_key).

    `type: transformers` starts `transformers serve` WITHOUT a pinned model, so each request's `model` field (a
    local path or Hub id) picks the model: one start-up instead of one per model; same server program and request
    path as the pipelines. On CPU the server gets one OpenMP thread (its generate thread and a second OpenMP pool
    otherwise fight over the cores and a tiny model runs many times slower).
    """
    import os

    if server.type == "endpoint":
        if not server.endpoint:
            from pipelines.errors import UserError

            raise UserError("server.type endpoint needs server.endpoint (a base URL)")
        yield server.endpoint, os.environ.get("OPENAI_API_KEY")
        return
    import httpx

    from pipelines.serving import free_port

    port = free_port()
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if server.device == "cpu":
        env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--device", server.device, "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("transformers serve not ready after 300 s")
            time.sleep(0.3)
        yield url, None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def translate_and_score(model: str, pairs: list[tuple[str, str]], server: ServerBlock, base_url: str,
                        api_key: str | None = None) -> dict:
    """Translate the sources with `model` through `translate_texts` (same prompt/segmenting/checks as pipelines)."""
    from pipelines.translate_api import translate_texts

    t0 = time.monotonic()
    results = translate_texts([s for s, _ in pairs], model=model, server="endpoint", endpoint=base_url,
                              prompt=server.prompt, max_concurrency=server.max_concurrency, api_key=api_key)
    hyps = [r.text or "" for r in results]
    reasons: dict[str, int] = {}
    for r in results:
        if r.text is None:
            reasons[r.reason or "unknown"] = reasons.get(r.reason or "unknown", 0) + 1
    out = score(hyps, [t for _, t in pairs])
    out.update({"model": model, "rows": len(pairs), "rejected": sum(reasons.values()), "reject_reasons": reasons,
                "seconds": round(time.monotonic() - t0, 2), "examples": [
                    {"src": s, "ref": t, "hyp": h} for (s, t), h in list(zip(pairs, hyps))[:3]]})
    return out


def compare_models(models: dict[str, str], pairs: list[tuple[str, str]], server: ServerBlock) -> dict[str, dict]:
    """label → scores, every model through one shared server, same held-out pairs."""
    with shared_server(server) as (url, key):
        return {label: translate_and_score(m, pairs, server, url, key) for label, m in models.items()}


def heldout_pairs(h: HeldOut) -> list[tuple[str, str]]:
    from training.data import load_pairs

    return load_pairs(h.path, split="test", src_lang=h.src_lang, max_samples=h.max_samples)


def markdown_table(results: dict) -> str:
    """One row per model: BLEU, chrF++, rejected rows, and lighteval averages when present."""
    lines = ["| model | path | BLEU | chrF++ | rejected | rows |", "|---|---|---:|---:|---:|---:|"]
    for label, r in results["translation"].items():
        lines.append(f"| {label} | `{r['model']}` | {r['bleu']:.2f} | {r['chrf++']:.2f} | {r['rejected']} | {r['rows']} |")
    lines += [""] + markdown_rows(results.get("lighteval", {}))
    return "\n".join(lines) + "\n"


def run_eval(recipe: EvalRecipe) -> dict:
    """Score every model of the recipe on the same held-out pairs; write eval_results.json and eval_results.md."""
    from training.recipes import absolute_model_path

    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    pairs = heldout_pairs(recipe.heldout)
    models = {label: absolute_model_path(m) for label, m in recipe.models.items()}
    results: dict = {"heldout": recipe.heldout.path, "rows": len(pairs), "translation": {}}
    results["translation"] = compare_models(models, pairs, recipe.server)
    results["lighteval"] = run_lighteval(models, recipe.lighteval_tasks, out, recipe.lighteval_custom_tasks,
                                         recipe.lighteval_fewshot)
    (out / "eval_results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "eval_results.md").write_text(markdown_table(results), encoding="utf-8")
    return results
