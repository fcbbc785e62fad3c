"""The publish bundle: exactly the files a release pushes — parquet shards per config/split, README.md, manifest.json.

Layout: `data/<config>/<split>-0000N-of-0000M.parquet`, one config per source dataset; the `default` config points at
every source's shards (all rows, no bytes stored twice). A translator set (`hala build-translator-set`: pairs/ and
chat/ per split) becomes two configs, `pairs` (the default) and `chat`, each with its train/dev/test splits (a split
without rows is left out: `datasets` cannot read an empty parquet file). Rows are sorted by id and shards are written with fixed
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

from hala.pipelines.core import datasets
from hala.pipelines.core.errors import UserError
from hala.pipelines.core.records import record_kind
from hala.pipelines.sources import registry as source_registry
from hala.quality import card as cards
from hala.quality.fingerprint import DATA_DIR, dataset_fingerprint, file_sha256

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
    files = datasets.record_files(dataset_dir, (".parquet",)) if (dataset_dir / DATA_DIR).is_dir() else []
    if not files:
        raise UserError(f"{dataset_dir}: no parquet files under {DATA_DIR}/ — publish takes a dataset folder written "
                        "by hala")
    return files


def detect_kind(dataset_dir: Path, schema) -> str:
    kind = datasets.recorded_kind(dataset_dir) or record_kind(schema.names)
    if kind:
        return kind
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


@dataclass
class _Parts:
    """What a dataset folder contributes to a release: `(config, split) → parquet file` groups and the card facts.

    A hala dataset (`data/`) gets one config per source dataset plus `default` (all rows); a translator set
    (`pairs/`, `chat/`) gets `pairs` (the default: the gated pairs) and `chat` (the TRL rows derived from them)."""

    kind: str
    groups: dict[tuple[str, str], Path]
    rows_by_source: Counter
    revisions: dict[str, set]
    models: Counter
    source_configs: dict[str, str]
    records_config: str | None  # the config whose rows are the dataset's records (None: every config's)
    staging: Path | None = None


def _dataset_parts(dataset_dir: Path, staging: Path) -> _Parts:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files_in = record_files(dataset_dir)
    schema = pa.unify_schemas([pq.read_schema(f) for f in files_in], promote_options="default")
    kind = detect_kind(dataset_dir, schema)
    staged, revisions, models, rows_in = _stage(files_in, kind, schema, staging)
    if rows_in == 0:
        raise UserError(f"{dataset_dir}: the dataset has no rows; there is nothing to publish")
    names = config_names([d for d, _ in staged])
    groups = {(names[d], split): path for (d, split), path in staged.items()}
    by_source: Counter = Counter()
    for (d, _), path in staged.items():
        by_source[d] += pq.ParquetFile(path).metadata.num_rows
    return _Parts(kind, groups, by_source, revisions, models, names, None, staging)


def _translator_set_parts(dataset_dir: Path, layout: dict[str, dict[str, Path]]) -> _Parts:
    """Non-empty splits only: `datasets` cannot read a parquet file without rows (an empty split is left out)."""
    import pyarrow.parquet as pq

    groups: dict[tuple[str, str], Path] = {}
    for config in ("pairs", "chat"):
        for split, path in sorted(layout.get(config, {}).items()):
            if pq.ParquetFile(path).metadata.num_rows:
                groups[(config, split_name(split))] = path
    if not any(c == "pairs" for c, _ in groups):
        raise UserError(f"{dataset_dir}: the translator set has no pairs; there is nothing to publish")
    by_source: Counter = Counter()
    models: Counter = Counter()
    for (config, _), path in groups.items():
        if config == "pairs":
            table = pq.read_table(path)
            by_source.update(o or "(unknown)" for o in table.column("origin").to_pylist())
            models.update(_models(table, "pairs"))
    return _Parts("translator_set", groups, by_source, defaultdict(set), models,
                  {origin: "pairs" for origin in by_source}, "pairs")


SPLIT_ORDER = ("train", "dev", "validation", "test")


def _split_key(split: str) -> tuple[int, str]:
    """train, dev/validation, test first (the order readers expect), then any other split by name."""
    return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), split)


def _header_configs(parts: _Parts, split_rows: dict[str, dict[str, int]]) -> list[dict]:
    """The card's `configs`: what `datasets.load_dataset(repo, config, split=...)` follows."""
    def entry(name: str, splits, glob_dir: str, default: bool = False) -> dict:
        return {"config_name": name, **({"default": True} if default else {}),
                "data_files": [{"split": s, "path": f"{DATA_DIR}/{glob_dir}/{s}-*.parquet"}
                               for s in sorted(splits, key=_split_key)]}

    if parts.records_config:  # translator set: its configs as they are, the records' config first and default
        order = [parts.records_config] + sorted(c for c in split_rows if c != parts.records_config)
        return [entry(c, split_rows[c], c, default=c == parts.records_config) for c in order]
    all_splits = {s for per in split_rows.values() for s in per}
    return [entry("default", all_splits, "*", default=True)] + [entry(c, per, c) for c, per in sorted(split_rows.items())]


def _config_splits(name: str, split_rows: dict[str, dict[str, int]]) -> dict[str, int]:
    """Rows per split of a config; `default` (not a folder of its own) holds every source config's rows."""
    if name in split_rows:
        return dict(sorted(split_rows[name].items(), key=lambda kv: _split_key(kv[0])))
    splits = sorted({s for per in split_rows.values() for s in per}, key=_split_key)
    return {s: sum(per.get(s, 0) for per in split_rows.values()) for s in splits}


def build_bundle(dataset_dir: str | Path, out_dir: str | Path, repo_id: str, version: str, validation: dict,
                 max_shard_rows: int | None = None, recipe: str | Path | None = None,
                 report: str | Path | None = None, pretty_name: str | None = None) -> Bundle:
    """Write the release into OUT (which must be empty or absent) and return its manifest and card."""
    import shutil

    import pyarrow.parquet as pq

    from hala.quality.fingerprint import translator_set

    dataset_dir, out = Path(dataset_dir), Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; the bundle goes into an empty folder")
    max_rows = max_shard_rows or DEFAULT_MAX_SHARD_ROWS
    if max_rows < 1:
        raise UserError("--max-shard-rows must be at least 1")
    fingerprint = dataset_fingerprint(dataset_dir)
    layout = translator_set(dataset_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / ".staging"
    try:
        parts = _translator_set_parts(dataset_dir, layout) if layout else _dataset_parts(dataset_dir, staging)
        files: dict[str, int] = {}
        split_rows: dict[str, dict[str, int]] = defaultdict(dict)
        for (config, split), path in sorted(parts.groups.items()):
            part = pq.read_table(path)
            if "id" in part.column_names:
                part = part.sort_by([("id", "ascending")])
            written = write_shards(part, out / DATA_DIR / config, split, max_rows)
            _verify(out, part, [f"{DATA_DIR}/{config}/{name}" for name, _ in written])
            files.update({f"{DATA_DIR}/{config}/{name}": rows for name, rows in written})
            split_rows[config][split] = part.num_rows
            del part
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    kind = parts.kind
    n_rows = sum(split_rows[parts.records_config].values()) if parts.records_config else sum(files.values())
    if n_rows != sum(parts.rows_by_source.values()):
        raise RuntimeError(f"bundle holds {n_rows} rows but the dataset has {sum(parts.rows_by_source.values())}")

    header_configs = _header_configs(parts, split_rows)
    configs = [{"name": c["config_name"], "splits": _config_splits(c["config_name"], split_rows)}
               for c in header_configs]
    source_table = cards.source_rows(dict(parts.rows_by_source),
                                     {d: sorted(v) for d, v in parts.revisions.items()}, parts.source_configs)
    licence = source_registry.combined_licence([s["licence"] for s in source_table])
    nums = cards.numbers(dataset_dir, dict(parts.rows_by_source), fingerprint, report)
    if nums["rows_kept"] != n_rows:
        raise UserError(f"report.json counts {nums['rows_kept']} kept rows but the data holds {n_rows}")
    first_shard = out / next(f for f in sorted(files) if f.startswith(f"{DATA_DIR}/{parts.records_config or ''}"))
    shard = pq.ParquetFile(first_shard)
    first_row = next(shard.iter_batches(batch_size=1)).to_pylist()[0]
    card_kind = "pairs" if kind == "translator_set" else kind
    bundle_fp = dataset_fingerprint(out)
    name = pretty_name or cards.PRETTY_NAMES[kind] + f" ({repo_id.split('/')[-1]})"
    head = cards.header(kind, name, licence, n_rows, header_configs)
    context = {
        "pretty_name": name, "repo_id": repo_id, "version": version, "kind": kind, "configs": configs,
        "sources": source_table, "licence": licence, "licence_order": list(source_registry.LICENCE_ORDER),
        "numbers": nums, "stages": cards.stage_rows(nums["stages"]), "rejects": nums["rejects_by_reason"],
        "source_stages": cards.source_stage_rows(nums["stats"]),
        "models": [{"stage": st, "model": m, "rows": n} for (st, m), n in sorted(parts.models.items())],
        "translation": (nums["stats"] or {}).get("translation") or {},
        "origin_table": cards.origin_table(nums["stats"] or {}),
        "provenance": cards.provenance(cards.find_recipe(dataset_dir, recipe)), "fingerprint": fingerprint,
        "bundle_fingerprint": bundle_fp, "gate": validation, "hala_citation": cards.HALA_CITATION,
        "fields": cards.schema_fields(shard.schema_arrow), "example": cards.example_record(first_row, card_kind),
        "translated": "translate" in (nums["stages"] or {}) or any(st == "translate" for st, _ in parts.models),
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
