"""Translation prompts, versioned: the version is part of every translation-memory key.

`teacher` is the system-prompted request we send to a large instruction model (the paper's FP8 teacher);
`lfm2` is the fine-tuned translator's shape: one user turn, "Translate everything that follows into Arabic:" + text;
`plain` is the form the Hala technical report (Hala, arXiv 2509.14008) writes for a translation-specialised teacher:
one user turn, "Translate from English to Arabic: {text}", no system prompt — for models trained on translation
requests rather than on instructions (they answer with the translation alone). It carries no word about the `[[n]]`
placeholders; a model that drops one is retried once, then the row is a `structure` reject.
A recipe may also point `prompt` at a YAML file with `name`, `system` and `user` (containing `{text}`); the version
is the name plus a hash of the texts, so editing a prompt never reuses translations made with the old one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from hala.pipelines.serving.tiny_model import TRANSLATE_INSTRUCTION

TEACHER_SYSTEM = (
    "You are a professional translator from English into Modern Standard Arabic. Translate the user's text "
    "faithfully and fluently. Keep every placeholder such as [[1]] exactly as written, in the right place. "
    "Do not translate placeholders, do not add explanations, and answer with the translation only."
)

# the paper's plain request for a translation-specialised teacher (see the module docstring)
PLAIN_INSTRUCTION = "Translate from English to Arabic: {text}"


def prompt_version(name: str, system: str | None, user: str) -> str:
    """`name@hash` of a prompt's text: what the TM and the card record, so an edited prompt never reuses old
    translations or verdicts under the same name."""
    digest = hashlib.sha1(f"{system}\x1f{user}".encode("utf-8")).hexdigest()[:8]
    return f"{name}@{digest}"


@dataclass(frozen=True)
class TranslationPrompt:
    name: str
    user: str  # contains {text}
    system: str | None = None

    @property
    def version(self) -> str:
        return prompt_version(self.name, self.system, self.user)

    def messages(self, text: str) -> list[dict]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        msgs.append({"role": "user", "content": self.user.replace("{text}", text)})
        return msgs


BUILTIN_PROMPTS = {
    "teacher": TranslationPrompt("teacher", "{text}", TEACHER_SYSTEM),
    "lfm2": TranslationPrompt("lfm2", f"{TRANSLATE_INSTRUCTION}\n{{text}}"),
    "plain": TranslationPrompt("plain", PLAIN_INSTRUCTION),
}


def load_prompt(spec: str) -> TranslationPrompt:
    """A built-in prompt name, or a YAML file with `user` (must contain `{text}`), optional `system` and `name`."""
    if spec in BUILTIN_PROMPTS:
        return BUILTIN_PROMPTS[spec]
    path = Path(spec)
    if not path.is_file():
        from hala.pipelines.core.errors import UserError

        raise UserError(f"prompt {spec!r}: not one of {sorted(BUILTIN_PROMPTS)} and not a YAML file")
    from hala.pipelines.core.errors import UserError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"prompt file {spec}: not valid YAML ({str(e).splitlines()[0]})") from e
    if not isinstance(data, dict):
        raise UserError(f"prompt file {spec}: expected a mapping with `user` (and optional `system`, `name`)")
    unknown = sorted(set(data) - {"name", "system", "user"})
    if unknown:
        raise UserError(f"prompt file {spec}: unknown key {unknown[0]!r} (allowed: name, system, user)")
    if not isinstance(data.get("user"), str) or "{text}" not in data["user"]:
        raise UserError(f"prompt file {spec}: `user` must be a string containing {{text}}")
    if data.get("system") is not None and not isinstance(data["system"], str):
        raise UserError(f"prompt file {spec}: `system` must be a string")
    return TranslationPrompt(str(data.get("name", path.stem)), data["user"], data.get("system"))
