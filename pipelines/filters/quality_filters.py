"""Bilingual quality checks: one small check per defect, each with its reason code and its thresholds.

All checks run inside one datatrove step, the `quality` stage (one stage, so its read = kept + rejected is one line in
the stats); the first check that fails names the reason. Order matters only for which reason a row with several
defects gets: structural defects (empty, roles, leaked prompt, code changed) come before textual ones (residue,
script, length, repetition, numbers). Arabic-specific checks (script share, Latin residue) run when the target
language is Arabic.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable

from datatrove.data import Document
from pydantic import BaseModel, ConfigDict, Field

from hala.pipelines.core.compat import BatchedStatsFilter
from hala.pipelines.core.records import messages_text, stage_meta
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.core.text import duplicate_fraction
from hala.pipelines.filters.arabic import arabic_share, to_ascii_digits
from hala.pipelines.filters.lid import base_code
from hala.pipelines.filters.views import RecordView, TextView, record_view

Result = tuple[str, str] | None  # (reason, detail) or None when the check passes


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="run this check")


class LengthRatioConfig(_Check):
    chars_min: float = Field(0.35, description="target/source characters (outside protected spans) below this: "
                                               "length_ratio_chars (clean audit rows 0.51–1.40; truncated ones 0.06)")
    chars_max: float = Field(2.5, description="target/source characters above this: length_ratio_chars")
    tokens_min: float = Field(0.3, description="target/source whitespace tokens below this: length_ratio_tokens "
                                                "(clean audit rows 0.50–1.37)")
    tokens_max: float = Field(2.5, description="target/source whitespace tokens above this: length_ratio_tokens")
    min_source_chars: int = Field(40, ge=0, description="shorter sources are not length-checked (ratios are noise)")
    min_source_tokens: int = Field(8, ge=0, description="sources with fewer tokens are not token-ratio-checked")


class ScriptShareConfig(_Check):
    min_share: float = Field(0.5, ge=0, le=1, description="Arabic letters / (Arabic + Latin letters) outside "
                                                          "protected spans below this: arabic_share_low (clean audit "
                                                          "rows ≥ 0.63)")
    min_letters: int = Field(10, ge=0, description="texts with fewer letters are not judged")


class ResidueConfig(_Check):
    min_latin_words: int = Field(6, ge=2, description="a run of this many Latin-script words outside protected spans "
                                                      "is untranslated residue (clean audit rows have runs ≤ 3)")
    identical_min_letters: int = Field(2, ge=0, description="target equal to source is identical_to_source when it "
                                                            "has at least this many letters (pure code/numbers pass)")


class RepetitionConfig(_Check):
    ngram: int = Field(3, ge=1, description="word n-gram size")
    max_duplicate_fraction: float = Field(0.35, ge=0, le=1, description="share of n-grams that repeat an earlier one "
                                                                        "above this: repetition")
    margin_over_source: float = Field(0.15, ge=0, description="…and at least this much more than in the source (a "
                                                              "repetitive source may have a repetitive translation)")
    min_words: int = Field(12, ge=1, description="shorter targets are not judged")


DEFAULT_LEAK_PATTERNS = [
    r"here(?:'s| is) (?:the|your|my|an?) (?:arabic |full |requested )?translation",
    r"(?:arabic )?translation(?: (?:in|into|to) arabic)?\s*:",
    r"translated text\s*:",
    r"sure[,!.]? here(?:'s| is)",
    r"(?:إليك|إليكم|هذه هي|ها هي|فيما يلي)\s+(?:ال)?ترجمة",
    r"(?:ال)?ترجمة\s*(?:إلى العربية|العربية)?\s*:",
    r"النص المترجم\s*:",
]


class LeakConfig(_Check):
    patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_LEAK_PATTERNS),
                                description="regexes (case-insensitive) of translator preambles")
    keywords: list[str] = Field(default_factory=lambda: ["translat", "sure", "ترجم"],
                                description="fast prefilter: only texts containing one of these (lowercased) are "
                                            "searched; must occur in every pattern's match ([]: always search)")
    strip_prefix: bool = Field(True, description="a preamble at the very start is stripped (with the rest of its "
                                                 "line); anywhere else it is leaked_prompt")


class QualityConfig(BaseModel):
    """Thresholds of every quality check (defaults hold on samples/audit: clean rows kept, defects rejected)."""

    model_config = ConfigDict(extra="forbid")

    empty_content: _Check = Field(default_factory=_Check, description="empty or whitespace-only content")
    roles: _Check = Field(default_factory=_Check, description="roles must equal those of messages_en")
    leaked_prompt: LeakConfig = Field(default_factory=LeakConfig)
    masked_spans: _Check = Field(default_factory=_Check, description="protected spans of the source (code, LaTeX, "
                                 "URLs…) must appear byte-identical in the target")
    residue: ResidueConfig = Field(default_factory=ResidueConfig)
    script_share: ScriptShareConfig = Field(default_factory=ScriptShareConfig)
    length_ratio: LengthRatioConfig = Field(default_factory=LengthRatioConfig)
    repetition: RepetitionConfig = Field(default_factory=RepetitionConfig)
    numbers: _Check = Field(default_factory=_Check, description="numbers of the source must appear in the target")
    placeholders: _Check = Field(default_factory=_Check, description="named placeholders ({name}, %s, {{x}}…) of "
                                 "the source must appear in the target")


# ---------------------------------------------------------------------------------------------------------- helpers
LATIN_RUN_RE = re.compile(r"[A-Za-z][A-Za-z'’\-]*(?:[ \t,;:\"“”()/]+[A-Za-z][A-Za-z'’\-]*)+")
# A number not glued to letters, digits or a dot. The lookbehind sits after the first digit (it checks the character
# before that digit) so the pattern starts with \d and the regex engine skips non-digits fast; same matches as
# r"(?<![A-Za-z\d.])\d+(?:\.\d+)?(?![A-Za-z\d])".
NUMBER_RE = re.compile(r"\d(?<![A-Za-z\d.]\d)\d*(?:\.\d+)?(?![A-Za-z\d])")
_THOUSANDS_RE = re.compile(r"(?<=\d)[,٬](?=\d{3}(?!\d))")
_DECIMAL_RE = re.compile(r"(?<=\d)[٫,](?=\d)")
PLACEHOLDER_RE = re.compile(r"\{\{\s*[\w.]+\s*\}\}|\{[A-Za-z_][\w.]*\}|\{\d+\}|%\([A-Za-z_]\w*\)[sdifr]|%[sdif]\b"
                            r"|<<\s*\w+\s*>>|\$\{\w+\}")


_ANY_DIGIT_RE = re.compile(r"\d")
_NON_ASCII_DIGIT_RE = re.compile(r"[٠-٩۰-۹]")


def numbers(text: str) -> set[str]:
    """The numbers of a text, written the same way whatever the digits and separators (1,000 · ١٠٠٠ · 23٫5)."""
    if not _ANY_DIGIT_RE.search(text):
        return set()
    if not text.isascii() and _NON_ASCII_DIGIT_RE.search(text):  # an ASCII text has no Arabic-Indic digit
        text = to_ascii_digits(text)
    if "," in text or "٬" in text or "٫" in text:
        text = _DECIMAL_RE.sub(".", _THOUSANDS_RE.sub("", text))
    return set(NUMBER_RE.findall(text))


def latin_run(text: str, min_words: int) -> str | None:
    """The first run of at least `min_words` Latin-script words, if any."""
    for m in LATIN_RUN_RE.finditer(text):
        run = m.group(0)
        if len(re.findall(r"[A-Za-z][A-Za-z'’\-]*", run)) >= min_words:
            return run
    return None


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------------------------------------------------- the stage
class QualityStage(BatchedStatsFilter, HalaStage):
    """All bilingual quality checks of one record kind, in order; the first failure is the reject reason.

    Each check first asks a cheap question that settles most rows (no keyword of a preamble, no Latin letter, no
    placeholder character, too few repeated words to reach the repetition threshold) and runs its exact test only
    on the rows that question does not settle; reasons and details are those of the exact test."""

    stage = "quality"

    def __init__(self, output_dir: str | None, kind: str, config: QualityConfig | None = None, batch_size: int = 512):
        super().__init__(output_dir, batch_size=batch_size)
        self.kind = kind
        self.config = config or QualityConfig()
        self._leaks = None
        self._leak_any: re.Pattern | None = None
        self._leak_arabic: list[bool] = []
        self._checks: list[Callable[[RecordView], Result]] | None = None

    @property
    def leak_patterns(self) -> list[re.Pattern]:
        if self._leaks is None:
            patterns = self.config.leaked_prompt.patterns
            self._leaks = [re.compile(p, re.IGNORECASE) for p in patterns]
            self._leak_any = re.compile("|".join(f"(?:{p})" for p in patterns) or r"(?!)", re.IGNORECASE)
            self._leak_arabic = [bool(re.search(r"[\u0600-\u06FF]", p)) for p in patterns]
        return self._leaks

    def checks(self) -> list[Callable[[RecordView], Result]]:
        if self._checks is not None:
            return self._checks
        c = self.config
        order = [
            (c.empty_content, self.check_empty),
            (c.roles, self.check_roles),
            (c.leaked_prompt, self.check_leak),
            (c.masked_spans, self.check_masked_spans),
            (c.residue, self.check_residue),
            (c.script_share, self.check_script_share),
            (c.length_ratio, self.check_length_ratio),
            (c.repetition, self.check_repetition),
            (c.numbers, self.check_numbers),
            (c.placeholders, self.check_placeholders),
        ]
        self._checks = [fn for cfg, fn in order if cfg.enabled]
        return self._checks

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        return [self.filter(doc) for doc in batch]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        view = record_view(doc, self.kind)
        self.leak_patterns  # compiled once per stage
        if self.config.leaked_prompt.enabled and self.config.leaked_prompt.strip_prefix:
            self.strip_leak_prefixes(doc, view)
        for check in self.checks():
            result = check(view)
            if result:
                return self.reject(doc, *result)
        return True

    # -- leaked prompt ------------------------------------------------------------------------------------------------
    def _may_leak(self, text: str) -> bool:
        keywords = self.config.leaked_prompt.keywords
        if not keywords:
            return True
        low = text.lower()
        return any(k in low for k in keywords)

    def _leak_regex(self, view: RecordView) -> re.Pattern | None:
        """One regex of the preambles that count as leaks here. A pattern that also occurs in the source is the task,
        not a leak; "ترجمة:" in an answer to a translation request is the answer, not a preamble."""
        if view.leak_re is not False and view.leak_re[0] is self:  # views are shared: the regex is this stage's
            return view.leak_re[1]
        patterns = self.leak_patterns
        sources = " ".join(seg.src.text for seg in view.segments if seg.src)
        about_translation = "translat" in sources.lower()
        if not about_translation and not (self._may_leak(sources) and self._leak_any.search(sources)):
            view.leak_re = (self, self._leak_any)  # the common case: every pattern applies
            return self._leak_any
        allowed = [p.pattern for p, arabic in zip(patterns, self._leak_arabic)
                   if not p.search(sources) and not (about_translation and arabic)]
        leak = re.compile("|".join(f"(?:{p})" for p in allowed), re.IGNORECASE) if allowed else None
        view.leak_re = (self, leak)
        return leak

    def _may_leak_view(self, tv: TextView) -> bool:
        """`_may_leak(tv.text)` with the lowercased text kept on the view (the prefix and the leak check share it)."""
        keywords = self.config.leaked_prompt.keywords
        if not keywords:
            return True
        low = tv.lower
        return any(k in low for k in keywords)

    def strip_leak_prefixes(self, doc: Document, view: RecordView) -> None:
        # a keyword in the first 200 characters is a keyword in the text: texts without one are done here
        if not any(self._may_leak_view(seg.tgt) for seg in view.segments):
            return
        if not any(self._may_leak(seg.tgt.text[:200]) for seg in view.segments):
            return
        leak = self._leak_regex(view)
        if leak is None:
            return
        changed = 0
        for i, seg in enumerate(view.segments):
            text = seg.tgt.text
            if not self._may_leak(text[:200]):
                continue
            m = leak.match(text.lstrip())
            if m:
                rest = text.lstrip()[m.end():]
                line_end = rest.find("\n")
                head = rest if line_end < 0 else rest[:line_end]
                # the preamble runs to the end of its line when that line is short ("…into Arabic:")
                if len(head) <= 40 and (head.rstrip().endswith((":", "：")) or not head.strip()):
                    rest = "" if line_end < 0 else rest[line_end:]
                text = rest.lstrip(" \t:：\n")
                changed += 1
            if text != seg.tgt.text:
                seg.tgt = TextView(text)
                if self.kind == "pairs":
                    doc.metadata["tgt"] = text
                    doc.text = text
                else:
                    messages = [dict(m) for m in doc.metadata["messages"]]
                    messages[i]["content"] = text
                    doc.metadata["messages"] = messages
        if changed:
            if self.kind != "pairs":
                doc.text = messages_text(doc.metadata["messages"])
            stage_meta(doc).setdefault("quality", {})["stripped_preamble"] = changed
            self.stat_update("stripped_preamble", value=changed)

    def check_leak(self, view: RecordView) -> Result:
        if not any(self._may_leak_view(seg.tgt) for seg in view.segments):
            return None
        leak = self._leak_regex(view)
        if leak is None:
            return None
        for seg in view.segments:
            m = leak.search(seg.tgt.text)
            if m:
                return "leaked_prompt", f"{seg.where}: {m.group(0)!r} inside the text"
        return None

    # -- structure ----------------------------------------------------------------------------------------------------
    def check_empty(self, view: RecordView) -> Result:
        if not view.segments:
            return "empty_content", "no messages"
        for seg in view.segments:
            if not seg.tgt.text.strip():
                return "empty_content", f"{seg.where} is empty"
        if self.kind == "pairs" and not view.segments[0].src.text.strip():
            return "empty_content", "src is empty"
        return None

    def check_roles(self, view: RecordView) -> Result:
        if view.roles_src is None or view.roles == view.roles_src:
            return None
        return "roles_mismatch", f"roles {view.roles} ≠ source roles {view.roles_src}"

    def check_masked_spans(self, view: RecordView) -> Result:
        for seg in view.segments:
            if seg.src is None or not seg.src.protected:
                continue
            for span, n in Counter(seg.src.protected).items():
                if seg.tgt.text.count(span) < n:
                    return "masked_span_changed", f"{seg.where}: {_short(span)!r} not found byte-identical"
        return None

    # -- text ---------------------------------------------------------------------------------------------------------
    def _arabic_target(self, view: RecordView) -> bool:
        return base_code(view.tgt_lang) == "ar"

    def check_residue(self, view: RecordView) -> Result:
        cfg = self.config.residue
        for seg in view.segments:
            if seg.src is not None and seg.tgt.text.strip() == seg.src.text.strip():
                letters = sum(ch.isalpha() for ch in seg.tgt.stripped)
                if letters >= cfg.identical_min_letters:
                    return "identical_to_source", f"{seg.where} equals its source"
        if not self._arabic_target(view):
            return None
        for seg in view.segments:
            if not seg.tgt.has_latin:  # a run needs Latin letters
                continue
            run = latin_run(seg.tgt.stripped, cfg.min_latin_words)
            if run:
                return "untranslated_residue", f"{seg.where}: {_short(run)!r}"
        return None

    def check_script_share(self, view: RecordView) -> Result:
        cfg = self.config.script_share
        if not self._arabic_target(view):
            return None
        for seg in view.segments:
            if not seg.tgt.has_latin:  # no Latin letter: the Arabic share is 1.0
                continue
            share, letters = arabic_share(seg.tgt.stripped)
            if letters >= cfg.min_letters and share < cfg.min_share:
                return "arabic_share_low", f"{seg.where}: Arabic {share:.2f} of {letters} letters < {cfg.min_share}"
        return None

    def check_length_ratio(self, view: RecordView) -> Result:
        cfg = self.config.length_ratio
        for seg in view.segments:
            if seg.src is None:
                continue
            src, tgt = seg.src.stripped.strip(), seg.tgt.stripped.strip()
            if len(src) >= cfg.min_source_chars:
                r = len(tgt) / len(src)
                if not cfg.chars_min <= r <= cfg.chars_max:
                    return "length_ratio_chars", (f"{seg.where}: {len(tgt)}/{len(src)} chars = {r:.2f} outside "
                                                  f"[{cfg.chars_min}, {cfg.chars_max}]")
            ns, nt = len(seg.src.words), len(seg.tgt.words)  # = len(src.split()), len(tgt.split())
            if ns >= cfg.min_source_tokens:
                r = nt / ns
                if not cfg.tokens_min <= r <= cfg.tokens_max:
                    return "length_ratio_tokens", (f"{seg.where}: {nt}/{ns} tokens = {r:.2f} outside "
                                                   f"[{cfg.tokens_min}, {cfg.tokens_max}]")
        return None

    def check_repetition(self, view: RecordView) -> Result:
        cfg = self.config.repetition
        for seg in view.segments:
            words = seg.tgt.words
            if len(words) < cfg.min_words:
                continue
            # a repeated n-gram starts with a repeated word: the share of repeated words bounds the share of repeated
            # n-grams, and settles most texts without building the n-grams
            grams = len(words) - cfg.ngram + 1
            if grams <= 0 or (len(words) - len(set(words))) / grams < cfg.max_duplicate_fraction - 1e-9:
                continue
            frac = duplicate_fraction(words, cfg.ngram)
            if frac <= cfg.max_duplicate_fraction:
                continue
            src_frac = duplicate_fraction(seg.src.words, cfg.ngram) if seg.src else 0.0
            if frac - src_frac >= cfg.margin_over_source:
                return "repetition", (f"{seg.where}: {frac:.2f} of {cfg.ngram}-grams repeated (source "
                                      f"{src_frac:.2f})")
        return None

    def check_numbers(self, view: RecordView) -> Result:
        for seg in view.segments:
            if seg.src is None:
                continue
            want = numbers(seg.src.stripped)
            if not want:
                continue
            missing = sorted(want - numbers(seg.tgt.stripped))
            if missing:
                return "missing_numbers", f"{seg.where}: {', '.join(missing[:5])} missing"
        return None

    def check_placeholders(self, view: RecordView) -> Result:
        for seg in view.segments:
            if seg.src is None:
                continue
            src = seg.src.stripped
            # masked ones (hala.pipelines.translate.masking) and the forms only this check knows (<<x>>, ${x})
            want = Counter(seg.src.placeholders)
            if "<<" in src or "${" in src:  # what PLACEHOLDER_RE finds that masking does not
                want.update(p for p in PLACEHOLDER_RE.findall(src) if p.startswith(("<<", "${")))
            if not want:
                continue
            missing = sorted(p for p, n in want.items() if seg.tgt.text.count(p) < n)
            if missing:
                return "missing_placeholders", f"{seg.where}: {', '.join(missing[:5])} missing"
        return None
