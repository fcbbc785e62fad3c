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


def histogram(values: list[float], title: str, xlabel: str, bins, band: tuple[float, float] | None = None,
              rejected: list[float] | None = None) -> bytes:
    """Kept rows in blue; the rejected rows (when given) stacked on top in red, so the defects show where they fall."""
    plt, fig, ax = _figure()
    if rejected:
        ax.hist([values, rejected], bins=bins, stacked=True, color=["#2980b9", PALETTE[0]], edgecolor="white",
                label=[f"kept ({len(values):,})", f"rejected ({len(rejected):,})"])
        ax.legend(fontsize=8)
    else:
        ax.hist(values, bins=bins, color="#2980b9", edgecolor="white")
    if band:
        for x in band:
            ax.axvline(x, color="#c0392b", linestyle="--", linewidth=1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    return _png(plt, fig)


def bars(labels: list, counts: list[int], title: str, xlabel: str) -> bytes:
    plt, fig, ax = _figure()
    ax.bar([str(x) for x in labels], counts, color="#16a085")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    return _png(plt, fig)
