"""The report's plots: matplotlib (Agg, no display needed) rendered to PNG bytes, embedded as base64 in report.html.

Labels are Latin only: matplotlib does not shape Arabic, so Arabic text lives in the report's tables instead.
"""

from __future__ import annotations

import base64
import io

PALETTE = ["#c0392b", "#e67e22", "#8e44ad", "#2980b9", "#16a085", "#7f8c8d", "#d35400", "#2c3e50", "#27ae60",
           "#f39c12", "#9b59b6", "#1abc9c"]
KEPT_COLOR = "#2e8b57"


def _figure(width: float = 7.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    return plt, fig, ax


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def funnel(stages: dict[str, dict], rejects_by_reason: list[dict]) -> bytes:
    """Left: one bar per stage (run order), rows kept and rejected. Right: the rejects by stage and reason."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(stages)
    reasons = [(r["stage"], r["reason"], r["rows"]) for r in rejects_by_reason]
    if not reasons:  # no rejects files: the reasons counted in stats.json
        reasons = [(n, k, v) for n, s in stages.items() for k, v in s.get("reasons", {}).items()]
    order = {name: i for i, name in enumerate(names)}
    reasons.sort(key=lambda r: (order.get(r[0], len(order)), -r[2], r[1]))
    height = 1.2 + 0.32 * max(len(names), len(reasons), 3)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, height), dpi=100, gridspec_kw={"width_ratios": [1, 1.2]})
    for y, name in enumerate(names):
        kept = stages[name].get("kept") or 0
        rejected = stages[name].get("rejected") or 0
        left.barh(y, kept, color=KEPT_COLOR, label="kept" if y == 0 else None)
        left.barh(y, rejected, left=kept, color=PALETTE[0], label="rejected" if y == 0 else None)
        left.text(kept + rejected, y, f" {kept:,} kept / {rejected:,} rejected", va="center", fontsize=8)
    left.set_yticks(range(len(names)), names)
    left.invert_yaxis()
    left.set_xlabel("rows read by the stage")
    left.set_xlim(0, max([(s.get("kept") or 0) + (s.get("rejected") or 0) for s in stages.values()] + [1]) * 1.6)
    left.set_title("Funnel: rows per stage")
    left.legend(fontsize=8, loc="upper right", bbox_to_anchor=(1.0, -0.22), ncol=2, frameon=False)
    stage_color = {name: PALETTE[(i + 3) % len(PALETTE)] for i, name in enumerate(dict.fromkeys(
        [*names, *(r[0] for r in reasons)]))}
    for y, (stage, reason, n) in enumerate(reasons):
        right.barh(y, n, color=stage_color[stage])
        right.text(n, y, f" {n:,}", va="center", fontsize=8)
    right.set_yticks(range(len(reasons)), [f"{stage}: {reason}" for stage, reason, _ in reasons], fontsize=8)
    right.invert_yaxis()
    right.set_xlabel("rows rejected")
    right.set_title("Rejects by stage and reason")
    if not reasons:
        right.text(0.5, 0.5, "no rejects", ha="center", va="center", transform=right.transAxes)
    return _png(plt, fig)


def legend_text(what: str, total: int | None, plotted: int) -> str:
    """`kept (150 rows)`, or `rejected (14 rows; 9 measurable)` when some rows have no value: the count is the
    table's, the plotted share is said."""
    if total is None or total == plotted:
        return f"{what} ({plotted:,} rows)"
    return f"{what} ({total:,} rows; {plotted:,} measurable)"


def histogram(values: list[float], title: str, xlabel: str, bins, band: tuple[float, float] | None = None,
              rejected: list[float] | None = None, totals: tuple[int, int] | None = None,
              band_label: str = "gate band") -> bytes:
    """Kept rows in blue; the rejected rows (when given) stacked on top in red, so the defects show where they fall.
    `totals` (rows kept, rows rejected, as the report's tables count them) label the legend; the gate's band lines
    are labelled with their values."""
    plt, fig, ax = _figure()
    kept_total, rejected_total = totals if totals else (None, None)
    if rejected or rejected_total:
        ax.hist([values, rejected or []], bins=bins, stacked=True, color=["#2980b9", PALETTE[0]], edgecolor="white",
                label=[legend_text("kept", kept_total, len(values)), legend_text("rejected", rejected_total,
                                                                         len(rejected or []))])
    else:
        ax.hist(values, bins=bins, color="#2980b9", edgecolor="white", label=legend_text("kept", kept_total, len(values)))
    if band:
        lo, hi = band
        ax.axvline(lo, color="#c0392b", linestyle="--", linewidth=1, label=f"{band_label}: {lo:g} – {hi:g}")
        ax.axvline(hi, color="#c0392b", linestyle="--", linewidth=1)
        for x, side in ((lo, "min"), (hi, "max")):
            ax.annotate(f"{side} {x:g}", (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                        textcoords="offset points", fontsize=8, color="#c0392b")
    ax.legend(fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    return _png(plt, fig)


def turns(kept: list[int], rejected: list[int], totals: tuple[int, int] | None = None) -> bytes:
    """Messages per conversation, kept and rejected rows stacked (a rejected row that is not a conversation — a line
    that did not parse — has no turns to count: the legend says how many were measurable)."""
    plt, fig, ax = _figure()
    labels = list(range(min(kept + rejected + [1]), max(kept + rejected + [1]) + 1))
    k = [kept.count(n) for n in labels]
    r = [rejected.count(n) for n in labels]
    kept_total, rejected_total = totals if totals else (None, None)
    ax.bar([str(x) for x in labels], k, color=KEPT_COLOR, label=legend_text("kept", kept_total, len(kept)))
    ax.bar([str(x) for x in labels], r, bottom=k, color=PALETTE[0],
           label=legend_text("rejected", rejected_total, len(rejected)))
    ax.legend(fontsize=8)
    ax.set_title("Turns per conversation")
    ax.set_xlabel("messages")
    ax.set_ylabel("rows")
    return _png(plt, fig)
