"""The quality area's commands (report, gate, publish, demo), registered through the `hala.commands` entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hala.pipelines.cli import options as o
from hala.pipelines.core.errors import UserError


def report_cmd(
    dataset: str = typer.Argument(..., metavar="INPUT", help="dataset folder written by hala (data/, rejects/, "
                                  "stats.json), a folder of .parquet/.jsonl records, or one such file"),
    out: str = typer.Argument(..., metavar="OUTPUT", help="folder for report.html, report.md, report.json"),
    no_lid: o.NoLid = False,
    lid_model: o.LidModel = None,
) -> None:
    """Quality report: rows per source and stage, reject funnel, length-ratio/LID histograms, samples, fingerprint."""
    from hala.quality.report import build_report

    report = build_report(dataset, out, lid=not no_lid, lid_model=lid_model)
    typer.echo(f"{report['kind']}: {report['rows_kept']} rows kept, {report['rows_rejected']} rejected "
               f"(read {report['rows_read']})")
    for name in ("report.html", "report.md", "report.json"):
        typer.echo(f"  {out}/{name}")


def gate_cmd(
    dataset: str = typer.Argument(..., metavar="INPUT", help="dataset folder (or records folder/file) to validate"),
    suite: Optional[str] = o.value("--suite", "bundled suite name (arabic_instructions, bilingual_pairs) or a suite "
                                   ".json file; default: the one for the kind", "SUITE"),
    lid_model: o.LidModel = None,
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
    if result.metrics_reused:
        typer.echo("  metrics of these exact bytes reused from hala's cache (computed by `hala report`)")
    typer.echo(f"  fingerprint {result.fingerprint}")
    typer.echo(f"  written {result.path}")
    raise typer.Exit(0 if result.success else 1)


def publish_cmd(
    dataset: str = typer.Argument(..., metavar="INPUT", help="dataset folder written by hala and passed by `hala gate`"),
    repo: str = typer.Option(..., "--repo", metavar="ORG/NAME", help="Hub dataset repo"),
    version: str = typer.Option(..., "--version", metavar="X.Y.Z", help="release version (tagged vX.Y.Z; never "
                                "overwritten)"),
    dry_run: Optional[str] = o.value("--dry-run", "build the release into this empty folder and push nothing",
                                     "FOLDER"),
    public: bool = o.flag("--public", "create the repo public (default: private)"),
    max_shard_rows: Optional[int] = o.value("--max-shard-rows", "rows per parquet shard (default 500,000; shards "
                                            "also stay under 256 MB in memory)", "N"),
    recipe: Optional[str] = o.value("--recipe", "the run's recipe YAML for the card (default: DATASET/recipe.yaml "
                                    "if present)", "FILE"),
    report: Optional[str] = o.value("--report", "report.json (or its folder) from `hala report` (default: "
                                    "DATASET/report.json if present; else counted from the data)", "FILE"),
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
    output: str = typer.Argument("hala-demo-out", metavar="OUTPUT", help="where the demo writes everything"),
    model: Optional[str] = o.value("--model", "a real translator (path or Hub id) instead of the tiny demo model",
                                   "MODEL"),
    server: o.Server = "transformers",
    endpoint: o.Endpoint = None,
    overwrite: o.Overwrite = False,
) -> None:
    """The whole flow on the bundled sample, offline: translate → filter → dedup, then audit, report and gate."""
    from hala.quality.demo import run_demo

    code = run_demo(Path(output), model=model, server=server, endpoint=endpoint, overwrite=overwrite)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add this area's commands (report, gate, publish, demo) to the `hala` app."""
    o.command(app, "report")(report_cmd)
    o.command(app, "gate")(gate_cmd)
    o.command(app, "publish")(publish_cmd)
    o.command(app, "demo")(demo)
