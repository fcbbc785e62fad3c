"""`hala publish`: registered by `quality.cli_quality.register` through `register_publish(app)`."""

from __future__ import annotations

from typing import Optional

import typer


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
    from quality.gate import GateRefused
    from quality.publish import http_failure, publish

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


def register_publish(app: typer.Typer) -> None:
    app.command("publish")(publish_cmd)
