"""Translation evaluation (sacrebleu BLEU and chrF++) through the pipelines' inference path, plus lighteval's Arabic
tasks where lighteval is installed; results as JSON and a markdown table comparing the models.

A translation the rollout rejects (truncated, repetition, ...) is scored as an empty hypothesis and counted, so a
model cannot look better by failing on the hard rows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hala.pipelines.core.errors import RunFailed, UserError
from hala.training.arabic_tasks import check_lighteval, markdown_rows, run_lighteval
from hala.training.recipes import EvalRecipe, HeldOut, ServerBlock

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
def model_server(server: ServerBlock, model: str) -> Iterator[tuple[str, str | None]]:
    """An OpenAI-compatible server answering for `model`: (base_url, api_key).

    One server per model, started before and stopped after its turn, so base, SFT and merged never share a device:
    `transformers`/`batched` through `hala.pipelines.serving.servers.local_server` (what the pipelines' CPU servers run), `vllm`/
    `sglang` through datatrove's own server classes (what the pipelines' GPU path runs), `endpoint` as given.
    """
    if server.type == "endpoint":
        if not server.endpoint:
            raise UserError("server.type endpoint needs server.endpoint (a base URL)")
        yield server.endpoint, os.environ.get(server.api_key_env)
    elif server.type in ("transformers", "batched"):
        from hala.pipelines.serving.servers import local_server

        with local_server(model, device=server.device, engine=server.type, max_batch=server.max_batch,
                          cpu_threads=server.cpu_threads, continuous_batching=server.continuous_batching,
                          timeout_s=server.startup_timeout_s) as url:
            yield url, None
    else:
        with datatrove_server(server, model) as url:
            yield url, None


@contextmanager
def datatrove_server(server: ServerBlock, model: str) -> Iterator[str]:
    """vLLM or SGLang started exactly as the pipelines start them: datatrove's server class builds the command
    (`vllm serve MODEL --port … --max-model-len …` plus tp/dp and `model_kwargs` flags), reads its stdout/stderr,
    health-checks and tears it down. It runs on a private event loop thread; a one-token request waits until the
    server answers (public API), so the block below gets a working base URL or a one-line error (UserError: the
    package is missing; RunFailed: it started and died)."""
    from datatrove.pipeline.inference.servers import SGLangServer

    from hala.pipelines.serving.servers import HalaVLLMServer, inference_config

    cls = {"vllm": HalaVLLMServer, "sglang": SGLangServer}[server.type]
    config = inference_config(server, model)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"{server.type}-server", daemon=True)
    thread.start()

    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    async def start():
        srv = cls(config, 0)  # built on the loop: its futures belong to it
        await srv.__aenter__()
        try:
            await srv.make_request({"model": model, "max_tokens": 1,
                                    "messages": [{"role": "user", "content": "Hello"}]})
        except BaseException:
            await srv.__aexit__(None, None, None)
            raise
        return srv

    try:
        try:
            srv = run(start())
        except ImportError as e:  # datatrove checks the package before starting anything
            raise UserError(f"server.type {server.type} needs the {server.type} package on this machine "
                            f"({str(e).splitlines()[0]}); on CPU use server.type transformers") from None
        except Exception as e:  # like local_server: a server that started and died is one line, exit 1
            raise RunFailed(f"{server.type} server for {model} did not start ({type(e).__name__}: "
                            f"{(str(e).strip().splitlines() or [''])[0]}); its log lines are above") from None
        try:
            yield srv.get_base_url()
        finally:
            run(srv.__aexit__(None, None, None))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def translate_and_score(model: str, pairs: list[tuple[str, str]], server: ServerBlock, base_url: str,
                        api_key: str | None = None) -> dict:
    """Translate the sources with `model` through `translate_texts` (same prompt/segmenting/checks as pipelines)."""
    from hala.pipelines.translate.api import translate_texts

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
    """label → scores on the same held-out pairs, each model on its own server of the same kind, one at a time."""
    scores = {}
    for label, m in models.items():
        with model_server(server, m) as (url, key):
            scores[label] = translate_and_score(m, pairs, server, url, key)
    return scores


def heldout_pairs(h: HeldOut) -> list[tuple[str, str]]:
    from hala.training.data import load_pairs

    return load_pairs(h.path, split="test", src_lang=h.src_lang, max_samples=h.max_samples)


def markdown_table(results: dict) -> str:
    """One row per model: BLEU, chrF++, rejected rows, and lighteval averages when present."""
    lines = ["| model | path | BLEU | chrF++ | rejected | rows |", "|---|---|---:|---:|---:|---:|"]
    for label, r in results["translation"].items():
        lines.append(f"| {label} | `{r['model']}` | {r['bleu']:.2f} | {r['chrf++']:.2f} | {r['rejected']} | {r['rows']} |")
    lines += [""] + markdown_rows(results.get("lighteval", {}))
    return "\n".join(lines) + "\n"


def run_eval(recipe: EvalRecipe) -> dict:
    """`_run_eval` into an output_dir bound to this run (hala.training.recipes.bound_output)."""
    from hala.training.recipes import absolute_model_path, bound_output

    models = {f"models.{label}": absolute_model_path(m) for label, m in recipe.models.items()}
    with bound_output(recipe, "eval", models, {"heldout.path": recipe.heldout.path}):
        return _run_eval(recipe)

def _run_eval(recipe: EvalRecipe) -> dict:
    """Score every model of the recipe on the same held-out pairs; write eval_results.json and eval_results.md."""
    from hala.training.recipes import absolute_model_path

    check_lighteval(recipe.lighteval_tasks, recipe.lighteval_custom_tasks)
    pairs = heldout_pairs(recipe.heldout)
    models = {label: absolute_model_path(m) for label, m in recipe.models.items()}
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"heldout": recipe.heldout.path, "rows": len(pairs), "translation": {}}
    results["translation"] = compare_models(models, pairs, recipe.server)
    results["lighteval"] = run_lighteval(models, recipe.lighteval_tasks, out, recipe.lighteval_custom_tasks,
                                         recipe.lighteval_fewshot)
    (out / "eval_results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "eval_results.md").write_text(markdown_table(results), encoding="utf-8")
    return results
