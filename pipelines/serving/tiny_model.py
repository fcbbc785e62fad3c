"""Build a tiny LFM2 translator on the spot, for the demo and the tests.

No network: the tokenizer is trained here on bundled text, the model comes from a config, and a few seconds of
warm-up on 40 bundled EN→AR sentence pairs teach it to answer in Arabic script and to stop. Its "translations"
are meaningless; it exists so that the real serving/translation path runs end to end on a laptop CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
WARMUP_PAIRS = RESOURCES / "warmup_pairs.jsonl"
TINY_VERSION = "tiny-lfm2-v1"

SPECIAL_TOKENS = ["<|pad|>", "<|startoftext|>", "<|im_end|>", "<|im_start|>", "<|endoftext|>"]
# ChatML with `{% generation %}` markers so TRL's assistant-only loss works on it.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
TRANSLATE_INSTRUCTION = "Translate everything that follows into Arabic:"


def load_warmup_pairs() -> list[dict]:
    with open(WARMUP_PAIRS, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _train_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|pad|>",
        bos_token="<|startoftext|>",
        eos_token="<|im_end|>",
        unk_token=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def translation_messages(text: str, target: str | None = None) -> list[dict]:
    """The LFM2-translator prompt shape: one user turn with the instruction, then the text."""
    msgs = [{"role": "user", "content": f"{TRANSLATE_INSTRUCTION}\n{text}"}]
    if target is not None:
        msgs.append({"role": "assistant", "content": target})
    return msgs


def _warm_up(model, tokenizer, pairs: list[dict], steps: int, seed: int) -> None:
    """A few optimizer steps so the model emits Arabic script and then `<|im_end|>`."""
    import torch

    torch.manual_seed(seed)
    examples = []
    for p in pairs:
        prompt = tokenizer.apply_chat_template(
            translation_messages(p["en"]), tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(p["ar"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
        examples.append((prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    batch = 8
    for step in range(steps):
        idx = torch.randint(len(examples), (batch,)).tolist()
        width = max(len(examples[i][0]) for i in idx)
        ids = torch.full((batch, width), tokenizer.pad_token_id)
        labels = torch.full((batch, width), -100)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for row, i in enumerate(idx):
            x, y = examples[i]
            ids[row, : len(x)] = torch.tensor(x)
            labels[row, : len(y)] = torch.tensor(y)
            mask[row, : len(x)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


def build_tiny_model(
    out_dir: str | os.PathLike,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    vocab_size: int = 1024,
    warmup_steps: int = 150,
    seed: int = 0,
    extra_texts: list[str] | None = None,
) -> Path:
    """Write a tiny LFM2 (tokenizer + weights + chat template) to `out_dir` and return it."""
    import torch
    from transformers import GenerationConfig, Lfm2Config, Lfm2ForCausalLM

    out = Path(out_dir)
    pairs = load_warmup_pairs()
    texts = [p["en"] for p in pairs] + [p["ar"] for p in pairs] + list(extra_texts or [])
    tokenizer = _train_tokenizer(texts * 4, vocab_size)
    torch.manual_seed(seed)
    config = Lfm2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 4,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        layer_types=["conv", "full_attention"] * (num_layers // 2) + ["conv"] * (num_layers % 2),
        block_multiple_of=16,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    model = Lfm2ForCausalLM(config)
    if warmup_steps:
        _warm_up(model, tokenizer, pairs, warmup_steps, seed)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    tmp = Path(tempfile.mkdtemp(dir=out.parent if out.parent.exists() else None, prefix=".tiny-"))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)  # atomic: a half-built model is never seen at `out`
    return out


def cached_tiny_model(cache_dir: str | os.PathLike | None = None) -> Path:
    """The tiny model, built once per machine under `~/.cache/hala` (or `HALA_CACHE`)."""
    base = Path(cache_dir or os.environ.get("HALA_CACHE", Path.home() / ".cache" / "hala"))
    base.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1((TINY_VERSION + WARMUP_PAIRS.read_text(encoding="utf-8")).encode()).hexdigest()[:10]
    path = base / f"{TINY_VERSION}-{digest}"
    if not (path / "config.json").exists():
        build_tiny_model(path)
    return path
