"""Pydantic models of the training recipes (`training/recipes/<model>/<stage>/config.yaml`).

One model per command; `extra="forbid"` everywhere so a misspelled key is named in a one-line error
(`hala.pipelines.core.config.validate`). Paths stay strings: a local folder works wherever a Hub id does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hala.pipelines.serving.servers import ServerConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerBlock(ServerConfig):
    """How held-out texts are translated: the pipelines' own `server:` block (same keys, same servers), plus the
    prompt. transformers/batched on CPU, vllm/sglang on GPUs (one server per model, started by datatrove as in the
    pipelines), endpoint for a running OpenAI-compatible server."""

    prompt: str = Field("lfm2", description="translation prompt: lfm2 | teacher | YAML file")

    @model_validator(mode="after")
    def _no_model(self) -> "ServerBlock":
        if self.model:
            raise ValueError("server.model is not used here: the models to score are the recipe's models")
        return self


class HeldOut(_Strict):
    """A held-out translation set: jsonl/parquet file or folder with `src`/`tgt` pairs or chat `messages` rows."""

    path: str = Field(..., description="file or folder (a translator-set folder: its pairs/test.parquet)")
    max_samples: int | None = Field(None, ge=1, description="first N rows only")
    src_lang: str | None = Field("en", description="keep pairs with this src_lang (pairs files only; null: all)")


class DatasetSpec(_Strict):
    """SFT data: conversational `messages` rows from a Hub id, a local parquet/jsonl folder or a hala dataset folder."""

    path: str = Field(..., description="Hub id, local folder (DATASET/data/*.parquet or *.parquet/*.jsonl) or file")
    name: str | None = Field(None, description="Hub config name")
    split: str = Field("train", description="split to train on")
    revision: str | None = None
    messages_field: str = Field("messages", description="column holding the conversation")
    max_samples: int | None = Field(None, ge=1)
    eval_split: str | None = Field(None, description="optional split for evaluation loss")
    allow_ungated: bool = Field(False, description="train on a local file or folder that has no passing "
                                "validation.json (`hala gate`); logged as a warning. Hub datasets need no gate")


def sft_config_fields() -> set[str]:
    """The keys `trl.SFTConfig` takes (its dataclass fields): the only keys a recipe's `training:` block may hold."""
    import dataclasses

    from trl import SFTConfig

    return {f.name for f in dataclasses.fields(SFTConfig) if f.init}


# Set by hala, not by a recipe: where the model goes is the recipe's `output_dir`, and the loss is assistant-only.
HALA_SET_SFT_KEYS = frozenset({"output_dir", "assistant_only_loss"})


class SFTRecipe(_Strict):
    """`hala train sft RECIPE`: TRL SFTTrainer, assistant-only loss, on conversational `messages`."""

    stage: Literal["translator", "hala"] = Field(..., description="translator (EN→AR) or hala (Arabic instructions)")
    model_name_or_path: str
    model_revision: str | None = None
    trust_remote_code: bool = False
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    chat_template: str | None = Field(None, description="a Jinja file replacing the model's template (optional)")
    dataset: DatasetSpec
    training: dict[str, Any] = Field(default_factory=dict, description="trl.SFTConfig fields, passed through as "
                                     "they are (alignment-handbook style); TRL's own defaults fill the rest")
    output_dir: str
    notes: str = Field("", description="free text: where the hyper-parameters come from")
    overwrite: bool = Field(False, description="start output_dir clean when it holds another run")

    @field_validator("training")
    @classmethod
    def _training_keys_are_sft_config_fields(cls, training: dict[str, Any]) -> dict[str, Any]:
        import difflib

        fields = sft_config_fields()
        for key in training:
            if key in HALA_SET_SFT_KEYS:
                raise ValueError(f"{key}: set by hala (the recipe's output_dir; assistant-only loss), not here")
            if key not in fields:
                near = difflib.get_close_matches(key, fields, n=3)
                raise ValueError(f"{key}: not a trl.SFTConfig field"
                                 + (f" (did you mean {', '.join(near)}?)" if near else ""))
        if training.get("use_cpu") and training.get("bf16", False):
            raise ValueError("use_cpu: true needs bf16: false (TRL trains in float32 on CPU)")
        return training


class CompressValidation(_Strict):
    heldout: HeldOut | None = Field(None, description="no held-out set: skip the BLEU/chrF check")
    max_bleu_drop: float = Field(1.0, description="fail (exit 1) when FP8 BLEU is lower than original by more")
    max_chrf_drop: float = Field(1.0, description="same for chrF++")
    server: ServerBlock = Field(default_factory=ServerBlock)


class Throughput(_Strict):
    batch_size: int = Field(8, ge=1)
    new_tokens: int = Field(32, ge=1, description="fixed number of generated tokens per sequence")
    repeats: int = Field(1, ge=1)
    device: str = Field("cpu", description="cpu | cuda")


class CompressRecipe(_Strict):
    """`hala compress`: llm-compressor FP8_DYNAMIC (weights FP8 per channel, activations FP8 per token at run time)."""

    model: str
    output_dir: str
    overwrite: bool = Field(False, description="start output_dir clean when it holds another run")
    scheme: str = "FP8_DYNAMIC"
    targets: list[str] = Field(default_factory=lambda: ["Linear"])
    ignore: list[str] = Field(default_factory=lambda: ["lm_head"])
    trust_remote_code: bool = False
    validation: CompressValidation = Field(default_factory=CompressValidation)
    throughput: Throughput | None = Field(default_factory=Throughput, description="null: skip the tokens/s test")


class MergeRecipe(_Strict):
    """`hala merge`: mergekit slerp of a fine-tuned model with its base (t=0 → base, t=1 → fine-tuned)."""

    base: str
    model: str
    output_dir: str
    overwrite: bool = Field(False, description="start output_dir clean when it holds another run")
    t: float = Field(0.5, ge=0, le=1, description="interpolation factor for every tensor not matched by t_filters")
    t_filters: dict[str, float] = Field(default_factory=dict,
                                        description="tensor-name substring → t, e.g. {self_attn: 0.3, feed_forward: 0.7}")
    dtype: str = Field("float32", description="output dtype (bfloat16 for real models)")
    copy_tokenizer_from: Literal["base", "model"] = Field("model", description="whose tokenizer/chat template to keep")

    @model_validator(mode="after")
    def _filters(self) -> "MergeRecipe":
        bad = {k: v for k, v in self.t_filters.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"t_filters values must lie in [0, 1]: {bad}")
        return self


class EvalRecipe(_Strict):
    """`hala eval`: translation BLEU/chrF++ through the pipelines' inference path, optional lighteval Arabic tasks."""

    models: dict[str, str] = Field(..., description="label → model path or Hub id, e.g. {base: ..., sft: ..., merged: ...}")
    heldout: HeldOut
    output_dir: str
    overwrite: bool = Field(False, description="start output_dir clean when it holds another run")
    server: ServerBlock = Field(default_factory=ServerBlock)
    lighteval_tasks: list[str] = Field(default_factory=list, description="benchmarks (arabic_mmlu, alghafa, "
                                       "arabic_exams, madinah_qa, aratrust, arabic_mmlu_ht) or full lighteval specs; "
                                       "run only if lighteval is installed")
    lighteval_custom_tasks: str | None = Field(None, description="lighteval's community_tasks/arabic_evals.py")
    lighteval_fewshot: int = Field(0, ge=0)


def bound_output(recipe: BaseModel, stage: str, models: dict[str, str], data: dict[str, str]):
    """`output_dir` bound to this run (hala.pipelines.core.run_folder): the recipe's settings, each model's identity
    (revision or weights hash) and each dataset's content. The same run again may write into it; another is refused
    unless `overwrite`; one writer at a time."""
    from hala.pipelines.core.run_folder import bound_run, recipe_fingerprint
    from hala.pipelines.serving.identity import model_identity

    dump = recipe.model_dump(mode="json")
    fingerprint = recipe_fingerprint(stage, dump, data, ("output_dir", "server.max_concurrency", "server.device",
                                                         "server.startup_timeout_s", "notes", *models),
                                     models={k: model_identity("transformers", v) for k, v in models.items()})
    return bound_run(recipe.output_dir, fingerprint, recipe.overwrite, owned=None)


TINY = "tiny"  # model spec meaning the cached tiny LFM2 demo translator (hala.pipelines.serving.tiny_model)


def absolute_model_path(spec: str) -> str:
    """A local path made absolute (mergekit turns relative paths into Hub look-ups), a Hub id that can be opened
    unchanged, `tiny` → the cached tiny demo model; anything else a one-line UserError (hala.pipelines.core.hub.locate)."""
    if spec == TINY:
        from hala.pipelines.serving.tiny_model import cached_tiny_model

        return str(cached_tiny_model().resolve())
    from hala.pipelines.core.hub import locate

    return locate(spec, "model")
