"""Parallel-corpus mining: OPUS-100-style rows → cheap pre-filters → exact dedup → LLM judge → judged pairs.

Cheap first, expensive last. One datatrove pipeline reads the rows (local jsonl/parquet or a Hub id: OPUS-100 is
`Helsinki-NLP/opus-100`, config `ar-en`), turns each into a pair (`normalize`), and runs the `lid` (both sides) and
`quality` (empty, length ratio, …) stages; datatrove's exact dedup follows (`dedup`); only then does every surviving
pair cost a judge request, through datatrove's `InferenceRunner` (`judge`). Every dropped row lands in
OUT/rejects/<stage>/ with its reason, and stats.json has read = kept + rejected per stage.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from datatrove.data import Document
from pydantic import BaseModel, ConfigDict, Field

from hala.pipelines.bilingual.common import has_rows, merge_rejects
from hala.pipelines.bilingual.judge import (
    DEFAULT_JUDGE_PROMPT,
    JudgeOutcomeStage,
    JudgeSettings,
    judge_rollout,
    load_judge_prompt,
)
from hala.pipelines.core.executors import ExecutorConfig, followed, make_executor, run_stages
from hala.pipelines.core.progress import StageProgress, input_rows
from hala.pipelines.core.records import PAIR_FIELDS, document_to_record
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.core.stats import write_stats
from hala.pipelines.dedup.flow import DedupConfig
from hala.pipelines.filters import FilterConfig, build_filter_steps
from hala.pipelines.serving.servers import ServerConfig
from hala.pipelines.translate.flow import resolve_model


class JudgeConfig(BaseModel):
    """The judge request; the model is the recipe's `server.model` (Qwen2.5-3B-Instruct in the paper)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(DEFAULT_JUDGE_PROMPT, description="built-in judge prompt (judge_v1) or a prompt file path")
    max_tokens: int = Field(16, ge=1, description="a verdict is one word; longer answers are unparseable anyway")
    temperature: float = Field(0.0, ge=0)


def _exact_only() -> DedupConfig:
    return DedupConfig(key="conversation", exact=True, near=False)


class MineRecipe(BaseModel):
    """Mine EN↔AR pairs from a parallel corpus with pre-filters, exact dedup and an LLM judge."""

    model_config = ConfigDict(extra="forbid")

    flow: Literal["mine"] = "mine"
    input: str = Field(..., description="jsonl/parquet file or folder, or a Hub dataset id (Helsinki-NLP/opus-100)")
    output: str = Field(..., min_length=1, description="output folder: data/*.parquet, rejects/, stats.json")
    overwrite: bool = Field(False, description="start OUTPUT clean when it holds another run")
    dataset_name: str | None = Field(None, description="source name recorded in each pair's meta")
    config: str | None = Field(None, description="Hub dataset config (ar-en for OPUS-100)")
    split: str = Field("train")
    limit: int = Field(-1, ge=-1, description="the first N rows of the input, in total whatever the number of tasks "
                                              "(-1: all)")
    src_lang: str = Field("en", description="source side (key in `translation`)")
    tgt_lang: str = Field("ar", description="target side (key in `translation`)")
    origin: str = Field("opus-100", description="`origin` of every mined pair")
    filters: FilterConfig | None = Field(default_factory=FilterConfig, description="null: no LID/quality pre-filters")
    dedup: DedupConfig | None = Field(default_factory=_exact_only, description="null: no dedup (default: exact)")
    judge: JudgeConfig | None = Field(default_factory=JudgeConfig, description="null: keep pre-filtered pairs unjudged")
    server: ServerConfig = Field(default_factory=ServerConfig)
    records_per_chunk: int = Field(500, ge=1, description="pairs per resumable judge checkpoint chunk")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)


class ParallelRowStage(HalaStage):
    """A raw parallel row → a pair. Accepts `{"translation": {en, ar}}` (OPUS), `{en, ar}` and `{src, tgt}` rows;
    `unknown_format` when neither side is found, `non_string_content` for a non-text side. Empty sides pass on to the
    quality stage (`empty_content`)."""

    stage = "parallel_rows"

    def __init__(self, output_dir: str | None, src_lang: str, tgt_lang: str, origin: str):
        super().__init__(output_dir)
        self.src_lang, self.tgt_lang, self.origin = src_lang, tgt_lang, origin

    def _sides(self, raw) -> tuple[object, object] | None:
        if not isinstance(raw, dict):
            return None
        row = raw.get("translation") if isinstance(raw.get("translation"), dict) else raw
        if self.src_lang in row and self.tgt_lang in row:
            return row[self.src_lang], row[self.tgt_lang]
        if "src" in raw and "tgt" in raw:
            return raw["src"], raw["tgt"]
        return None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        meta = doc.metadata
        if unreadable := self.read_error(doc):
            return unreadable
        sides = self._sides(meta.get("raw"))
        if sides is None:
            keys = sorted(meta["raw"]) if isinstance(meta.get("raw"), dict) else type(meta.get("raw")).__name__
            return self.reject(doc, "unknown_format", f"no {self.src_lang}/{self.tgt_lang} sides (keys: {keys})")
        src, tgt = ("" if s is None else s for s in sides)
        if not isinstance(src, str) or not isinstance(tgt, str):
            return self.reject(doc, "non_string_content", f"src {type(src).__name__}, tgt {type(tgt).__name__}")
        meta.pop("raw")
        meta.pop("file", None)
        source = meta.pop("source", {}) or {}
        row = meta.pop("row", None)
        meta.update({"src_lang": self.src_lang, "tgt_lang": self.tgt_lang, "src": src, "tgt": tgt,
                     "origin": self.origin, "judge": None,
                     "meta": {"source": source.get("dataset", ""), "config": source.get("config", ""),
                              "split": source.get("split", ""), "revision": source.get("revision", ""),
                              "row": row}})
        doc.text = tgt
        return True


def judged_adapter(self, doc: Document) -> dict:
    """InferenceRunner output rows: the pair plus its rollout outcome (read back as a record, so none is dropped)."""
    return {**document_to_record(doc, PAIR_FIELDS), "rollout_results": doc.metadata.get("rollout_results")}


def model_label(model: str) -> str:
    """How a judge model is named on each pair: a local folder by its folder name, a Hub id as it is."""
    return Path(model).name if Path(model).is_dir() else model


def judge_pipelines(recipe: MineRecipe, input_dir: Path, out: Path):
    """The two executors of the judge stage: ask (InferenceRunner, checkpointed) and decide (`judge` stage)."""
    from datatrove.pipeline.writers import JsonlWriter

    from hala.pipelines.io.records import RecordJsonlReader, record_reader, record_writer
    from hala.pipelines.serving.servers import HalaInferenceRunner, inference_config, retry_policy

    model, _ = resolve_model(recipe.server)
    prompt = load_judge_prompt(recipe.judge.prompt)
    settings = JudgeSettings(model_label(model), prompt, recipe.judge.max_tokens, recipe.judge.temperature)
    work = out / "work"
    runner = HalaInferenceRunner(
        rollout_fn=judge_rollout,
        config=inference_config(recipe.server, model, log_folder=str(out / "logs" / "judge" / "server")),
        output_writer=JsonlWriter(str(work / "judged"), output_filename="${rank}_chunk_${chunk_index}.jsonl",
                                  compression=None, adapter=judged_adapter),
        shared_context={"judge": settings},
        checkpoints_local_dir=str(work / "judge_checkpoints"),
        records_per_chunk=recipe.records_per_chunk,
        retry=retry_policy(recipe.server),
    )
    ask = make_executor(recipe.executor, [record_reader(str(input_dir)), StageProgress("judge", input_rows(str(input_dir))),
                                          runner], str(out / "logs" / "judge"))
    decide = make_executor(recipe.executor, [RecordJsonlReader(str(work / "judged"), compression=None),
                                             JudgeOutcomeStage(str(out), settings.model, prompt.version),
                                             record_writer("pairs", str(out / "data"))],
                           str(out / "logs" / "judge_finalize"), depends=ask, tasks=1)
    return ask, decide


def run_mine(recipe: MineRecipe) -> dict:
    """Pre-filter, dedup and judge; OUT/data holds the accepted pairs, OUT/rejects the rest with reasons."""
    from hala.pipelines.core.run_folder import bound_run, recipe_fingerprint
    from hala.pipelines.io.sources import source_reader
    from hala.pipelines.translate.flow import NOT_ROW_SETTINGS, model_identity_of

    judge = recipe.judge
    source_reader(recipe.input, recipe.dataset_name, recipe.config, recipe.split, recipe.limit)  # the input first
    if judge:
        load_judge_prompt(judge.prompt)
    fingerprint = recipe_fingerprint("mine", recipe.model_dump(mode="json"), {"input": recipe.input},
                                     NOT_ROW_SETTINGS, model=model_identity_of(recipe.server) if judge else None,
                                     prompt_version=load_judge_prompt(judge.prompt).version if judge else None)
    with bound_run(recipe.output, fingerprint, recipe.overwrite):
        return _run_mine(recipe)


def _run_mine(recipe: MineRecipe) -> dict:
    from hala.pipelines.core.config import write_recipe
    from hala.pipelines.dedup.flow import run_dedup
    from hala.pipelines.io.records import record_writer
    from hala.pipelines.io.sources import source_reader

    out = Path(recipe.output)
    reader = source_reader(recipe.input, recipe.dataset_name, recipe.config, recipe.split, recipe.limit)
    if recipe.judge:  # the judge's prompt and model are checked before anything is written
        load_judge_prompt(recipe.judge.prompt)
        resolve_model(recipe.server)
    write_recipe(out, recipe)  # models, judge prompt and thresholds for the card; `hala run OUT/recipe.yaml` re-runs
    (out / "data").mkdir(exist_ok=True)
    work = out / "work"
    prefiltered = work / "prefiltered"
    steps = [reader, StageProgress("prefilter", input_rows(recipe.input, recipe.limit)),
             ParallelRowStage(str(out), recipe.src_lang, recipe.tgt_lang, recipe.origin),
             *(build_filter_steps("pairs", str(out), recipe.filters) if recipe.filters else []),
             record_writer("pairs", str(prefiltered / "data"))]
    engine = followed(recipe.executor)  # each stage reads the last one's output
    run_stages(engine, [("prefilter", make_executor(engine, steps, str(out / "logs" / "prefilter")))])
    logs = [out / "logs" / "prefilter"]
    current = prefiltered / "data"
    if recipe.dedup and has_rows(current):
        deduped = work / "deduped"
        run_dedup(str(prefiltered), str(deduped), recipe.dedup, kind="pairs", executor=engine)
        merge_rejects(deduped, out)
        logs += sorted(p for p in (deduped / "logs").glob("dedup*") if p.is_dir())
        current = deduped / "data"
    if recipe.judge and has_rows(current):
        ask, decide = judge_pipelines(recipe, current, out)
        run_stages(engine, [("judge", ask), ("judge_finalize", decide)])
        logs += [out / "logs" / "judge", out / "logs" / "judge_finalize"]
    elif not recipe.judge and has_rows(current):
        for f in sorted(current.glob("*.parquet")):
            shutil.copyfile(f, out / "data" / f.name)
    prompt_version = load_judge_prompt(recipe.judge.prompt).version if recipe.judge else None
    extra = {"origin": recipe.origin, "judge": {"prompt_version": prompt_version} if recipe.judge else None}
    return write_stats(out, logs, extra=extra, kind="pairs")
