"""Small helpers the bilingual flows share: counters of non-filter steps, and where a dataset folder's rows are."""

from __future__ import annotations

import json
import shutil
from pathlib import Path



def step_counters(logging_dir: Path, step_name: str) -> dict[str, int]:
    """The counters a (non-filter) datatrove step logged, e.g. {"rows": 6, "pairs": 12}; {} when it never ran."""
    stats_file = Path(logging_dir) / "stats.json"
    if not stats_file.is_file():
        return {}
    for step in json.loads(stats_file.read_text()):
        if step.get("name", "").split(":", 1)[-1].strip() == step_name:
            out = {}
            for k, v in step.get("stats", {}).items():
                value = v.get("total", 0) if isinstance(v, dict) else v
                if isinstance(value, (int, float)):
                    out[k] = int(value)
            return out
    return {}


def has_rows(folder: Path) -> bool:
    """Whether a folder holds any parquet/jsonl file (a stage that rejected everything writes none)."""
    return folder.is_dir() and any(p.suffix in (".parquet", ".jsonl") for p in folder.rglob("*") if p.is_file())


def merge_rejects(src_out: Path, dst_out: Path) -> None:
    """Copy the rejects of a sub-run (e.g. dedup into a work folder) next to the flow's own output."""
    src = src_out / "rejects"
    if src.is_dir():
        shutil.copytree(src, dst_out / "rejects", dirs_exist_ok=True)


def atomic_write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    tmp.replace(path)
