"""CLI commands of this area; `register(app)` is called once by `pipelines.cli`.

`hala report` and `hala gate` are registered by `register_report_gate`; other commands of this area (publish) add
their own `register_*` function and call it from `register`.
"""

from __future__ import annotations

from typing import Optional

import typer

from pipelines.errors import UserError


def report_cmd(
    dataset: str = typer.Argument(..., help="dataset folder written by hala (data/, rejects/, stats.json), a folder "
                                            "of .parquet/.jsonl records, or one such file"),
    out: str = typer.Option(..., "--out", help="folder for report.html, report.md, report.json"),
    no_lid: bool = typer.Option(False, "--no-lid", help="skip fastText language-ID (faster on huge datasets)"),
    lid_model: Optional[str] = typer.Option(None, "--lid-model", help="fastText LID model (default: lid.176)"),
) -> None:
    """Quality report: rows per source and stage, reject funnel, length-ratio/LID histograms, samples, fingerprint."""
    from quality.report import build_report

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
    from quality.gate import format_failures, run_gate

    try:
        result = run_gate(dataset, suite, lid_model=lid_model)
    except UserError:
        raise
    except Exception as e:  # exit 1 means "the suite failed", never "the gate crashed": one line, exit 2
        from pipelines import cli as hala_cli

        if getattr(hala_cli, "_verbose", False):  # `hala -v gate ...`: the traceback, as for every command
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


def register_report_gate(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
    app.command("gate")(gate_cmd)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hala` app."""
    from quality.cli_publish import register_publish

    register_report_gate(app)
    register_publish(app)
