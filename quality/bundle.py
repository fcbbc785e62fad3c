"""The publish bundle: exactly the files a release pushes — parquet shards per config/split, README.md, manifest.json.

Layout: `data/<config>/<split>-0000N-of-0000M.parquet`, one config per source dataset; the `default` config points at
every source's shards (all rows, no bytes stored twice). Rows are sorted by id and shards are written with fixed
settings, so the same data and version give byte-identical files: a re-run after a crash finds its files already on
the Hub and uploads nothing twice. After writing, the shards are read back and must hold exactly the source rows.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import UserError
from quality import card as cards
from quality import sources as source_registry
from quality.fingerprint import DATA_DIR, dataset_fingerprint, file_sha256

DEFAULT_MAX_SHARD_ROWS = 500_000
MAX_SHARD_BYTES = 256 * 1024 * 1024  # in-memory Arrow size per shard; parquet on disk is smaller
SPLIT_RE = re.compile(r"[^0-9A-Za-z_]+")


@dataclass
class Bundle:
    """A built bundle: where it is and what it holds."""

    path: Path
    manifest: dict
    card: str


def read_records(dataset_dir: Path):
    """All parquet rows under DATASET/data as one Arrow table sorted by id, and the kind (instructions|pairs)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((dataset_dir / DATA_DIR).rglob("*.parquet")) if (dataset_dir / DATA_DIR).is_dir() else []
    if not files:
        raise UserError(f"{dataset_dir}: no parquet files under {DATA_DIR}/ — publish takes a dataset folder written "
                        "by hala")
    tables = [t for t in (pq.read_table(f) for f in files)]
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    names = set(table.column_names)
    stats = dataset_dir / "stats.json"
    kind = json.loads(stats.read_text()).get("kind") if stats.is_file() else None
    if kind not in ("instructions", "pairs"):
        kind = "instructions" if "messages" in names else "pairs" if {"src", "tgt"} <= names else None
    if kind is None:
        raise UserError(f"{dataset_dir}: records are neither instructions (messages) nor pairs (src, tgt)")
    if "id" in names:
        table = table.sort_by([("id", "ascending")])
    return table, kind


def row_sources(table, kind: str) -> tuple[list[str], list[str], list[str]]:
    """Per row: source dataset, split and revision (pairs: `origin` is their source, split `train`)."""
    n = table.num_rows
    if "source" in table.column_names:
        src = table.column("source").to_pylist()
        datasets = [(s or {}).get("dataset") or "(unknown)" for s in src]
        splits = [(s or {}).get("split") or "train" for s in src] if kind == "instructions" else ["train"] * n
        revisions = [(s or {}).get("revision") or "" for s in src]
    elif "origin" in table.column_names:
        datasets = [o or "(unknown)" for o in table.column("origin").to_pylist()]
        splits, revisions = ["train"] * n, [""] * n
    else:
        datasets, splits, revisions = ["(unknown)"] * n, ["train"] * n, [""] * n
    return datasets, [split_name(s) for s in splits], revisions


def split_name(split: str) -> str:
    """A split name `datasets` accepts (\\w+): `train[:100]` → `train_100`."""
    return SPLIT_RE.sub("_", split).strip("_") or "train"


def config_names(datasets: list[str]) -> dict[str, str]:
    """Source id → config name: sanitized, never `default`, unique."""
    names: dict[str, str] = {}
    used = {"default"}
    for dataset in sorted(set(datasets)):
        base = source_registry.config_name(dataset)
        name, i = base, 2
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        names[dataset] = name
    return names


def _shard_rows(table, max_rows: int) -> int:
    """Rows per shard: at most max_rows, and few enough that a shard stays under MAX_SHARD_BYTES."""
    if table.num_rows == 0:
        return max_rows
    per_row = max(1, table.nbytes // table.num_rows)
    return max(1, min(max_rows, MAX_SHARD_BYTES // per_row))


def write_shards(table, folder: Path, split: str, max_rows: int) -> list[tuple[str, int]]:
    """`<split>-0000N-of-0000M.parquet` files of at most `max_rows` rows; returns [(file name, rows)]."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    step = _shard_rows(table, max_rows)
    count = max(1, -(-table.num_rows // step))
    written = []
    for i in range(count):
        part = table.slice(i * step, step)
        name = f"{split}-{i:05d}-of-{count:05d}.parquet"
        pq.write_table(part, folder / name, compression="zstd", row_group_size=min(step, 10_000),
                       write_statistics=True, use_dictionary=True)
        written.append((name, part.num_rows))
    return written


def _verify(out: Path, table, files: list[str]) -> None:
    """Read the shards back: the same rows as the dataset, no more, no fewer (ids and full content)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    back = pa.concat_tables([pq.read_table(out / f) for f in files]) if files else table.slice(0, 0)
    if "id" in back.column_names:
        back = back.sort_by([("id", "ascending")])
    if back.num_rows != table.num_rows or not back.equals(table.select(back.column_names)):
        raise RuntimeError(f"bundle shards do not hold the dataset's rows ({back.num_rows} vs {table.num_rows})")


def _models(table, kind: str) -> list[dict]:
    models = cards.models_used(table.column("meta").to_pylist()) if "meta" in table.column_names else []
    if kind == "pairs":
        counts: Counter = Counter()
        if "judge" in table.column_names:
            for j in table.column("judge").to_pylist():
                if j and j.get("model"):
                    counts[("judge", j["model"] + (f" (prompt {j['prompt_version']})" if j.get("prompt_version")
                                                   else ""))] += 1
        if "origin" in table.column_names:
            for o in table.column("origin").to_pylist():
                if o and o.startswith("teacher:"):
                    counts[("teacher", o.split(":", 1)[1])] += 1
        models += [{"stage": s, "model": m, "rows": n} for (s, m), n in sorted(counts.items())]
    return models


def build_bundle(dataset_dir: str | Path, out_dir: str | Path, repo_id: str, version: str, validation: dict,
                 max_shard_rows: int | None = None, recipe: str | Path | None = None,
                 report: str | Path | None = None, pretty_name: str | None = None) -> Bundle:
    """Write the release into OUT (which must be empty or absent) and return its manifest and card."""
    dataset_dir, out = Path(dataset_dir), Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; the bundle goes into an empty folder")
    max_rows = max_shard_rows or DEFAULT_MAX_SHARD_ROWS
    if max_rows < 1:
        raise UserError("--max-shard-rows must be at least 1")
    fingerprint = dataset_fingerprint(dataset_dir)
    table, kind = read_records(dataset_dir)
    datasets, splits, revisions = row_sources(table, kind)
    names = config_names(datasets)

    import pyarrow as pa

    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (d, s) in enumerate(zip(datasets, splits)):
        groups[(names[d], s)].append(i)
    files: dict[str, int] = {}
    split_rows: dict[str, dict[str, int]] = defaultdict(dict)
    for (config, split), idx in sorted(groups.items()):
        part = table.take(pa.array(idx, type=pa.int64()))
        for name, rows in write_shards(part, out / DATA_DIR / config, split, max_rows):
            files[f"{DATA_DIR}/{config}/{name}"] = rows
        split_rows[config][split] = len(idx)
    _verify(out, table, sorted(files))

    all_splits = sorted({s for per in split_rows.values() for s in per})
    default_splits = {s: sum(per.get(s, 0) for per in split_rows.values()) for s in all_splits}
    header_configs = [{"config_name": "default", "default": True,
                       "data_files": [{"split": s, "path": f"{DATA_DIR}/*/{s}-*.parquet"} for s in all_splits]}]
    header_configs += [{"config_name": c, "data_files": [{"split": s, "path": f"{DATA_DIR}/{c}/{s}-*.parquet"}
                                                         for s in sorted(per)]}
                       for c, per in sorted(split_rows.items())]
    configs = [{"name": "default", "splits": default_splits}] + [
        {"name": c, "splits": dict(sorted(per.items()))} for c, per in sorted(split_rows.items())]

    rows_by_source = dict(Counter(datasets))
    revs: dict[str, set] = defaultdict(set)
    for d, r in zip(datasets, revisions):
        revs[d].add(r)
    source_table = cards.source_rows(rows_by_source, {d: sorted(v) for d, v in revs.items()}, names)
    licence = source_registry.combined_licence([s["licence"] for s in source_table])
    nums = cards.numbers(dataset_dir, rows_by_source, fingerprint, report)
    if nums["rows_kept"] != table.num_rows:
        raise UserError(f"report.json counts {nums['rows_kept']} kept rows but the data holds {table.num_rows}")
    bundle_fp = dataset_fingerprint(out)
    name = pretty_name or ("Hala Arabic instructions" if kind == "instructions" else "Hala EN-AR pairs") + \
        f" ({repo_id.split('/')[-1]})"
    head = cards.header(kind, name, licence, table.num_rows, header_configs)
    context = {
        "pretty_name": name, "repo_id": repo_id, "version": version, "kind": kind, "configs": configs,
        "sources": source_table, "licence": licence, "licence_order": list(source_registry.LICENCE_ORDER),
        "numbers": nums, "stages": cards.stage_rows(nums["stages"]), "rejects": nums["rejects_by_reason"],
        "models": _models(table, kind), "translation": (nums["stats"] or {}).get("translation") or {},
        "recipe": cards.read_recipe(dataset_dir, recipe), "fingerprint": fingerprint,
        "bundle_fingerprint": bundle_fp, "gate": validation, "hala_citation": cards.HALA_CITATION,
        "limitations": [],
    }
    text = cards.render_card(kind, head, context)
    (out / "README.md").write_text(text, encoding="utf-8")
    manifest = {
        "repo_id": repo_id,
        "version": version,
        "tag": f"v{version}",
        "kind": kind,
        "fingerprint": fingerprint,
        "bundle_fingerprint": bundle_fp,
        "licence": licence,
        "rows": table.num_rows,
        "configs": {c["name"]: c["splits"] for c in configs},
        "validation": {k: validation.get(k) for k in ("suite", "success", "fingerprint", "created_at", "gx_version")},
        "files": {path: {"sha256": file_sha256(out / path), "bytes": (out / path).stat().st_size, "rows": rows}
                  for path, rows in sorted(files.items())},
    }
    manifest["files"]["README.md"] = {"sha256": file_sha256(out / "README.md"),
                                      "bytes": (out / "README.md").stat().st_size, "rows": None}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
                                       encoding="utf-8")
    return Bundle(out, manifest, text)
