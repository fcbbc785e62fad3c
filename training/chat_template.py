"""Chat templates with `{% generation %}` markers, which TRL's assistant-only loss needs.

Order of preference: the model's own template when it already has the markers; TRL's bundled training variant of a
known template (LFM2, Llama 3, Qwen, ...); for any other ChatML template our ChatML-with-markers template. A template
we cannot patch is a one-line UserError rather than silently training on the prompt.
"""

from __future__ import annotations

import logging
import re

from hala.pipelines.core.errors import UserError
from hala.pipelines.serving.tiny_model import CHAT_TEMPLATE as CHATML_GENERATION_TEMPLATE

log = logging.getLogger(__name__)

_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")


def has_generation_markers(template: str | dict | None) -> bool:
    if isinstance(template, dict):
        template = template.get("default")
    return bool(template) and _MARKER.search(template) is not None


def ensure_generation_markers(tokenizer) -> str:
    """Give `tokenizer` a template with generation markers; returns how: `kept`, `trl:<patched>`, `chatml`.

    The change is logged (warning) so a run's log says the template was replaced.
    """
    template = tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default")
    if not template:
        tokenizer.chat_template = CHATML_GENERATION_TEMPLATE
        log.warning("chat template: the tokenizer has none; using ChatML with {%% generation %%} markers")
        return "chatml"
    if has_generation_markers(template):
        return "kept"
    try:
        from trl.chat_template_utils import get_training_chat_template

        patched = get_training_chat_template(tokenizer)
    except ValueError:
        patched = None
    if patched:
        tokenizer.chat_template = patched
        log.warning("chat template: no {%% generation %%} markers; replaced with TRL's training variant")
        return "trl"
    if "<|im_start|>" in template and _renders_like(tokenizer, template, CHATML_GENERATION_TEMPLATE):
        tokenizer.chat_template = CHATML_GENERATION_TEMPLATE
        log.warning("chat template: ChatML without {%% generation %%} markers; replaced with hala's ChatML template "
                    "that has them (checked: sample conversations render identically)")
        return "chatml"
    raise UserError("the model's chat template has no {% generation %} markers and is not one TRL or hala can patch; "
                    "set `chat_template:` in the recipe to a Jinja file with the markers")


_SAMPLES = [
    [{"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}],
    [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
     {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a2"}],
]


def _renders_like(tokenizer, old: str, new: str) -> bool:
    """Replace a template only when it renders sample conversations (and the generation prompt) exactly alike:
    a ChatML variant with a default system prompt or other extras is left to the user."""
    try:
        for msgs in _SAMPLES:
            for prompt, m in ((False, msgs), (True, msgs[:-1])):
                a = tokenizer.apply_chat_template(m, chat_template=old, tokenize=False, add_generation_prompt=prompt)
                b = tokenizer.apply_chat_template(m, chat_template=new, tokenize=False, add_generation_prompt=prompt)
                if a != b:
                    return False
    except Exception:  # a template that raises on a sample (e.g. no system role) is not plain ChatML
        return False
    return True


