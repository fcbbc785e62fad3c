"""The paper's Arabic leaderboard benchmarks through lighteval, when lighteval is installed.

The tasks live in lighteval's community file `community_tasks/arabic_evals.py` (a file in lighteval's repository,
not in its wheel), one task per subset: `arabic_mmlu:<subject>`, `alghafa:<subset>`, `arabic_exams`,
`madinah_qa:<subset>`, `aratrust:<subset>`, `arabic_mmlu_ht:<subject>`. A recipe names benchmarks
(`arabic_mmlu`, ...) and hala expands each into its subset tasks from that file; a benchmark's score is the mean of
its subsets' first metric (what the Open Arabic LLM Leaderboard reports).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)



def task_names(custom_tasks: str | Path) -> list[str]:
    """Names of the tasks a lighteval custom-tasks file defines (its TASKS_TABLE)."""
    spec = importlib.util.spec_from_file_location("hala_lighteval_tasks", str(custom_tasks))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [t.name for t in module.TASKS_TABLE]


def expand(benchmarks: list[str], names: list[str], fewshot: int = 0) -> list[str]:
    """`arabic_mmlu` → every `community|arabic_mmlu:<subset>|<fewshot>`; a full spec (with `|`) is kept as is."""
    specs: list[str] = []
    for b in benchmarks:
        if "|" in b:
            specs.append(b)
            continue
        hits = [n for n in names if n == b or n.startswith(b + ":")]
        if f"{b}:All" in hits:  # ArabicMMLU ships its whole set as subset "All": score that, not it plus its parts
            hits = [f"{b}:All"]
        if not hits:
            from hala.pipelines.core.errors import UserError

            raise UserError(f"lighteval_tasks: {b!r} matches no task of the custom-tasks file")
        specs += [f"community|{n}|{fewshot}" for n in hits]
    return specs


def benchmark_of(task_key: str) -> str:
    """`community|arabic_mmlu:Law (Professional)|0` → `arabic_mmlu`."""
    name = task_key.split("|")[1] if "|" in task_key else task_key
    return name.split(":")[0]


def aggregate(results: dict[str, dict]) -> dict[str, float]:
    """Mean of each task's first metric per benchmark (lighteval's own `all` entry is skipped)."""
    groups: dict[str, list[float]] = {}
    for key, metrics in results.items():
        if key == "all" or not isinstance(metrics, dict):
            continue
        values = [v for k, v in metrics.items() if isinstance(v, (int, float)) and not k.endswith("_stderr")]
        if values:
            groups.setdefault(benchmark_of(key), []).append(float(values[0]))
    return {b: round(sum(v) / len(v), 4) for b, v in sorted(groups.items())}


def run_lighteval(models: dict[str, str], benchmarks: list[str], out_dir: Path,
                  custom_tasks: str | None = None, fewshot: int = 0) -> dict:
    """lighteval's `accelerate` backend per model, when lighteval is importable; otherwise a clear skip."""
    if not benchmarks:
        return {"status": "skipped", "reason": "no lighteval_tasks in the recipe"}
    if importlib.util.find_spec("lighteval") is None:
        msg = "lighteval is not installed (pip install lighteval); Arabic leaderboard tasks skipped"
        log.warning(msg)
        return {"status": "skipped", "reason": msg, "tasks": benchmarks}
    if not custom_tasks or not Path(custom_tasks).is_file():
        msg = (f"lighteval_custom_tasks {custom_tasks!r} is not a file: point it at community_tasks/arabic_evals.py "
               "from a lighteval checkout; Arabic leaderboard tasks skipped")
        log.warning(msg)
        return {"status": "skipped", "reason": msg, "tasks": benchmarks}
    specs = expand(benchmarks, task_names(custom_tasks), fewshot)
    results: dict = {"status": "ran", "tasks": specs, "models": {}}
    for label, model in models.items():
        dest = out_dir / "lighteval" / label
        cmd = [sys.executable, "-m", "lighteval", "accelerate", f"model_name={model}", ",".join(specs),
               "--custom-tasks", str(custom_tasks), "--output-dir", str(dest)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            results["models"][label] = {"error": proc.stderr[-2000:]}
            continue
        raw: dict = {}
        for f in sorted(dest.rglob("results_*.json")):
            raw.update(json.loads(f.read_text()).get("results", {}))
        results["models"][label] = {"benchmarks": aggregate(raw), "tasks": raw}
    return results


def markdown_rows(le: dict) -> list[str]:
    """Benchmark averages per model, or the reason lighteval did not run."""
    if le.get("status") != "ran":
        return [f"lighteval: {le.get('reason', 'not run')}"]
    benches = sorted({b for m in le["models"].values() for b in m.get("benchmarks", {})})
    lines = ["| model | " + " | ".join(benches) + " |", "|---|" + "---:|" * len(benches)]
    for label, m in le["models"].items():
        if "error" in m:
            lines.append(f"| {label} | lighteval failed: {m['error'].splitlines()[-1] if m['error'] else '?'} |")
            continue
        lines.append(f"| {label} | " + " | ".join(f"{m['benchmarks'].get(b, float('nan')):.4f}" for b in benches) + " |")
    return lines
