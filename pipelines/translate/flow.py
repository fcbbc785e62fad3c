"""The corpus-translation stage as datatrove pipelines: read → normalize → translate (InferenceRunner) → finalize.

Two executors. The first reads and normalizes the source rows and runs the rollout through datatrove's
`InferenceRunner`, which checkpoints finished rows in chunks so a killed run resumes where it stopped. The second
reads the runner's output, turns each rollout outcome into an Arabic record or a reasoned `translate` reject, runs
any later in-flow stages (filters), and writes parquet. Every stage's read = kept + rejected lands in `stats.json`.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Literal

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
from pydantic import BaseModel, ConfigDict, Field

from hala.pipelines.core.config import write_recipe
from hala.pipelines.core.executors import ExecutorConfig, make_executor, run_stages, submitted
from hala.pipelines.core.records import instruction_schema, instruction_writer_adapter, messages_text, stage_meta
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.core.stats import write_stats
from hala.pipelines.io.sources import source_reader
from hala.pipelines.serving.servers import HalaInferenceRunner, ServerConfig, check_endpoint, inference_config
from hala.pipelines.sources.normalize import NormalizeStage
from hala.pipelines.translate.memory import TranslationMemory, merge_memories
from hala.pipelines.translate.prompts import load_prompt
from hala.pipelines.translate.rollout import SegmentTranslator, TranslationSettings, translate_rollout

DEFAULT_TM = Path.home() / ".cache" / "hala" / "tm.sqlite"


class TranslateConfig(BaseModel):
    """Everything `hala translate` does; every flag is also a recipe key (`flow: translate`)."""

    model_config = ConfigDict(extra="forbid")

    flow: Literal["translate"] = "translate"
    input: str = Field(..., description="file or folder of jsonl/parquet, or a Hub dataset id")
    output: str = Field(..., description="output folder: data/*.parquet, rejects/, stats.json")
    format: str = Field("auto", pattern="^(auto|alpaca|sharegpt|openorca|messages)$")
    dataset_name: str | None = Field(None, description="source dataset name recorded on every row")
    config: str | None = Field(None, description="Hub dataset config")
    split: str = Field("train", description="split to read and to record")
    limit: int = Field(-1, description="the first N rows of the input in total, however many tasks (-1: all)")
    server: ServerConfig = Field(default_factory=ServerConfig)
    prompt: str = Field("lfm2", description="built-in prompt (lfm2, teacher) or a YAML prompt file")
    max_segment_tokens: int = Field(384, ge=16, description="longer content is split at sentence ends")
    tm_path: str | None = Field(None, description=f"translation memory (default {DEFAULT_TM})")
    records_per_chunk: int = Field(200, ge=1, description="rows per resumable checkpoint chunk")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)


class TranslateOutcomeStage(HalaStage):
    """Turns each rollout outcome into the Arabic record (English kept in `messages_en`) or a reasoned reject."""

    stage = "translate"

    def __init__(self, output_dir: str | None = None, model: str = ""):
        super().__init__(output_dir)
        self.model = model

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        results = doc.metadata.pop("rollout_results", None) or []
        outcome = results[0] if results else {"status": "rejected", "reason": "server_error", "detail": "no rollout"}
        origins = Counter(outcome.get("origins", {}))
        for key in ("segments", "tm_hits", "model_calls", "shared_inflight", "failed"):
            self.stat_update(key, value=origins.get(key, 0))
        meta = stage_meta(doc)
        if outcome.get("status") != "ok":
            return self.reject(doc, outcome.get("reason", "server_error"), outcome.get("detail", ""))
        doc.metadata["messages_en"] = doc.metadata["messages"]
        doc.metadata["messages"] = outcome["messages"]
        doc.metadata["lang"] = "ar"
        meta["translate"] = {**{k: origins.get(k, 0) for k in ("segments", "tm_hits", "model_calls")},
                             "model": self.model}
        doc.text = messages_text(outcome["messages"])
        return True


def _token_counter(model: str) -> Callable[[str], int]:
    """The model's own tokenizer when it is a local folder; else a chars/3 estimate (remote endpoints).

    A fast tokenizer's `tokenizer.json` is loaded with `tokenizers` alone (the same ids as the transformers
    wrapper without special tokens): importing transformers here blocked the task's event loop for seconds
    before the model server could even be launched."""
    from hala.pipelines.translate.rollout import count_tokens_heuristic

    if Path(model, "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        fast = Tokenizer.from_file(str(Path(model, "tokenizer.json")))
        return lambda text: len(fast.encode(text, add_special_tokens=False).ids)
    if Path(model, "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model)
        return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])
    return count_tokens_heuristic


@dataclass(frozen=True)
class TranslatorContext:
    """The rollout's shared context, picklable (it travels to Slurm and Ray tasks); the TM is opened inside the task
    process and closed after. With `task_tm_dir` (multi-node executors) the task writes its own TM file there and
    reads the shared one read-only; `merge_task_memories` folds them in once the stage is complete."""

    model: str
    prompt: str
    tm_path: str
    max_segment_tokens: int
    task_tm_dir: str | None = None
    rank: int = 0

    def for_rank(self, rank: int) -> "TranslatorContext":
        return replace(self, rank=rank)

    @contextmanager
    def __call__(self) -> Iterator[dict]:
        if self.task_tm_dir:
            tm = TranslationMemory(Path(self.task_tm_dir) / f"{self.rank:05d}.sqlite", seed=self.tm_path, wal=False)
        else:
            tm = TranslationMemory(self.tm_path)
        settings = TranslationSettings(model=self.model, prompt=load_prompt(self.prompt),
                                       max_segment_tokens=self.max_segment_tokens)
        try:
            yield {"translator": SegmentTranslator(settings, tm, _token_counter(self.model))}
        finally:
            tm.close()


def task_tm_dir(cfg: TranslateConfig) -> Path | None:
    """Where the tasks write their own TM files (multi-node executors only)."""
    return Path(cfg.output) / "work" / "tm" if cfg.executor.multi_node else None


def merge_task_memories(cfg: TranslateConfig) -> int:
    """The tasks' new TM entries into the shared TM (idempotent: safe after every run, whatever was merged before);
    on a multi-node executor this also leaves the shared TM in rollback-journal mode before any task opens it
    read-only from another machine. A no-op on the local executor (its tasks share the TM directly)."""
    folder = task_tm_dir(cfg)
    if folder is None:
        return 0
    parts = sorted(folder.glob("*.sqlite")) if folder.is_dir() else []
    return merge_memories(cfg.tm_path or str(DEFAULT_TM), parts)


def resolve_model(server: ServerConfig) -> tuple[str, bool]:
    """The model to serve, and whether it is the tiny demo model (built on the spot when none is given).

    Checked here, in the main process, before any task or server starts: a local model folder must exist (absolute
    path returned), a Hub id must be openable, an endpoint must answer and serve the named model."""
    from hala.pipelines.core.errors import UserError

    if server.type == "endpoint":
        if not server.model:
            raise UserError("an endpoint server needs a model name (--model)")
        check_endpoint(server, server.model)
        return server.model, False
    if server.model:
        from hala.pipelines.core.hub import locate

        return locate(server.model, "model"), False
    from hala.pipelines.serving.tiny_model import cached_tiny_model

    return str(cached_tiny_model()), True


def translate_pipelines(cfg: TranslateConfig, later_steps: list[PipelineStep] | None = None,
                        data_dir: str | None = None):
    """The two executors of the translate stage (not yet run), once the model, prompt and input have been checked;
    `cfg` (the whole recipe of the flow that calls this) is recorded as OUT/recipe.yaml."""
    out = Path(cfg.output)
    work = out / "work"
    model, _ = resolve_model(cfg.server)
    load_prompt(cfg.prompt)  # a bad prompt file fails here with one line, not inside a task
    reader = source_reader(cfg.input, cfg.dataset_name, cfg.config, cfg.split, cfg.limit)
    write_recipe(out, cfg)
    runner = HalaInferenceRunner(
        rollout_fn=translate_rollout,
        config=inference_config(cfg.server, model),
        output_writer=JsonlWriter(str(work / "translated"), output_filename="${rank}_chunk_${chunk_index}.jsonl",
                                  compression=None),
        shared_context=TranslatorContext(model, cfg.prompt, cfg.tm_path or str(DEFAULT_TM), cfg.max_segment_tokens,
                                         str(task_tm_dir(cfg)) if task_tm_dir(cfg) else None),
        checkpoints_local_dir=str(work / "checkpoints"),
        records_per_chunk=cfg.records_per_chunk,
        replay_cache=False,  # the translation memory already keeps every translated segment
    )
    first = make_executor(cfg.executor, [reader, NormalizeStage(str(out), cfg.format), runner],
                          str(out / "logs" / "translate"))
    writer = ParquetWriter(data_dir or str(out / "data"), output_filename="${rank}.parquet",
                           adapter=instruction_writer_adapter, schema=instruction_schema())
    second = make_executor(
        cfg.executor,
        [JsonlReader(str(work / "translated"), compression=None), TranslateOutcomeStage(str(out), model),
         *(later_steps or []), writer],
        str(out / "logs" / "finalize"),
        depends=first,  # run alone (teacher pairs), it runs `first` first; run_stages runs both in order anyway
    )
    return first, second


def translate_stages(cfg: TranslateConfig, first, second) -> tuple[list, dict]:
    """The (name, executor) stages and the after-stage hooks for `run_stages`: the TM merge follows translation."""
    return [("translate", first), ("finalize", second)], {"translate": lambda: merge_task_memories(cfg)}


def run_translate(cfg: TranslateConfig, later_steps: list[PipelineStep] | None = None) -> dict:
    """Run the translate stage; returns the stats written to OUT/stats.json."""
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    merge_task_memories(cfg)  # what tasks of an earlier submission translated (a no-op when merged already)
    first, second = translate_pipelines(cfg, later_steps)
    if not run_stages(cfg.executor, *translate_stages(cfg, first, second)):  # completed tasks are skipped
        return submitted(out, second)
    return write_stats(out, [out / "logs" / "translate", out / "logs" / "finalize"])
