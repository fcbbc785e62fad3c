"""The one `stats.json` writer: per-stage accounting (read = kept + rejected, by reason) from datatrove's logs,
written atomically, and the summary lines the commands print from it."""

from __future__ import annotations

import json
from pathlib import Path

from datatrove.pipeline.filters.base_filter import BaseFilter

TRANSLATION_COUNTERS = ("segments", "tm_hits", "model_calls", "shared_inflight", "failed")


def _total(value) -> int:
    return int(value.get("total", 0) if isinstance(value, dict) else value)


def step_name(step: dict) -> str:
    """A step's name without datatrove's type prefix (`🔻 - FILTER: lid` → `lid`)."""
    return step.get("name", "?").split(":", 1)[-1].strip()


def rank_stats_files(logging_dir: str | Path) -> list[Path]:
    """Every completed task's own stats (`LOGS/stats/<rank>.json`, written by datatrove when a task completes)."""
    return sorted((Path(logging_dir) / "stats").glob("*.json"))


def merged_steps(logging_dir: str | Path) -> list[dict]:
    """The per-step stats of every completed task, summed with datatrove's own PipelineStats.

    Not datatrove's `LOGS/stats.json`: that one is rewritten by each invocation with only the tasks *it* ran, so
    after a resumed multi-task run it would count part of the dataset."""
    from datatrove.utils.stats import PipelineStats

    total = PipelineStats()
    for f in rank_stats_files(logging_dir):
        total = total + PipelineStats.from_json(json.loads(f.read_text()))
    return json.loads(total.to_json()) if total.stats else []


def stage_accounting(logging_dir: str | Path) -> dict[str, dict]:
    """Per-stage `{read, kept, rejected, reasons}` over every task of a stage (`merged_steps`).

    Only filter steps appear (every `HalaStage` is one): a stage's `read` is datatrove's `total`, `kept` its
    `forwarded`, `rejected` its `dropped`.
    """
    steps = merged_steps(logging_dir)
    out: dict[str, dict] = {}
    for step in steps:
        stats = step.get("stats", {})
        name = step.get("name", "?")
        if not name.startswith(BaseFilter.type):
            continue  # readers, writers and the inference runner are not stages
        name = name.split(":", 1)[-1].strip()

        def count(key: str) -> int:
            return _total(stats.get(key, 0))

        reasons = {k.removeprefix("dropped_"): count(k) for k in stats if k.startswith("dropped_")}
        out[name] = {
            "read": count("total"),
            "kept": count("forwarded"),
            "rejected": count("dropped"),
            "reasons": reasons,
        }
    return out


def source_accounting(logging_dir: str | Path) -> dict[str, dict[str, dict]]:
    """Per stage, per source dataset `{read, kept, rejected, reasons}` from the `by_source/…` counters every
    `HalaStage` keeps (hala.pipelines.core.stages)."""
    from hala.pipelines.core.stages import BY_SOURCE

    out: dict[str, dict[str, dict]] = {}
    for step in json.loads((Path(logging_dir) / "stats.json").read_text()):
        if not step.get("name", "?").startswith(BaseFilter.type):
            continue
        per: dict[str, dict] = {}
        for key, value in step.get("stats", {}).items():
            if not key.startswith(BY_SOURCE):
                continue
            dataset, _, label = key.removeprefix(BY_SOURCE).rpartition("/")
            s = per.setdefault(dataset, {"read": 0, "kept": 0, "rejected": 0, "reasons": {}})
            n = _total(value)
            s["read"] += n
            if label == "kept":
                s["kept"] += n
            else:
                s["rejected"] += n
                s["reasons"][label.removeprefix("dropped_")] = n
        if per:
            out[step_name(step)] = dict(sorted(per.items()))
    return out


def step_counters(logging_dir: Path, name: str) -> dict[str, int]:
    """The counters a (non-filter) datatrove step logged over every task, e.g. {"rows": 6, "pairs": 12}; {} when it
    never ran."""
    for step in merged_steps(logging_dir):
        if step_name(step) == name:
            return {k: _total(v) for k, v in step.get("stats", {}).items()
                    if isinstance(v.get("total", 0) if isinstance(v, dict) else v, (int, float))}
    return {}


def atomic_write_json(path: Path, data: dict) -> None:
    """Write JSON next to its final name, then rename: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    tmp.replace(path)


def write_stats(out: Path, logging_dirs: list[Path] | None = None, extra: dict | None = None,
                kind: str = "instructions") -> dict:
    """OUT/stats.json from the stage accounting of every executor's logs (in run order; by default every
    folder under OUT/logs, oldest first), with the translation counters when a `translate` stage ran."""
    out = Path(out)
    if logging_dirs is None:  # in the order the stages first completed a task
        found = [d for d in (out / "logs").glob("*") if rank_stats_files(d)]
        logging_dirs = sorted(found, key=lambda d: min(f.stat().st_mtime for f in rank_stats_files(d)))
    stages: dict[str, dict] = {}
    by_source: dict[str, dict] = {}
    translation: dict[str, int] = {}
    for d in logging_dirs:
        if not rank_stats_files(d):
            continue
        stages.update(stage_accounting(d))
        by_source.update(source_accounting(d))
        counters = step_counters(d, "translate")
        translation.update({k: counters[k] for k in TRANSLATION_COUNTERS if k in counters})
    by_source = {stage: by_source[stage] for stage in stages if stage in by_source}  # in stage order
    stats = {"kind": kind, "stages": stages, **({"by_source": by_source} if by_source else {}),
             **({"translation": translation} if translation else {}), **(extra or {})}
    atomic_write_json(out / "stats.json", stats)
    return stats


def stage_lines(stats: dict, indent: str = "  ") -> list[str]:
    """Human summary of a stats.json: one line per stage (read/kept/rejected by reason), then the TM line."""
    lines = []
    for stage, s in stats.get("stages", {}).items():
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(s["reasons"].items(), key=lambda kv: -kv[1])) or "-"
        lines.append(f"{indent}{stage:<10} read {s['read']:>5}  kept {s['kept']:>5}  rejected {s['rejected']:>4}  ({reasons})")
    t = stats.get("translation")
    if t:
        lines.append(
            f"{indent}translation memory: {t.get('segments', 0)} segments — {t.get('tm_hits', 0)} TM hits, "
            f"{t.get('shared_inflight', 0)} shared in flight, {t.get('model_calls', 0)} translated by the model, "
            f"{t.get('failed', 0)} failed checks"
        )
    return lines


def result_line(stats: dict) -> str:
    """`0 rows kept (6 rejected: unknown_format=4, empty_output=2)`: what the run ended with, in one line (zero rows
    kept is a result to report, not a failure)."""
    stages = list(stats.get("stages", {}).values())
    kept = stages[-1]["kept"] if stages else 0
    reasons: dict[str, int] = {}
    for s in stages:
        for reason, n in s["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + n
    rejected = sum(s["rejected"] for s in stages)
    why = ", ".join(f"{k}={v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return f"{kept} rows kept ({rejected} rejected{': ' + why if why else ''})"


def summary_lines(stats: dict, out: Path, data: str = "data") -> list[str]:
    """What a command prints when it is done: per-stage lines, the result line, where everything is."""
    if stats.get("submitted"):
        return [f"  submitted: the tasks run on the cluster (logs: {stats['submitted']['logs']}). Run the same "
                "command again once they have finished (or add --wait to follow them): completed tasks are skipped, the "
                "later stages run and stats.json is written."]
    return [*stage_lines(stats), result_line(stats),
            f"  output: {out / data}   rejects: {out / 'rejects'}   stats: {out / 'stats.json'}"]
