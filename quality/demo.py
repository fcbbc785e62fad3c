"""`hala demo`: the whole flow on the bundled samples, offline, in a few minutes on two cores.

1. Corpus flow on `samples/demo/` (≈200 English rows in four formats, broken rows included): translate → LID →
   quality filters → dedup, every row accounted for.
2. Audit of `samples/audit/` (careful MSA translations of the demo rows plus labelled defects): filters and dedup
   reject the defects with their reasons, the report shows them, and the quality gate passes on what remains.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from hala.pipelines.core.assets import asset_dir
from hala.pipelines.core.errors import UserError
from hala.pipelines.translate.flow import TINY_MODEL, TINY_WARNED

SAMPLES = asset_dir("samples")
DEMO_INPUT = SAMPLES / "demo"
AUDIT_INPUT = SAMPLES / "audit" / "instructions.jsonl"

TINY_NOTICE = (
    "--model tiny (the demo's default): a tiny LFM2 built on this machine (tokenizer trained on the spot, seconds of warm-up).\n"
    "Its Arabic is meaningless — this run proves the plumbing, not translation quality. For real output pass\n"
    "--model PATH_OR_ID (e.g. a local LiquidAI/LFM2-1.2B or the Hala translator) or --server endpoint --endpoint URL."
)


def run_demo(out: Path, model: str | None = None, server: str = "transformers", endpoint: str | None = None,
             overwrite: bool = False) -> int:
    from hala.pipelines.core.stats import stage_lines
    from hala.pipelines.flows.corpus import CorpusRecipe, run_corpus

    t0 = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    if model is None:
        if server == "endpoint":
            raise UserError("hala demo --server endpoint needs --model (the model the endpoint serves)")
        typer.secho(TINY_NOTICE, fg=typer.colors.YELLOW)
        model = TINY_MODEL
        TINY_WARNED.append(True)  # the notice above says it: not twice
    typer.echo(f"[1/2] corpus flow on samples/demo → {out / 'corpus'}")
    recipe = CorpusRecipe(input=str(DEMO_INPUT), output=str(out / "corpus"), dataset_name="hala-demo",
                          tm_path=str(out / "tm.sqlite"), overwrite=overwrite,
                          server={"type": server, "model": model, "endpoint": endpoint, "max_concurrency": 16})
    corpus = run_corpus(recipe)

    typer.echo(f"[2/2] audit of samples/audit/instructions.jsonl → {out / 'audit'}")
    audit = run_audit(AUDIT_INPUT, out / "audit")

    typer.echo("")
    typer.secho("hala demo — summary", bold=True)
    typer.echo("  corpus flow (bundled English sample → Arabic):")
    for line in stage_lines(corpus, "    "):
        typer.echo(line)
    typer.echo(f"    output: {out / 'corpus' / 'data'}   rejects: {out / 'corpus' / 'rejects'}")
    typer.echo("  audit (bundled Arabic sample with labelled defects):")
    for line in stage_lines(audit["stats"], "    "):
        typer.echo(line)
    typer.echo(f"    defects caught with the expected reason: {audit['caught']}/{audit['labelled']}")
    typer.echo(f"    report: {audit['report']}")
    verdict = "PASSED" if audit["gate_ok"] else "FAILED"
    typer.secho(f"    quality gate ({audit['suite']}): {verdict}", fg=typer.colors.GREEN if audit["gate_ok"] else typer.colors.RED)
    typer.echo(f"  took {time.monotonic() - t0:.0f} s")
    return 0 if audit["gate_ok"] else 1


def run_audit(audit_input: Path, out: Path) -> dict:
    """Filter + dedup the audit sample, check the labelled defects, write the report and run the gate."""
    from hala.pipelines.dedup.flow import DedupConfig
    from hala.pipelines.flows.folder import FilterRecipe, run_filter_flow
    from hala.quality.gate import run_gate
    from hala.quality.report import build_report

    recipe = FilterRecipe(input=str(audit_input), output=str(out), kind="instructions", dedup=DedupConfig())
    stats = run_filter_flow(recipe)  # writes OUT/recipe.yaml: `hala run OUT/recipe.yaml` repeats the audit
    labels = [json.loads(line) for line in open(audit_input.parent / "labels.jsonl", encoding="utf-8") if line.strip()]
    rejected = {}
    for f in (out / "rejects").glob("*/*.jsonl"):
        for line in open(f, encoding="utf-8"):
            r = json.loads(line)
            rejected[r["id"]] = (r["stage"], r["reason"])
    caught = sum(1 for lab in labels if rejected.get(lab["id"]) == (lab["expected_stage"], lab["expected_reason"]))
    report_dir = out / "report"
    build_report(str(out), str(report_dir))
    gate = run_gate(str(out), "arabic_instructions")
    return {"stats": stats, "labelled": len(labels), "caught": caught, "report": report_dir / "report.html",
            "gate_ok": bool(gate["success"]), "suite": "arabic_instructions"}
