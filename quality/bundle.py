"""The publish bundle: exactly the files a release pushes — parquet shards per config/split, README.md, manifest.json.

Layout: `data/<config>/<split>-0000N-of-0000M.parquet`, one config per source dataset; the `default` config points at
every source's shards (all rows, no bytes stored twice). Rows are sorted by id and shards are written with fixed
settings, so the same data and version give byte-identical files: a re-run after a crash finds its files already on
the Hub and uploads nothing twice. After writing, the shards are read back and must hold exactly the source rows.

Memory: the dataset is read one input file at a time into per-(source, split) staging files; only one source's rows
are held at once (to sort them by id), so peak memory is about the largest source, not the whole corpus.
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


def record_files(dataset_dir: Path) -> list[Path]:
    files = sorted((dataset_dir / DATA_DIR).rglob("*.parquet")) if (dataset_dir / DATA_DIR).is_dir() else []
    if not files:
        raise UserError(f"{dataset_dir}: no parquet files under {DATA_DIR}/ — publish takes a dataset folder written "
                        "by hala")
    return files


def detect_kind(dataset_dir: Path, schema) -> str:
    stats = dataset_dir / "stats.json"
    kind = json.loads(stats.read_text()).get("kind") if stats.is_file() else None
    if kind in ("instructions", "pairs"):
        return kind
    names = set(schema.names)
    if "messages" in names:
        return "instructions"
    if {"src", "tgt"} <= names:
        return "pairs"
    raise UserError(f"{dataset_dir}: records are neither instructions (messages) nor pairs (src, tgt)")


def conform(table, schema):
    """`table` with exactly `schema`'s columns, in order (a column a shard lacks is all null)."""
    import pyarrow as pa

    cols = [table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
            for f in schema]
    return pa.Table.from_arrays(cols, schema=schema) if table.schema != schema else table


def row_sources(table, kind: str) -> tuple[list[str], list[str], list[str]]:
    """Per row: source dataset, split and revision (pairs: `origin` is their source, split `train`)."""
    n = table.num_rows
    names = table.column_names
    if "source" in names and table.column("source").null_count < n:
        src = table.column("source").to_pylist()
        datasets = [(s or {}).get("dataset") or "(unknown)" for s in src]
        splits = [(s or {}).get("split") or "train" for s in src] if kind == "instructions" else ["train"] * n
        revisions = [(s or {}).get("revision") or "" for s in src]
    elif "origin" in names:
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
    """Read one group's shards back: exactly its rows, in order, no more, no fewer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    back = pa.concat_tables([pq.read_table(out / f) for f in files])
    if back.num_rows != table.num_rows or not back.equals(table):
        raise RuntimeError(f"bundle shards {files[0]}… do not hold the dataset's rows "
                           f"({back.num_rows} vs {table.num_rows})")


def _models(table, kind: str) -> Counter:
    """(stage, model) → rows, from the rows' metadata (translate), the judge and teacher origins of pairs."""
    counts: Counter = Counter()
    if "meta" in table.column_names:
        for m in cards.models_used(table.column("meta").to_pylist()):
            counts[(m["stage"], m["model"])] += m["rows"]
    if kind == "pairs":
        if "judge" in table.column_names:
            for j in table.column("judge").to_pylist():
                if j and j.get("model"):
                    counts[("judge", j["model"] + (f" (prompt {j['prompt_version']})" if j.get("prompt_version")
                                                   else ""))] += 1
        if "origin" in table.column_names:
            for o in table.column("origin").to_pylist():
                if o and o.startswith("teacher:"):
                    counts[("teacher", o.split(":", 1)[1])] += 1
    return counts


def _stage(files: list[Path], kind: str, schema, staging: Path):
    """One pass over the dataset's files (one file in memory at a time): rows appended to a staging parquet per
    (source, split), plus what the card needs (revisions, models). Returns (groups, revisions, models, rows)."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    staging.mkdir(parents=True)
    writers: dict[tuple[str, str], pq.ParquetWriter] = {}
    paths: dict[tuple[str, str], Path] = {}
    revisions: dict[str, set] = defaultdict(set)
    models: Counter = Counter()
    rows = 0
    try:
        for f in files:
            table = conform(pq.read_table(f), schema)
            rows += table.num_rows
            models.update(_models(table, kind))
            datasets, splits, revs = row_sources(table, kind)
            index: dict[tuple[str, str], list[int]] = defaultdict(list)
            for i, (d, sp, r) in enumerate(zip(datasets, splits, revs)):
                index[(d, sp)].append(i)
                revisions[d].add(r)
            for key, idx in index.items():
                if key not in writers:
                    paths[key] = staging / (hashlib.sha1("\x1f".join(key).encode()).hexdigest() + ".parquet")
                    writers[key] = pq.ParquetWriter(paths[key], schema)
                writers[key].write_table(table.take(pa.array(idx, type=pa.int64())))
    finally:
        for w in writers.values():
            w.close()
    return paths, revisions, models, rows


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
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    files_in = record_files(dataset_dir)
    schema = pa.unify_schemas([pq.read_schema(f) for f in files_in], promote_options="default")
    kind = detect_kind(dataset_dir, schema)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / ".staging"
    staged, revisions, model_counts, rows_in = _stage(files_in, kind, schema, staging)
    if rows_in == 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"{dataset_dir}: the dataset has no rows; there is nothing to publish")
    names = config_names([d for d, _ in staged])
    files: dict[str, int] = {}
    split_rows: dict[str, dict[str, int]] = defaultdict(dict)
    rows_by_source: Counter = Counter()
    try:
        for (dataset, split), path in sorted(staged.items(), key=lambda kv: (names[kv[0][0]], kv[0][1])):
            part = pq.read_table(path)
            if "id" in part.column_names:
                part = part.sort_by([("id", "ascending")])
            written = write_shards(part, out / DATA_DIR / names[dataset], split, max_rows)
            _verify(out, part, [f"{DATA_DIR}/{names[dataset]}/{name}" for name, _ in written])
            files.update({f"{DATA_DIR}/{names[dataset]}/{name}": rows for name, rows in written})
            split_rows[names[dataset]][split] = part.num_rows
            rows_by_source[dataset] += part.num_rows
            del part
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    n_rows = sum(files.values())
    if n_rows != rows_in:
        raise RuntimeError(f"bundle holds {n_rows} rows but the dataset has {rows_in}")

    all_splits = sorted({s for per in split_rows.values() for s in per})
    default_splits = {s: sum(per.get(s, 0) for per in split_rows.values()) for s in all_splits}
    header_configs = [{"config_name": "default", "default": True,
                       "data_files": [{"split": s, "path": f"{DATA_DIR}/*/{s}-*.parquet"} for s in all_splits]}]
    header_configs += [{"config_name": c, "data_files": [{"split": s, "path": f"{DATA_DIR}/{c}/{s}-*.parquet"}
                                                         for s in sorted(per)]}
                       for c, per in sorted(split_rows.items())]
    configs = [{"name": "default", "splits": default_splits}] + [
        {"name": c, "splits": dict(sorted(per.items()))} for c, per in sorted(split_rows.items())]

    source_table = cards.source_rows(dict(rows_by_source), {d: sorted(v) for d, v in revisions.items()}, names)
    licence = source_registry.combined_licence([s["licence"] for s in source_table])
    nums = cards.numbers(dataset_dir, dict(rows_by_source), fingerprint, report)
    if nums["rows_kept"] != n_rows:
        raise UserError(f"report.json counts {nums['rows_kept']} kept rows but the data holds {n_rows}")
    bundle_fp = dataset_fingerprint(out)
    name = pretty_name or ("Hala Arabic instructions" if kind == "instructions" else "Hala EN-AR pairs") + \
        f" ({repo_id.split('/')[-1]})"
    head = cards.header(kind, name, licence, n_rows, header_configs)
    context = {
        "pretty_name": name, "repo_id": repo_id, "version": version, "kind": kind, "configs": configs,
        "sources": source_table, "licence": licence, "licence_order": list(source_registry.LICENCE_ORDER),
        "numbers": nums, "stages": cards.stage_rows(nums["stages"]), "rejects": nums["rejects_by_reason"],
        "models": [{"stage": st, "model": m, "rows": n} for (st, m), n in sorted(model_counts.items())],
        "translation": (nums["stats"] or {}).get("translation") or {},
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
        "rows": n_rows,
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
