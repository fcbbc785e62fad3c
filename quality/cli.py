"""The quality area's commands (report, gate, publish, demo), registered through the `hala.commands` entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hala.pipelines.core.errors import UserError


def report_cmd(
    dataset: str = typer.Argument(..., help="dataset folder written by hala (data/, rejects/, stats.json), a folder "
                                            "of .parquet/.jsonl records, or one such file"),
    out: str = typer.Option(..., "--out", help="folder for report.html, report.md, report.json"),
    no_lid: bool = typer.Option(False, "--no-lid", help="skip fastText language-ID (faster on huge datasets)"),
    lid_model: Optional[str] = typer.Option(None, "--lid-model", help="fastText LID model (default: lid.176)"),
) -> None:
    """Quality report: rows per source and stage, reject funnel, length-ratio/LID histograms, samples, fingerprint."""
    from hala.quality.report import build_report

    report = build_report(dataset, out, lid=not no_lid, lid_model=lid_model)
    typer.echo(f"{report['kind']}: {report['rows_kept']} rows kept, {report['rows_rejected']} rejected "
               f"(read {report['rows_read']})")
    for name in ("report.html", "report.md", "report.json"):
        typer.echo(f"  {out}/{name}")


def gate_cmd(
    dataset: str = typer.Argument(..., help="dataset folder (or records folder/file) to validate"),
    suite: Optional[str] = typer.Option(None, "--suite", help="bundled suite name (arabic_instructions, "
                                        "bilingual_pairs) or a suite .json file; default: the one for the kind"),
    lid_model: Optional[str] = typer.Option(None, "--lid-model", help="fastText LID model (default: lid.176)"),
) -> None:
    """Validate with a great-expectations suite; exit 0 on pass, 1 on fail, 2 when it cannot judge (bad input);
    writes DATASET/validation.json."""
    from hala.quality.gate import format_failures, run_gate

    try:
        result = run_gate(dataset, suite, lid_model=lid_model)
    except UserError:
        raise
    except Exception as e:  # exit 1 means "the suite failed", never "the gate crashed": one line, exit 2
        from hala.pipelines.cli.app import is_verbose

        if is_verbose():  # `hala -v gate ...`: the traceback, as for every command
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UserError(f"gate could not validate {dataset}: {type(e).__name__}: {first}") from None
    stats = result.statistics
    verdict = "PASSED" if result.success else "FAILED"
    typer.secho(f"gate {result.suite} on {result.dataset_kind} ({stats.get('rows')} rows): {verdict} — "
                f"{stats.get('successful_expectations')}/{stats.get('evaluated_expectations')} expectations met",
                fg=typer.colors.GREEN if result.success else typer.colors.RED)
    for line in format_failures(result):
        typer.echo("  " + line)
    typer.echo(f"  fingerprint {result.fingerprint}")
    typer.echo(f"  written {result.path}")
    raise typer.Exit(0 if result.success else 1)


def publish_cmd(
    dataset: str = typer.Argument(..., help="dataset folder written by hala and passed by `hala gate`"),
    repo: str = typer.Option(..., "--repo", help="Hub dataset repo, ORG/NAME"),
    version: str = typer.Option(..., "--version", help="release version X.Y.Z (tagged vX.Y.Z; never overwritten)"),
    dry_run: Optional[str] = typer.Option(None, "--dry-run", help="build the release into this empty folder and "
                                          "push nothing"),
    public: bool = typer.Option(False, "--public", help="create the repo public (default: private)"),
    max_shard_rows: Optional[int] = typer.Option(None, "--max-shard-rows", help="rows per parquet shard (default "
                                                 "500,000; shards also stay under 256 MB in memory)"),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="the run's recipe YAML for the card (default: "
                                         "DATASET/recipe.yaml if present)"),
    report: Optional[str] = typer.Option(None, "--report", help="report.json (or its folder) from `hala report` "
                                         "(default: DATASET/report.json if present; else counted from the data)"),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", hidden=True, help="Hub endpoint (default: "
                                           "HF_ENDPOINT or huggingface.co)"),
) -> None:
    """Publish a gated dataset to the Hub: parquet shards per source config, card, manifest; one commit; tag vX.Y.Z."""
    from hala.quality.gate import GateRefused
    from hala.quality.publish import http_failure, publish

    try:
        bundle, result = publish(dataset, repo, version, dry_run=dry_run, public=public,
                                 max_shard_rows=max_shard_rows, endpoint=endpoint, recipe=recipe, report=report)
    except GateRefused as e:  # no passing, current gate verdict; or an existing tag (PublishRefused)
        typer.secho(f"refused: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    except (OSError, RuntimeError) as e:  # HfHubHTTPError is an OSError; parallel uploads wrap it in RuntimeError
        failure = http_failure(e)
        if failure is None:
            raise
        status = failure.response.status_code if failure.response is not None else "?"
        typer.secho(f"push failed: the Hub answered {status} ({str(failure).splitlines()[0]}); nothing was tagged. "
                    "Run the same command again: files already on the Hub are not uploaded twice.",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    m = bundle.manifest
    typer.echo(f"{m['kind']}: {m['rows']:,} rows, {len(m['configs'])} configs "
               f"({', '.join(m['configs'])}), licence {m['licence']}")
    typer.echo(f"  fingerprint {m['fingerprint']}")
    if result is None:
        typer.echo(f"  dry run: {len(m['files'])} files + manifest.json written to {bundle.path}")
        return
    typer.secho(f"  pushed {result.repo_id} {result.tag} at {result.commit}: {len(result.uploaded)} files uploaded, "
                f"{len(result.skipped)} already there", fg=typer.colors.GREEN)
    typer.echo(f"  {result.url}")


def demo(
    output: str = typer.Option("hala-demo-out", "--out", help="where the demo writes everything"),
    model: Optional[str] = typer.Option(None, "--model", help="a real translator (path or Hub id) instead of the tiny one"),
    server: str = typer.Option("transformers", "--server", help="transformers | batched | endpoint | vllm | sglang"),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="OpenAI-compatible base URL"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start the corpus folder clean when it holds another "
                                   "run (another model)"),
) -> None:
    """The whole flow on the bundled sample, offline: translate → filter → dedup, then audit, report and gate."""
    from hala.quality.demo import run_demo

    code = run_demo(Path(output), model=model, server=server, endpoint=endpoint, overwrite=overwrite)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add this area's commands (report, gate, publish, demo) to the `hala` app."""
    app.command("report")(report_cmd)
    app.command("gate")(gate_cmd)
    app.command("publish")(publish_cmd)
    app.command("demo")(demo)
