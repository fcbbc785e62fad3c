"""FP8 compression of a translator (llm-compressor `FP8_DYNAMIC`, `lm_head` kept) and its validation.

FP8_DYNAMIC needs no calibration data: weights get per-channel FP8 scales at conversion, activations per-token
scales at run time. The model is saved in compressed-tensors format (what vLLM loads). Validation translates a
held-out set with the original and the FP8 model through the pipelines' server (`translate_texts`: on CPU,
`transformers serve`, which loads compressed-tensors) and compares BLEU/chrF++; throughput is batched `generate`
with a fixed number of new tokens, both models on the same machine, one after the other.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from hala.training.recipes import CompressRecipe, Throughput

log = logging.getLogger(__name__)


def quantize(model_path: str, output_dir: str, *, scheme: str = "FP8_DYNAMIC", targets=("Linear",),
             ignore=("lm_head",), trust_remote_code: bool = False) -> Path:
    """llm-compressor oneshot; writes compressed-tensors safetensors + tokenizer to `output_dir`. llm-compressor's
    own log (it replaces the screen's log sink when imported) goes to OUTPUT/logs/llmcompressor.log; only its
    warnings reach the screen (LLM_COMPRESSOR_LOG_* in the environment still win)."""
    import os

    logs = Path(output_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("LLM_COMPRESSOR_LOG_LEVEL", "WARNING")
    os.environ.setdefault("LLM_COMPRESSOR_LOG_FILE", str(logs / "llmcompressor.log"))
    os.environ.setdefault("LLM_COMPRESSOR_LOG_FILE_LEVEL", "INFO")
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype="auto", trust_remote_code=trust_remote_code)
    tok = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
    recipe = QuantizationModifier(targets=list(targets), scheme=scheme, ignore=list(ignore))
    oneshot(model=model, recipe=recipe)
    out = Path(output_dir)
    model.save_pretrained(out, save_compressed=True)
    tok.save_pretrained(out)
    return out


def float8_tensors(model_dir: str | Path) -> dict[str, int]:
    """Count of saved tensors per dtype (from the safetensors headers; nothing is loaded)."""
    from safetensors import safe_open

    counts: dict[str, int] = {}
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(f), "pt") as st:
            for k in st.keys():
                dt = st.get_slice(k).get_dtype()
                counts[dt] = counts.get(dt, 0) + 1
    return counts


def _prompts(tok, n: int) -> list[str]:
    from hala.pipelines.serving.tiny_model import load_warmup_pairs, translation_messages

    texts = [p["en"] for p in load_warmup_pairs()]
    return [tok.apply_chat_template(translation_messages(texts[i % len(texts)]), tokenize=False,
                                    add_generation_prompt=True) for i in range(n)]


def tokens_per_second(model_path: str, cfg: Throughput) -> dict:
    """Batched greedy generation of exactly `new_tokens` per row (EOS ignored): generated tokens / wall seconds.

    Also reports how the Linear weights sit in memory after loading: compressed-tensors keeps them float8 and
    dequantizes in each forward, so on CPU the FP8 model is usually slower; the FP8 speed-up needs a GPU with FP8
    kernels (vLLM). The figure is what this machine does, measured for both models the same way.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype="auto", device_map=cfg.device)
    model.eval()
    weight_dtypes = sorted({str(m.weight.dtype) for m in model.modules()
                            if isinstance(m, torch.nn.Linear) and m.weight is not None})
    batch = tok(_prompts(tok, cfg.batch_size), return_tensors="pt", padding=True, add_special_tokens=False)
    batch = {k: v.to(model.device) for k, v in batch.items()}
    gen = dict(max_new_tokens=cfg.new_tokens, min_new_tokens=cfg.new_tokens, do_sample=False,
               pad_token_id=tok.pad_token_id)
    with torch.inference_mode():
        model.generate(**batch, max_new_tokens=2, do_sample=False, pad_token_id=tok.pad_token_id)  # warm-up
        if cfg.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(cfg.repeats):
            out = model.generate(**batch, **gen)
        if cfg.device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    new = (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0] * cfg.repeats
    return {"tokens_per_s": round(new / dt, 2), "generated_tokens": new, "seconds": round(dt, 3),
            "batch_size": cfg.batch_size, "new_tokens": cfg.new_tokens, "device": cfg.device,
            "linear_weight_dtypes_in_memory": weight_dtypes}


def drop_failures(val: dict, max_bleu_drop: float, max_chrf_drop: float) -> list[str]:
    """One message per metric whose drop (original − FP8) exceeds its threshold."""
    out = []
    if val["bleu_drop"] > max_bleu_drop:
        out.append(f"BLEU drop {val['bleu_drop']:.2f} > {max_bleu_drop}")
    if val["chrf_drop"] > max_chrf_drop:
        out.append(f"chrF++ drop {val['chrf_drop']:.2f} > {max_chrf_drop}")
    return out


def run_compress(recipe: CompressRecipe) -> dict:
    """`_run_compress` into an output_dir bound to this run (hala.training.recipes.bound_output)."""
    from hala.training.recipes import absolute_model_path, bound_output

    heldout = recipe.validation.heldout
    with bound_output(recipe, "compress", {"model": absolute_model_path(recipe.model)},
                      {"validation.heldout.path": heldout.path} if heldout else {}):
        return _run_compress(recipe)

def _run_compress(recipe: CompressRecipe) -> dict:
    """Quantize, check the files, validate quality and speed; writes OUT/compress_report.json.

    `report["passed"]` is False when BLEU or chrF++ drops more than the recipe allows (the CLI exits 1).
    """
    from hala.training.evaluate import compare_models, heldout_pairs
    from hala.training.recipes import absolute_model_path

    src = absolute_model_path(recipe.model)
    v = recipe.validation
    pairs = heldout_pairs(v.heldout) if v.heldout is not None else None  # a bad held-out path fails before any work
    t0 = time.monotonic()
    out = quantize(src, recipe.output_dir, scheme=recipe.scheme, targets=recipe.targets, ignore=recipe.ignore,
                   trust_remote_code=recipe.trust_remote_code)
    report: dict = {"model": src, "output_dir": str(out.resolve()), "scheme": recipe.scheme,
                    "ignore": recipe.ignore, "quantize_seconds": round(time.monotonic() - t0, 2),
                    "saved_dtypes": float8_tensors(out), "passed": True, "failures": []}
    if pairs is not None:
        scores = compare_models({"original": src, "fp8": str(out.resolve())}, pairs, v.server)
        orig, fp8 = scores["original"], scores["fp8"]
        report["validation"] = {
            "inference_path": f"hala.pipelines.translate.api.translate_texts via a {v.server.type} server per "
                              f"model (device={v.server.device}; transformers serve and vLLM load compressed-tensors)",
            "rows": len(pairs), "original": orig, "fp8": fp8,
            "bleu_drop": round(orig["bleu"] - fp8["bleu"], 4), "chrf_drop": round(orig["chrf++"] - fp8["chrf++"], 4),
            "max_bleu_drop": v.max_bleu_drop, "max_chrf_drop": v.max_chrf_drop,
        }
        report["failures"] = drop_failures(report["validation"], v.max_bleu_drop, v.max_chrf_drop)
        report["passed"] = not report["failures"]
    if recipe.throughput is not None:
        a = tokens_per_second(src, recipe.throughput)
        b = tokens_per_second(str(out), recipe.throughput)
        report["throughput"] = {"original": a, "fp8": b, "fp8_over_original": round(b["tokens_per_s"] /
                                                                                   a["tokens_per_s"], 3)}
    (out / "compress_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return report
