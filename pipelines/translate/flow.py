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
from typing import Any, Callable, Iterator, Literal

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers import JsonlWriter
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hala.pipelines.core.config import write_recipe
from hala.pipelines.core.executors import ExecutorConfig, make_executor, run_stages, submitted
from hala.pipelines.core.progress import StageProgress, input_rows
from hala.pipelines.core.records import (
    document_row_adapter,
    messages_text,
    stage_meta,
)
from hala.pipelines.core.run_folder import bound_run, recipe_fingerprint
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.core.stats import write_stats
from hala.pipelines.io.records import WorkJsonlReader, record_writer
from hala.pipelines.io.sources import ChainedSources
from hala.pipelines.serving.identity import model_identity
from hala.pipelines.serving.servers import (
    HalaInferenceRunner,
    ServerConfig,
    check_endpoint,
    inference_config,
    retry_policy,
)
from hala.pipelines.sources.normalize import NormalizeStage
from hala.pipelines.sources.spec import COLUMNS_HELP, FORMAT_HELP, SourceSpec, check_columns, check_format
from hala.pipelines.translate.memory import TranslationMemory, merge_memories
from hala.pipelines.translate.prompts import load_prompt
from hala.pipelines.translate.rollout import SegmentTranslator, TranslationSettings, translate_rollout
from hala.pipelines.translate.source_lang import SourceLangConfig, SourceLangStage

DEFAULT_TM = Path.home() / ".cache" / "hala" / "tm.sqlite"


class TranslateConfig(BaseModel):
    """Everything `hala translate` does; every flag is also a recipe key (`flow: translate`)."""

    model_config = ConfigDict(extra="forbid")

    flow: Literal["translate"] = "translate"
    input: str = Field(..., description="file or folder of jsonl/parquet, or a Hub dataset id")
    output: str = Field(..., min_length=1, pattern=r"\S", description="output folder: data/*.parquet, rejects/, "
                        "stats.json")
    format: str = Field("auto", description=FORMAT_HELP)
    columns: dict[str, Any] | None = Field(None, description=COLUMNS_HELP)
    dataset_name: str | None = Field(None, description="source dataset name recorded on every row")
    config: str | None = Field(None, description="Hub dataset config")
    split: str = Field("train", description="split to read and to record")
    limit: int = Field(-1, ge=-1, description="the first N rows of the input in total, however many tasks (-1: all)")
    server: ServerConfig = Field(default_factory=ServerConfig)
    prompt: str = Field("lfm2", description="built-in prompt (lfm2, teacher, plain) or a YAML prompt file")
    max_segment_tokens: int = Field(384, ge=16, description="longer content is split at sentence ends")
    tm_path: str | None = Field(None, description=f"translation memory (default {DEFAULT_TM})")
    records_per_chunk: int = Field(200, ge=1, description="rows per resumable checkpoint chunk")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    overwrite: bool = Field(False, description="start OUTPUT clean when it holds another run")
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



# settings that do not change a row: how fast, where, with which key — a resume may change them
NOT_ROW_SETTINGS = ("executor.workers", "executor.type", "executor.wait", "executor.slurm", "executor.ray", "server.max_concurrency",
                    "server.startup_timeout_s", "server.api_key_env", "server.endpoint", "server.device",
                    "server.cpu_threads", "server.max_batch", "server.max_batch_tokens", "server.continuous_batching",
                    "server.tp", "server.dp", "server.model_kwargs", "server.retries", "server.retry_backoff_s",
                    "tm_path")


class TranslateOutcomeStage(HalaStage):
    """Turns each rollout outcome into the Arabic record (English kept in `messages_en`) or a reasoned reject."""

    stage = "translate"

    def __init__(self, output_dir: str | None = None, model: str = ""):
        super().__init__(output_dir)
        self.model = model

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        results = doc.metadata.pop("rollout_results", None) or []
        outcome = results[0] if results else {"status": "rejected", "reason": "bad_request", "detail": "no rollout"}
        origins = Counter(outcome.get("origins", {}))
        for key in ("segments", "tm_hits", "model_calls", "shared_inflight", "failed"):
            self.stat_update(key, value=origins.get(key, 0))
        meta = stage_meta(doc)
        if outcome.get("status") != "ok":
            return self.reject(doc, outcome.get("reason", "bad_request"), outcome.get("detail", ""))
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
    reads the shared one read-only; `merge_task_memories` folds them in once the stage is complete. The TM keys on
    the model's `identity` (hala.pipelines.serving.identity), not its name."""

    model: str
    prompt: str
    tm_path: str
    max_segment_tokens: int
    identity: str
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
        settings = TranslationSettings(model=self.identity, prompt=load_prompt(self.prompt),
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


TINY_MODEL = "tiny"  # the only way to pick the tiny demo model: `--model tiny` / `server.model: tiny`
TINY_WARNING = ("--model tiny: a tiny random LFM2 built on this machine; its output is meaningless (it proves the "
                "plumbing, not translation quality)")
NO_MODEL = ("no model: name one with --model PATH_OR_HUB_ID (recipe key `server.model`), or --model tiny for the "
            "tiny demo model (meaningless output)")


TINY_WARNED: list[bool] = []  # the tiny model's notice is shown once per process


_RESOLVED: dict[str, tuple[str, bool, str]] = {}


def check_tm(path: str) -> None:
    """The translation memory opens (a folder or a file that is not SQLite is one line, before any task)."""
    import sqlite3

    from hala.pipelines.core.errors import UserError

    p = Path(path)
    if p.is_dir():
        raise UserError(f"--tm {path}: a folder; give the translation memory's file (it is created if missing)")
    if p.exists():
        try:
            with sqlite3.connect(f"file:{p}?mode=ro", uri=True) as con:
                con.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.DatabaseError as e:
            raise UserError(f"--tm {path}: not a translation memory ({e})") from None


def resolve_model(server: ServerConfig) -> tuple[str, bool]:
    """The model to serve, and whether it is the tiny demo model (only when named `tiny`: never a default).

    Checked here, in the main process, before any task or server starts: a model must be named, a local model folder
    must exist (absolute path returned), a Hub id must be openable, an endpoint must answer and serve the named
    model."""
    return _resolve(server)[:2]


def model_identity_of(server: ServerConfig) -> str:
    """The served model's identity (revision or weights hash), checked once per server config."""
    return _resolve(server)[2]


def _resolve(server: ServerConfig) -> tuple[str, bool, str]:
    key = server.model_dump_json()
    if key not in _RESOLVED:
        model, tiny = _resolve_model(server)
        _RESOLVED[key] = (model, tiny, model_identity(server.type, model, server.model_revision))
    return _RESOLVED[key]


def _resolve_model(server: ServerConfig) -> tuple[str, bool]:
    import sys

    from hala.pipelines.core.errors import UserError

    if not server.model:
        raise UserError(NO_MODEL)
    if server.type in ("vllm", "sglang"):
        import importlib.util

        if importlib.util.find_spec(server.type) is None:
            raise UserError(f"--server {server.type}: {server.type} is not installed here (pip install {server.type}, "
                            "on a GPU machine); on CPU use --server transformers or batched")
    if server.type == "endpoint":
        check_endpoint(server, server.model)
        return server.model, False
    if server.model == TINY_MODEL:
        from hala.pipelines.serving.tiny_model import cached_tiny_model

        if not TINY_WARNED:  # once per run, however many stages resolve the model
            print(f"warning: {TINY_WARNING}", file=sys.stderr)
            TINY_WARNED.append(True)
        return str(cached_tiny_model()), True
    from hala.pipelines.core.hub import locate

    return locate(server.model, "model"), False


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
    load_prompt(cfg.prompt)  # a bad prompt file fails here with one line, not inside a task
    model, _ = resolve_model(cfg.server)
    identity = model_identity_of(cfg.server)
    check_tm(cfg.tm_path or str(DEFAULT_TM))
    write_recipe(out, cfg)  # the first thing written: every check above has passed
    runner = HalaInferenceRunner(
        rollout_fn=translate_rollout,
        config=inference_config(cfg.server, model, log_folder=str(out / "logs" / "translate" / "server")),
        output_writer=JsonlWriter(str(work / "translated"), output_filename="${rank}_chunk_${chunk_index}.jsonl",
                                  compression=None, adapter=document_row_adapter),
        shared_context=TranslatorContext(model, cfg.prompt, cfg.tm_path or str(DEFAULT_TM), cfg.max_segment_tokens,
                                         identity, str(task_tm_dir(cfg)) if task_tm_dir(cfg) else None),
        checkpoints_local_dir=str(work / "checkpoints"),
        records_per_chunk=cfg.records_per_chunk,
        replay_cache=False,  # the translation memory already keeps every translated segment
        retry=retry_policy(cfg.server),
    )
    progress = StageProgress("translate", input_rows(cfg.input, cfg.limit) if cfg.input else None)
    checks = [SourceLangStage(str(out), cfg.source_lang)] if cfg.source_lang else []
    first = make_executor(cfg.executor, [reader, progress, normalize, *checks, runner], str(out / "logs" / "translate"))
    writer = record_writer("instructions", data_dir or str(out / "data"))  # same shards, per-batch bookkeeping
    second = make_executor(
        cfg.executor,
        [WorkJsonlReader(str(work / "translated"), compression=None), TranslateOutcomeStage(str(out), model),
         *(later_steps or []), writer],
        str(out / "logs" / "finalize"),
        depends=first,  # run alone (teacher pairs), it runs `first` first; run_stages runs both in order anyway
    )
    return first, second


def translate_fingerprint(cfg: BaseModel) -> dict:
    """What determines a translate-based flow's rows (OUT/run.json): the recipe's row settings, the input's data,
    the model's identity and the prompt's version."""
    return recipe_fingerprint(cfg.flow, cfg.model_dump(mode="json"), {"input": cfg.input}, NOT_ROW_SETTINGS,
                              model=model_identity_of(cfg.server), prompt_version=load_prompt(cfg.prompt).version)


def check_translate(cfg: TranslateConfig) -> None:
    """What every translate-based flow checks before its output folder is touched, in the order a user fixes
    things: the input, the prompt, then the model (a missing model is named last, not in place of a typo)."""
    for spec in cfg.source_specs():
        spec.reader()  # a missing path or an unreadable Hub id: one line
        spec.check_first_rows()  # a column the mapping names that the input lacks: one line
    load_prompt(cfg.prompt)
    resolve_model(cfg.server)


def translate_stages(cfg: TranslateConfig, first, second) -> tuple[list, dict]:
    """The (name, executor) stages and the after-stage hooks for `run_stages`: the TM merge follows translation."""
    return [("translate", first), ("finalize", second)], {"translate": lambda: merge_task_memories(cfg)}


def run_translate(cfg: TranslateConfig, later_steps: list[PipelineStep] | None = None) -> dict:
    """Run the translate stage; returns the stats written to OUT/stats.json."""
    check_translate(cfg)
    with bound_run(cfg.output, translate_fingerprint(cfg), cfg.overwrite) as out:
        merge_task_memories(cfg)  # what tasks of an earlier submission translated (a no-op when merged already)
        first, second = translate_pipelines(cfg, later_steps)
        if not run_stages(cfg.executor, *translate_stages(cfg, first, second)):  # completed tasks are skipped
            return submitted(out, second)
        (out / "data").mkdir(exist_ok=True)  # a run that kept no row still has its (empty) data folder
        return write_stats(out, [out / "logs" / "translate", out / "logs" / "finalize"])
