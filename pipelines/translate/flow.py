"""The corpus-translation stage as datatrove pipelines: read → normalize → translate (InferenceRunner) → finalize.

Two executors. The first reads and normalizes the source rows and runs the rollout through datatrove's
`InferenceRunner`, which checkpoints finished rows in chunks so a killed run resumes where it stopped. The second
reads the runner's output, turns each rollout outcome into an Arabic record or a reasoned `translate` reject, runs
any later in-flow stages (filters), and writes parquet. Every stage's read = kept + rejected lands in `stats.json`.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hala.pipelines.core.config import write_recipe
from hala.pipelines.core.executors import ExecutorConfig, make_executor, run_executor, submitted
from hala.pipelines.core.records import instruction_schema, instruction_writer_adapter, messages_text, stage_meta
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.core.stats import write_stats
from hala.pipelines.io.sources import ChainedSources
from hala.pipelines.serving.servers import HalaInferenceRunner, ServerConfig, check_endpoint, inference_config
from hala.pipelines.sources.normalize import NormalizeStage
from hala.pipelines.sources.spec import COLUMNS_HELP, FORMAT_HELP, SourceSpec, check_columns, check_format
from hala.pipelines.translate.memory import TranslationMemory
from hala.pipelines.translate.prompts import load_prompt
from hala.pipelines.translate.rollout import SegmentTranslator, TranslationSettings, translate_rollout
from hala.pipelines.translate.source_lang import SourceLangConfig, SourceLangStage

DEFAULT_TM = Path.home() / ".cache" / "hala" / "tm.sqlite"


class TranslateConfig(BaseModel):
    """Everything `hala translate` does; every flag is also a recipe key (`flow: translate`)."""

    model_config = ConfigDict(extra="forbid")

    flow: Literal["translate"] = "translate"
    input: str = Field(..., description="file or folder of jsonl/parquet, or a Hub dataset id")
    output: str = Field(..., description="output folder: data/*.parquet, rejects/, stats.json")
    format: str = Field("auto", description=FORMAT_HELP)
    columns: dict[str, Any] | None = Field(None, description=COLUMNS_HELP)
    dataset_name: str | None = Field(None, description="source dataset name recorded on every row")
    config: str | None = Field(None, description="Hub dataset config")
    split: str = Field("train", description="split to read and to record")
    limit: int = Field(-1, description="the first N rows of the input in total, however many tasks (-1: all)")
    server: ServerConfig = Field(default_factory=ServerConfig)
    prompt: str = Field("lfm2", description="built-in prompt (lfm2, teacher, plain) or a YAML prompt file")
    max_segment_tokens: int = Field(384, ge=16, description="longer content is split at sentence ends")
    tm_path: str | None = Field(None, description=f"translation memory (default {DEFAULT_TM})")
    records_per_chunk: int = Field(200, ge=1, description="rows per resumable checkpoint chunk")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    source_lang: SourceLangConfig | None = Field(default_factory=SourceLangConfig,
                                                 description="the English-source check before translation (null: off)")

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        return check_format(v)

    @model_validator(mode="after")
    def _columns(self):
        if self.columns is not None and self.input is not None:
            check_columns(self.source_specs()[0].resolved_format(), self.columns)
        return self

    def source_specs(self) -> list[SourceSpec]:
        """The sources this run reads (one for `hala translate`; a corpus recipe may list several)."""
        return [SourceSpec(input=self.input, name=self.dataset_name, config=self.config, split=self.split,
                           format=self.format, limit=self.limit, columns=self.columns)]


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


def translator_context(model: str, prompt: str, tm_path: str, max_segment_tokens: int):
    """A picklable factory for the rollout's shared context (TM opened inside the task process, closed after)."""

    @contextmanager
    def factory() -> Iterator[dict]:
        tm = TranslationMemory(tm_path)
        settings = TranslationSettings(model=model, prompt=load_prompt(prompt), max_segment_tokens=max_segment_tokens)
        try:
            yield {"translator": SegmentTranslator(settings, tm, _token_counter(model))}
        finally:
            tm.close()

    return factory


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


def source_steps(specs: list[SourceSpec], out: str):
    """The reader and the `normalize` stage for the run's sources, each checked against its first rows first.
    Several sources are read one after the other (each sharded across the tasks), each with its own format."""
    from hala.pipelines.core.errors import UserError

    names = [s.dataset() for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"sources: {dup[0]!r} named twice (give each source its own `name`)")
    for spec in specs:
        spec.check_first_rows()
    if len(specs) == 1:
        spec = specs[0]
        return spec.reader(), NormalizeStage(out, spec.resolved_format(), spec.columns)
    per_source = {s.dataset(): (s.resolved_format(), s.columns) for s in specs}
    return ChainedSources([s.reader(named=True) for s in specs]), NormalizeStage(out, per_source=per_source)


def translate_pipelines(cfg: TranslateConfig, later_steps: list[PipelineStep] | None = None,
                        data_dir: str | None = None):
    """The two executors of the translate stage (not yet run), once the model, prompt and input have been checked;
    `cfg` (the whole recipe of the flow that calls this) is recorded as OUT/recipe.yaml."""
    out = Path(cfg.output)
    work = out / "work"
    reader, normalize = source_steps(cfg.source_specs(), str(out))  # a wrong column: one line, before anything
    model, _ = resolve_model(cfg.server)
    load_prompt(cfg.prompt)  # a bad prompt file fails here with one line, not inside a task
    write_recipe(out, cfg)
    runner = HalaInferenceRunner(
        rollout_fn=translate_rollout,
        config=inference_config(cfg.server, model),
        output_writer=JsonlWriter(str(work / "translated"), output_filename="${rank}_chunk_${chunk_index}.jsonl",
                                  compression=None),
        shared_context=translator_context(model, cfg.prompt, cfg.tm_path or str(DEFAULT_TM), cfg.max_segment_tokens),
        checkpoints_local_dir=str(work / "checkpoints"),
        records_per_chunk=cfg.records_per_chunk,
        replay_cache=False,  # the translation memory already keeps every translated segment
    )
    checks = [SourceLangStage(str(out), cfg.source_lang)] if cfg.source_lang else []
    first = make_executor(cfg.executor, [reader, normalize, *checks, runner], str(out / "logs" / "translate"))
    writer = ParquetWriter(data_dir or str(out / "data"), output_filename="${rank}.parquet",
                           adapter=instruction_writer_adapter, schema=instruction_schema())
    second = make_executor(
        cfg.executor,
        [JsonlReader(str(work / "translated"), compression=None), TranslateOutcomeStage(str(out), model),
         *(later_steps or []), writer],
        str(out / "logs" / "finalize"),
        depends=first,
    )
    return first, second


def run_translate(cfg: TranslateConfig, later_steps: list[PipelineStep] | None = None) -> dict:
    """Run the translate stage; returns the stats written to OUT/stats.json."""
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    first, second = translate_pipelines(cfg, later_steps)
    if not run_executor(second, "translate"):  # runs `first` first (depends); both skip completed tasks
        return submitted(out, second)
    return write_stats(out, [out / "logs" / "translate", out / "logs" / "finalize"])
