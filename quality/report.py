"""`hala report`: the quality report a reviewer reads before a dataset is published.

DuckDB computes the per-record metrics and every aggregate (`sql/*.sql`) over the written parquet and the rejects;
matplotlib draws the plots; the result is written three ways: report.html (self-contained, plots inline as base64
PNG), report.md (tables, plots as PNG files next to it) and report.json (every number, for cards and CI).
"""

from __future__ import annotations

import html
import json
import math
from datetime import datetime, timezone
from pathlib import Path

from hala.quality.sql import query
from hala.quality.texts import message_sides, record_sides, turns_html

REJECT_SAMPLES_PER_REASON = 3
KEPT_SAMPLES_PER_SOURCE = 2
REJECTED_ROWS_SHOWN = 60
FLAGGED_ROWS_SHOWN = 30
TOP_SEGMENTS = 20
SEGMENT_MIN_CHARS = 20
# what only one kind measures, shown next to the shared measures of the rejected rows
KIND_FLAG = {"instructions": ("NOT m.roles_ok", "roles_wrong", "m.roles_ok"),
             "pairs": ("m.identical_to_source", "identical_to_source", "m.identical_to_source")}


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [{k: _clean(v) for k, v in zip(names, row)} for row in cur.fetchall()]


def _clean(value):
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _clean(value.item())
    return value


def _stages(ds, rejects_by_reason: list[dict]) -> tuple[dict, bool]:
    """Per-stage {read, kept, rejected, reasons}: from stats.json when hala wrote it, else from the rejects alone."""
    if ds.stats and isinstance(ds.stats.get("stages"), dict):
        return ds.stats["stages"], True
    stages: dict[str, dict] = {}
    for r in rejects_by_reason:
        s = stages.setdefault(r["stage"], {"read": None, "kept": None, "rejected": 0, "reasons": {}})
        s["rejected"] += r["rows"]
        s["reasons"][r["reason"]] = r["rows"]
    return stages, False


def _sql_number(value) -> str:
    return "NULL" if value is None else repr(float(value))


def _lid_summary(con, lid_score_min: float | None) -> dict:
    row = _rows(con, query("lid_summary", metrics="metrics", lid_score_min=_sql_number(lid_score_min)))[0]
    row["labels"] = {r["lid_label"]: r["rows"] for r in _rows(con, query("lid_labels", metrics="metrics"))}
    return row


def _stage_order(stages: dict, rejects_by_reason: list[dict]) -> list[str]:
    """Stages in run order (stats.json keeps it); a stage seen only in the rejects goes last."""
    order = list(stages)
    return order + sorted({r["stage"] for r in rejects_by_reason} - set(order))


def _stats_source_stage(stats: dict | None) -> list[dict] | None:
    """The per-source, per-stage counts hala's stages counted themselves (stats.json `by_source`; reasons there):
    exact even for rows that never became a record (a `normalize` reject has no `source` in its record)."""
    by_source = (stats or {}).get("by_source")
    if not isinstance(by_source, dict) or not by_source:
        return None
    rows = [{"source_dataset": src, "stage": stage, "read": c["read"], "kept": c["kept"], "rejected": c["rejected"]}
            for stage, per in by_source.items() for src, c in per.items()]
    order = {stage: i for i, stage in enumerate(by_source)}
    return sorted(rows, key=lambda r: (r["source_dataset"], order[r["stage"]]))


def _source_stage_matches(rows: list[dict], stages: dict) -> bool | None:
    """Whether the per-source table adds up to stats.json's per-stage counts (None without stats). It does not when
    a stage changes the unit counted (teacher pairs: instruction rows in, one pair per message out)."""
    if not rows or not stages or any(s.get("read") is None for s in stages.values()):
        return None
    return all(sum(r["read"] for r in rows if r["stage"] == name) == s["read"] and
               sum(r["rejected"] for r in rows if r["stage"] == name) == s["rejected"] for name, s in stages.items())


def _values(con, columns: tuple[str, ...]) -> dict[str, list[float]]:
    """The non-null values of a few metrics columns (for the histograms), through a Polars frame."""
    frame = con.table("metrics").select(", ".join(columns)).pl()
    return {c: frame[c].drop_nulls().to_list() for c in columns}


def build_report(dataset_dir: str | Path, out_dir: str | Path, lid: bool = True, lid_model: str | None = None,
                 show_progress: bool = True) -> dict:
    """Write report.html, report.md and report.json for DATASET into OUT; returns the report.json content.

    A translator set is reported on its pairs (all splits), with its own stats and rejects: what the gate validates.
    OUT is locked while the report is written (a second writer is refused); every file is rewritten from this
    dataset, so nothing of an earlier report survives into this one."""
    from hala.pipelines.core.run_folder import locked_folder

    with locked_folder(out_dir):
        return _build_report(dataset_dir, out_dir, lid, lid_model, show_progress)


def _readable(read, root, what: str):
    """`read()`, with data that cannot be read (a corrupt parquet, a malformed rejects line) as one UserError."""
    import duckdb
    import pyarrow as pa

    from hala.pipelines.core.errors import UserError

    try:
        return read()
    except (pa.ArrowException, duckdb.Error, OSError, UnicodeError) as e:
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise UserError(f"{root}: cannot read the {what} ({type(e).__name__}: {first})") from None


def _build_report(dataset_dir: str | Path, out_dir: str | Path, lid: bool, lid_model: str | None,
                  show_progress: bool) -> dict:
    import duckdb
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from hala.quality import plots
    from hala.quality.fingerprint import dataset_fingerprint
    from hala.quality.gate import gated_records
    from hala.quality.metrics import build_metrics, load_records, load_rejects
    from hala.quality.metrics_cache import cached_metrics
    from hala.quality.sql import sql_list
    from hala.quality.suites import DEFAULT_SUITE, bands

    out = Path(out_dir)
    sections = ["read records", "read rejects", "metrics (SQL, LID, spans)", "aggregates", "plots", "write"]
    progress = Progress(TextColumn("[bold]report[/] {task.description}"), BarColumn(), TextColumn("{task.completed}/"
                        "{task.total}"), TimeElapsedColumn(), console=Console(stderr=True), disable=not show_progress,
                        transient=False)
    report: dict = {}
    with progress:
        task = progress.add_task(sections[0], total=len(sections))

        def step(i: int) -> None:
            progress.update(task, completed=i, description=sections[i] if i < len(sections) else "done")

        ds, kind = gated_records(dataset_dir)
        try:  # before reading: the numbers are those of exactly these bytes (the card checks it)
            fingerprint = dataset_fingerprint(dataset_dir)
        except FileNotFoundError:
            fingerprint = None
        con = duckdb.connect()
        asked = kind or (ds.stats or {}).get("kind")  # the metrics cache's key, as the gate gives it
        kind = _readable(lambda: load_records(con, ds, kind), ds.root, "records")
        step(1)
        rows_rejected = _readable(lambda: load_rejects(con, ds), ds.root, "rejects")
        step(2)

        def lid_progress(done: int, total: int) -> None:
            progress.update(task, description=f"{sections[2]}: LID {done}/{total} texts")

        def compute() -> str:
            build_metrics(con, kind, lid=lid, lid_model=lid_model, progress=lid_progress)
            return kind

        found, _ = cached_metrics(con, dataset_dir, fingerprint, asked, lid, lid_model, compute)
        if found != kind:  # an entry of another kind under this key (stats.json rewritten): measured again
            compute()
        step(3)

        band = bands(DEFAULT_SUITE[kind])  # the gate's thresholds, flagged and drawn as they are
        length_band = band.get("length_ratio", (None, None))
        lid_min = band.get("lid_score", (None, None))[0]
        metrics = "metrics"
        rejects_by_reason = _rows(con, query("rejects_by_reason", rejects="rejects"))
        stages, from_stats = _stages(ds, rejects_by_reason)
        rows_kept = con.table("records").count("*").fetchall()[0][0]
        first = next(iter(stages.values()), None)
        # rows made by steps that are not filters (a translator set's reverse rows): read + added = kept + rejected
        rows_added = sum(((ds.stats or {}).get("rows_added") or {}).values()) if from_stats else 0
        rows_read = (first["read"] if from_stats and first and first.get("read") is not None
                     else rows_kept + rows_rejected - rows_added)
        segments = "(" + query(f"segments_{kind}", records="records") + ")"
        comparison = "english_comparison" if kind == "instructions" else "source_comparison_pairs"
        summary = _rows(con, query("metrics_summary", metrics=metrics))[0]
        summary["lid"] = _lid_summary(con, lid_min) if lid else None
        summary["masked_spans"] = _rows(con, query("masked_spans_summary", metrics=metrics))[0]
        order = _stage_order(stages, rejects_by_reason)
        by_source_stage = _stats_source_stage(ds.stats) if from_stats else None
        if by_source_stage is None:
            by_source_stage = _rows(con, query("rows_by_source_and_stage", metrics=metrics, rejects="rejects",
                                               stages=sql_list(order))) if order else []
        report = {
            "dataset": str(dataset_dir),
            "kind": kind,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "fingerprint": fingerprint,
            "rows_read": rows_read,
            "rows_kept": rows_kept,
            "rows_rejected": rows_rejected,
            "rows_added": (ds.stats or {}).get("rows_added") or {} if from_stats else {},
            "accounting_ok": rows_read + rows_added == rows_kept + rows_rejected,
            "stages_from": "stats.json" if from_stats else "rejects",
            "stages": stages,
            "by_source": _rows(con, query("rows_by_source", metrics=metrics)),
            "by_source_and_stage": by_source_stage,
            "by_source_and_stage_from": "stats.json" if from_stats and (ds.stats or {}).get("by_source") else "rejects",
            "by_source_and_stage_matches_stages": _source_stage_matches(by_source_stage, stages) if from_stats
            else None,
            "rejects_by_reason": rejects_by_reason,
            "metrics": summary,
            "source_comparison": _rows(con, query(comparison, metrics=metrics)),
            "histograms": {
                "turns": _rows(con, query("turns_histogram", metrics=metrics)),
                "length_ratio": _rows(con, query("length_ratio_histogram", metrics=metrics)),
            },
            "top_repeated_segments": _rows(con, query("top_repeated_segments", segments=segments,
                                                      min_chars=SEGMENT_MIN_CHARS, limit=TOP_SEGMENTS)),
            "reject_samples": _rows(con, query("reject_samples", rejects="rejects",
                                               per_reason=REJECT_SAMPLES_PER_REASON)),
            "kept_samples": _rows(con, query(f"kept_samples_{kind}", records="records",
                                             per_source=KEPT_SAMPLES_PER_SOURCE)),
            "flagged_kept_rows": _rows(con, query(
                "flagged_kept_rows", metrics=metrics, length_ratio_min=_sql_number(length_band[0]),
                length_ratio_max=_sql_number(length_band[1]),
                arabic_share_min=_sql_number(band.get("arabic_share", (None, None))[0]),
                lid_score_min=_sql_number(lid_min), limit=FLAGGED_ROWS_SHOWN)),
            "suite_bands": {c: list(b) for c, b in band.items()},
        }
        columns = ("length_ratio", "lid_score", "arabic_share", "n_turns")
        values = _values(con, columns)
        rejected_values: dict[str, list[float]] = {c: [] for c in columns}
        report["rejected_measured"], report["rejected_by_reason_measured"] = [], []
        if rows_rejected:
            from hala.quality.metrics import rejected_metrics

            rcon = rejected_metrics(con, kind, lid=lid, lid_model=lid_model)
            flag, flag_name, flag_column = KIND_FLAG[kind]
            report["rejected_by_reason_measured"] = _rows(rcon, query(
                "rejected_by_reason_measured", metrics="metrics", rejected="rejected", kind_flag=flag,
                kind_flag_name=flag_name))
            report["rejected_measured"] = _rows(rcon, query(
                "rejected_rows_measured", metrics="metrics", rejected="rejected", kind_column=flag_column,
                limit=REJECTED_ROWS_SHOWN))
            rejected_values = _values(rcon, columns)
            rcon.close()
        con.close()
        step(4)

        shown_band = length_band if None not in length_band else None
        totals = (rows_kept, rows_rejected)  # the legends count what the tables count
        images = {
            "funnel": plots.funnel(stages, rejects_by_reason) if stages else None,
            "length_ratio": plots.histogram([min(v, 3.0) for v in values["length_ratio"]],
                                            "Length ratio (target/source characters; clipped at 3)", "ratio",
                                            [i / 20 for i in range(61)], shown_band,
                                            [min(v, 3.0) for v in rejected_values["length_ratio"]], totals,
                                            band_label="gate's length-ratio band"),
            "lid_score": plots.histogram(values["lid_score"], "LID score (least Arabic message of each record)",
                                         "fastText probability of the expected language",
                                         [i / 40 for i in range(41)], rejected=rejected_values["lid_score"],
                                         totals=totals)
            if lid else None,
            "arabic_share": plots.histogram(values["arabic_share"], "Arabic-script share of letters (outside code)",
                                            "share", [i / 40 for i in range(41)],
                                            rejected=rejected_values["arabic_share"], totals=totals),
            "turns": plots.turns([int(v) for v in values["n_turns"]], [int(v) for v in rejected_values["n_turns"]],
                                 totals) if kind == "instructions" else None,
        }
        images = {k: v for k, v in images.items() if v is not None}
        report["plot_legends"] = {  # what each plot's legend says, in words next to it (and for tests)
            name: [plots.legend_text("kept", rows_kept, len(values[col])),
                   plots.legend_text("rejected", rows_rejected, len(rejected_values[col]))]
            + ([f"gate's length-ratio band: {shown_band[0]:g} – {shown_band[1]:g}"]
               if name == "length_ratio" and shown_band else [])
            for name, col in (("length_ratio", "length_ratio"), ("lid_score", "lid_score"),
                              ("arabic_share", "arabic_share"), ("turns", "n_turns")) if name in images}
        step(5)

        out.mkdir(parents=True, exist_ok=True)
        (out / "plots").mkdir(exist_ok=True)
        for name, png in images.items():
            (out / "plots" / f"{name}.png").write_bytes(png)
        report["plots"] = [f"plots/{name}.png" for name in images]
        (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str),
                                         encoding="utf-8")
        (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
        (out / "report.html").write_text(render_html(report, images), encoding="utf-8")
        step(6)
    return report


# -- rendering --------------------------------------------------------------------------------------------------------

def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _md_table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "_none_\n"
    columns = columns or list(rows[0])
    cell = lambda v: _fmt(v).replace("|", "\\|").replace("\n", " ⏎ ")  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _stage_rows(report: dict) -> list[dict]:
    return [{"stage": name, "read": s.get("read"), "kept": s.get("kept"), "rejected": s.get("rejected"),
             "reasons": ", ".join(f"{k} {v}" for k, v in sorted(s.get("reasons", {}).items(), key=lambda kv: -kv[1]))}
            for name, s in report["stages"].items()]


def _headline(report: dict) -> list[tuple[str, str]]:
    m = report["metrics"]
    items = [("kind", report["kind"]), ("rows read", _fmt(report["rows_read"])), ("rows kept", _fmt(report["rows_kept"])),
             ("rows rejected", _fmt(report["rows_rejected"])),
             *([("rows added (not by a filter)", ", ".join(f"{_fmt(v)} {k}" for k, v in report["rows_added"].items()))]
               if report.get("rows_added") else []),
             ("accounting (read + added = kept + rejected)" if report.get("rows_added") else
              "accounting (read = kept + rejected)", "ok" if report["accounting_ok"] else "MISMATCH"),
             ("median length ratio", _fmt(m.get("median_length_ratio"))),
             ("mean Arabic share", _fmt(m.get("mean_arabic_share"))),
             ("rows with Latin residue", _fmt(m.get("rows_with_latin_residue"))),
             ("duplicate share", _fmt(m.get("duplicate_share"))),
             ("rows with code / LaTeX", f"{_fmt(m.get('rows_with_code'))} / {_fmt(m.get('rows_with_latex'))}"),
             ("rows whose masked spans changed", _fmt((m.get("masked_spans") or {}).get("rows_spans_changed")))]
    if m.get("lid"):
        items.append(("median LID score", _fmt(m["lid"].get("median_lid_score"))))
    items.append(("fingerprint", report["fingerprint"] or "–"))
    return items


def _source_stage_note(report: dict) -> str:
    if report.get("by_source_and_stage_from") == "stats.json":
        return "what each stage counted per source dataset as it ran (stats.json `by_source`, reasons there)"
    note = ("rejected rows by the source their record names; kept = the final data of that source plus what later "
            "stages rejected")
    if report.get("by_source_and_stage_matches_stages") is False:
        note += (". These per-source numbers do not add up to the stage counts above: rows were made between stages "
                 "(reverse pairs), or a stage counts another unit than the one before it (instruction rows in, one "
                 "pair per message out)")
    return note


def render_markdown(report: dict) -> str:
    parts = [f"# Quality report — `{report['dataset']}`\n", f"_{report['created_at']}_\n"]
    parts.append(_md_table([{"measure": k, "value": v} for k, v in _headline(report)]))
    parts += ["\n## Stages (funnel)\n", f"_from {report['stages_from']}_\n\n", _md_table(_stage_rows(report)),
              "\n![funnel](plots/funnel.png)\n" if "plots/funnel.png" in report["plots"] else ""]
    parts += ["\n## Rejects by stage and reason\n", _md_table(report["rejects_by_reason"])]
    parts += ["\n## Rows per source\n", _md_table(report["by_source"])]
    parts += ["\n## Rows per source and stage\n", f"_{_source_stage_note(report)}_\n\n",
              _md_table(report["by_source_and_stage"])]
    parts += ["\n## Against the source side\n", _md_table(report["source_comparison"])]
    parts += ["\n## Distributions\n"] + [f"![{p}]({p})\n" for p in report["plots"] if not p.endswith("funnel.png")]
    parts += ["\n## Rejected rows, measured like the kept ones\n", _md_table(report["rejected_by_reason_measured"]),
              "\n", _md_table(report["rejected_measured"])]
    parts += ["\n## Kept rows that stand out\n", _md_table(report["flagged_kept_rows"])]
    parts += ["\n## Top repeated segments\n", _md_table(report["top_repeated_segments"])]
    parts += ["\n## Sample of rejected rows\n",
              _md_table([{**{k: r.get(k) for k in ("stage", "reason", "id", "detail")},
                          **_sides_text(*record_sides(r.get("record")))} for r in report["reject_samples"]])]
    parts += ["\n## Kept rows, English and Arabic side by side\n",
              _md_table([{"source": r["source_dataset"], "id": r["id"], **_sides_text(*_kept_sides(report, r))}
                         for r in report.get("kept_samples", [])])]
    return "".join(parts)


def _kept_sides(report: dict, row: dict):
    if report["kind"] == "instructions":
        return message_sides(row.get("english"), row.get("arabic"))
    return [("en", row.get("english") or "")], [("ar", row.get("arabic") or "")]


def _sides_text(english, arabic) -> dict:
    join = lambda turns: "\n".join(f"{role}: {text}" for role, text in turns) or "–"  # noqa: E731
    return {"English": join(english), "Arabic": join(arabic)}


def _text_row(cells: list[str], english, arabic) -> str:
    plain = "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in cells)
    return (f"<tr>{plain}<td class='text' dir='ltr'>{turns_html(english, rtl=False)}</td>"
            f"<td class='text ar' dir='rtl' lang='ar'>{turns_html(arabic, rtl=True)}</td></tr>")


def _text_table(heads: list[str], rows: list[str]) -> str:
    if not rows:
        return "<p class='none'>none</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads + ["English", "Arabic"])
    return f"<table class='texts'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _kept_samples_html(report: dict) -> str:
    rows = [_text_row([r["source_dataset"], r["id"]], *_kept_sides(report, r)) for r in report.get("kept_samples", [])]
    return _text_table(["source", "id"], rows)


def _reject_samples_html(report: dict) -> str:
    rows = [_text_row([r["stage"], r["reason"], r["id"], r["detail"]], *record_sides(r.get("record")))
            for r in report["reject_samples"]]
    return _text_table(["stage", "reason", "id", "detail"], rows)


def _html_table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "<p class='none'>none</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td dir='auto'>{html.escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem} td,th{border:1px solid #ddd;padding:.25rem .5rem;
vertical-align:top;text-align:start;max-width:520px;overflow-wrap:break-word;word-break:normal;hyphens:none}
th{background:#f4f4f4} td.text{white-space:pre-wrap;min-width:14rem} td.ar,.ar{direction:rtl;text-align:right}
bdi{unicode-bidi:isolate} td.ar bdi{unicode-bidi:plaintext} .turn{margin:.15rem 0}
.scroll{overflow-x:auto;max-width:100%} figure{margin:0} figcaption{font-size:.8rem;color:#555} .role{color:#666;font-size:.75rem;margin-inline-end:.3rem}
summary{cursor:pointer} .full{display:block;margin-top:.3rem}
img{max-width:100%;border:1px solid #eee;margin:.4rem 0} .none{color:#888} .ok{color:#2e8b57} .bad{color:#c0392b}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:.5rem}
"""


def render_html(report: dict, images: dict[str, bytes]) -> str:
    from hala.quality.plots import data_uri

    legends = report.get("plot_legends") or {}

    def img(name: str) -> str:
        if name not in images:
            return ""
        caption = " · ".join(legends.get(name, []))
        return (f"<figure><img alt='{name}' src='{data_uri(images[name])}'>"
                + (f"<figcaption>{html.escape(caption)}</figcaption>" if caption else "") + "</figure>")

    headline = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _headline(report))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hala quality report — {html.escape(report['dataset'])}</title>
<style>{CSS}</style></head><body>
<h1>Quality report — <code>{html.escape(report['dataset'])}</code></h1>
<p>{html.escape(report['created_at'])} · {html.escape(report['kind'])}</p>
<table>{headline}</table>
<h2>Stages (funnel)</h2><p class="none">from {html.escape(report['stages_from'])}</p>
{_html_table(_stage_rows(report))}
{img('funnel')}
<h2>Rejects by stage and reason</h2>{_html_table(report['rejects_by_reason'])}
<h2>Rows per source</h2>{_html_table(report['by_source'])}
<h2>Rows per source and stage</h2><p class="none">{html.escape(_source_stage_note(report))}</p>
{_html_table(report['by_source_and_stage'])}
<h2>Against the source side</h2>{_html_table(report['source_comparison'])}
<h2>Distributions</h2><div class="grid">{img('length_ratio')}{img('lid_score')}{img('arabic_share')}{img('turns')}</div>
<h2>Rejected rows, measured like the kept ones</h2>{_html_table(report['rejected_by_reason_measured'])}
{_html_table(report['rejected_measured'])}
<h2>Kept rows that stand out</h2>{_html_table(report['flagged_kept_rows'])}
<h2>Top repeated segments</h2>{_html_table(report['top_repeated_segments'])}
<h2>Kept rows, English and Arabic side by side</h2><p class="none">the first {KEPT_SAMPLES_PER_SOURCE} rows of each
source, by id</p>
{_kept_samples_html(report)}
<h2>Sample of rejected rows</h2><p class="none">up to {REJECT_SAMPLES_PER_REASON} rows per stage and reason, as the
stage saw them; long texts unfold on click</p>
{_reject_samples_html(report)}
</body></html>
"""
