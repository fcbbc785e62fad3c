"""Exact and MinHash near-deduplication over the normalized Arabic key, with datatrove's multi-stage dedup.

`run_dedup(input_dir, output_dir, config)` runs four datatrove executors (logs under OUTPUT/logs/dedup_*), as many
as datatrove's own MinHash pipeline, and reads the input twice:

1. signatures: each row's key is normalized (once) and hashed, and its MinHash signature written
   (MinhashDedupSignature);
2. buckets (MinhashDedupBuckets, one task per band; only with `near`);
3. clusters (MinhashDedupCluster, one task), then the decisions: exact copies share their twin's signature, so
   the clusters and the key hashes together give every group of duplicates and its kept twin (the smallest id);
4. final: the `dedup` stage rejects each duplicate with its reason and `kept=<twin id>`, and writes the rest.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hala.pipelines.core.config import write_recipe
from hala.pipelines.core.executors import ExecutorConfig, make_executor, run_stages, submitted
from hala.pipelines.core.progress import StageProgress, input_rows
from hala.pipelines.core.run_folder import bound_run, recipe_fingerprint
from hala.pipelines.core.stats import atomic_write_json, write_stats
from hala.pipelines.dedup.keys import DedupKeyName, dedup_key
from hala.pipelines.filters import FilterConfig, Kind
from hala.pipelines.io.records import detect_kind, record_reader

SIGNATURES_STAGE = "dedup_1_signatures"
FINAL_STAGE = "dedup_4_final"  # its logs hold the `dedup` stage's accounting


class DedupConfig(BaseModel):
    """Deduplication settings (a recipe's `dedup:` block)."""

    model_config = ConfigDict(extra="forbid")

    key: DedupKeyName = Field("conversation", description="what is compared: user (user turns), conversation (every "
                              "message / src+tgt), source (the English original), target (a pair's tgt)")
    exact: bool = Field(True, description="drop exact duplicates of the normalized key (exact_duplicate)")
    near: bool = Field(True, description="drop MinHash near-duplicates (near_duplicate)")
    n_grams: int = Field(3, ge=1, description="words per MinHash shingle; keys shorter than this are only "
                         "exact-deduplicated")
    num_buckets: int = Field(14, ge=1, description="MinHash LSH bands")
    hashes_per_bucket: int = Field(8, ge=1, description="hashes per band; similarity threshold ≈ "
                                   "(1/num_buckets)^(1/hashes_per_bucket) ≈ 0.72 with the defaults")
    seed: int = Field(1, description="MinHash permutation seed (same on every task)")


def run_dedup(input_dir: str, output_dir: str, config: DedupConfig | None = None, tasks: int = 1, workers: int = 1,
              kind: str | None = None, check_input: bool = False, recipe: BaseModel | None = None,
              overwrite: bool = False, executor: ExecutorConfig | None = None) -> dict:
    """Deduplicate the records of INPUT into OUTPUT (data/, rejects/dedup/, stats.json); returns the stats (or, when
    the stages were submitted to Slurm without waiting, what `submitted` says).

    `executor` (a recipe's block) runs every stage on its engine with its task count; without it `tasks`/`workers`
    on the local executor. The stages whose parallelism is fixed keep it: one task for the exact-duplicate finder
    and the MinHash clustering, one per band for the MinHash buckets.

    `check_input` (what `hala dedup` sets): INPUT is anyone's data, so rows that are not records leave as rejects
    of a `read` stage before dedup (every pass drops them the same way, so positions agree). Without it INPUT is
    what another hala stage wrote (its own `read` stage already counted the input), and such a row is a UserError."""
    config = config or DedupConfig()
    kind = detect_kind(input_dir, kind)
    dedup_key({}, kind, config.key)  # a key that does not fit the kind fails here, before any work
    if check_input:
        record_reader(input_dir, kind=kind, quarantine=True)  # anyone's input: no files, empty files fail here
    engine = executor or ExecutorConfig(tasks=tasks, workers=workers)
    fingerprint = recipe_fingerprint("dedup", {"kind": kind, "dedup": config.model_dump(mode="json"),
                                               "tasks": engine.tasks, "check_input": check_input}, {"input": input_dir})
    with bound_run(output_dir, fingerprint, overwrite) as out:
        if recipe is not None:
            write_recipe(out, recipe)  # the first thing written: every check above has passed
        return _run_dedup(input_dir, out, config, engine, kind, check_input)


def _run_dedup(input_dir: str, out: Path, config: DedupConfig, engine: ExecutorConfig, kind: str,
               check_input: bool) -> dict:
    """run_dedup's work, once OUTPUT is bound to this run."""
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupSignature,
    )
    from datatrove.utils.hashing import HashConfig

    from hala.pipelines.dedup import steps
    from hala.pipelines.dedup.steps import DedupStage, ResolveDuplicates, SetDedupKey, SplitWordTokenizer
    from hala.pipelines.io.records import ReadStage, input_files, record_reader, record_writer

    stages: list[tuple[str, object]] = []

    def stage(name: str, pipeline: list, n_tasks: int | None = None) -> None:
        stages.append((name, make_executor(engine, pipeline, logs / name, tasks=n_tasks)))

    logs = out / "logs"
    work = out / "work" / "dedup"
    if not input_files(input_dir)[1]:  # everything was filtered out upstream: an empty stage, accounted as such
        (out / "data").mkdir(parents=True, exist_ok=True)
        stats = write_stats(out, kind=kind)
        empty = {"read": 0, "kept": 0, "rejected": 0, "reasons": {}}
        stats["stages"].update({"read": dict(empty)} if check_input else {}, dedup=empty)
        atomic_write_json(out / "stats.json", stats)
        return stats

    def reader(rejects: str | None = None) -> list:
        """The input's records: with `check_input`, the `read` stage after the reader (rejects written once)."""
        if not check_input:
            return [record_reader(input_dir, kind=kind)]
        return [record_reader(input_dir, kind=kind, quarantine=True), ReadStage(rejects)]

    # sha1 shingle hashes: datatrove's default xxhash hasher takes bytes, but MinHash hands it str shingles
    mh_cfg = MinhashConfig(n_grams=config.n_grams, num_buckets=config.num_buckets,
                           hashes_per_bucket=config.hashes_per_bucket, seed=config.seed,
                           hash_config=HashConfig(hash_fc="sha1", precision=64), norm_config=steps.AS_IS)
    keys = SetDedupKey(kind, config.key, str(work / "keys"))
    near = [MinhashDedupSignature(str(work / "mh_sigs"), config=mh_cfg, language=SplitWordTokenizer())]
    stage(SIGNATURES_STAGE, [*reader(), keys, *(near if config.near else [])])
    if config.near:
        stage("dedup_2_buckets",
              [MinhashDedupBuckets(str(work / "mh_sigs"), str(work / "mh_buckets"), config=mh_cfg)], config.num_buckets)
    resolve = ResolveDuplicates(str(work / "keys"), str(work / "mh_clusters") if config.near else None,
                                str(work / "decisions"), exact=config.exact, near=config.near)
    cluster = [MinhashDedupCluster(str(work / "mh_buckets"), str(work / "mh_clusters"), config=mh_cfg,
                                   save_cluster_id=True)] if config.near else []
    stage("dedup_3_clusters", [*cluster, resolve], 1)
    stage(FINAL_STAGE, [*reader(str(out)), StageProgress("dedup", input_rows(input_dir)),
                        DedupStage(str(out), str(work / "decisions")), record_writer(kind, str(out / "data"))])
    if not run_stages(engine, stages):
        return submitted(out, stages[-1][1], kind)
    return write_stats(out, kind=kind)


def run_filter_and_dedup(input_path: str, output_dir: str, kind: Kind | None = None,
                         filters: FilterConfig | None = None, dedup=None, tasks: int = 1, workers: int = 1,
                         recipe: BaseModel | None = None, overwrite: bool = False,
                         executor: ExecutorConfig | None = None) -> dict:
    """Filters, then (when `dedup` is a DedupConfig) deduplication of what the filters kept, into one OUTPUT."""
    from hala.pipelines.filters.flow import filter_fingerprint, run_filter

    filters = filters if filters is not None else FilterConfig()
    out = Path(output_dir)
    kind = detect_kind(input_path, kind)
    if dedup is None:
        return run_filter(input_path, output_dir, kind, filters, tasks, workers, recipe=recipe, overwrite=overwrite,
                          executor=executor)
    dedup_key({}, kind, dedup.key)  # before the filters run: a key that does not fit the kind
    engine = executor or ExecutorConfig(tasks=tasks, workers=workers)
    fingerprint = filter_fingerprint(input_path, kind, filters, engine.tasks, -1, dedup=dedup.model_dump(mode="json"))
    with bound_run(out, fingerprint, overwrite):
        return _filter_then_dedup(input_path, out, kind, filters, dedup, engine, recipe)


def _filter_then_dedup(input_path: str, out: Path, kind: str, filters: FilterConfig, dedup: DedupConfig,
                       engine: ExecutorConfig, recipe: BaseModel | None) -> dict:
    from hala.pipelines.filters.flow import run_filter

    output_dir = str(out)
    staged = out / "work" / "filtered"
    filtered = run_filter(input_path, output_dir, kind, filters, data_dir=str(staged / "data"), recipe=recipe,
                          executor=engine)
    if filtered.get("submitted"):
        return filtered
    # the staged rows were written by the filter run: its `read` stage already accounts for the input
    return run_dedup(str(staged), output_dir, dedup, kind=kind, executor=engine)


__all__ = ["FINAL_STAGE", "SIGNATURES_STAGE", "DedupConfig", "run_dedup", "run_filter_and_dedup", "dedup_key"]
