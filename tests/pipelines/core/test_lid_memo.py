"""The LID memo: a repeated text is answered from memory with fastText's own answer, fastText is asked only about
texts it has not just answered, and the memo stays bounded. Real lid.176 throughout."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hala.pipelines.core.compat import fasttext_model
from hala.pipelines.core.langid import PathFastTextLID, default_lid_model

SYSTEM = "You are an AI assistant. User will you give you a task. Your goal is to complete the task as faithfully as you can."
ARABIC = "أنت مساعد ذكي. سيعطيك المستخدم مهمة، وهدفك أن تنجزها بأمانة قدر استطاعتك."
WORDS = ["river", "market", "نهر", "سوق", "book", "كتاب", "light", "ضوء", "city", "مدينة", "road", "طريق"]


class CountingModel:
    """The real fastText model, counting the texts it is asked about."""

    def __init__(self, model):
        self.model, self.asked = model, []

    def predict(self, texts, k):
        self.asked.extend(texts)
        return self.model.predict(texts, k=k)


@pytest.fixture()
def lid():
    lid = PathFastTextLID(default_lid_model(), k=3)
    lid._model = CountingModel(fasttext_model(default_lid_model()))
    return lid


def fresh_answers(texts: list[str]):
    """Each text asked of a model of its own, alone: what fastText says with no memo and no batch."""
    model = fasttext_model(default_lid_model())
    return [model.predict(t.replace("\n", " "), k=3) for t in texts]


def test_answers_equal_fasttext_alone_for_repeated_unique_and_long_texts(lid):
    rng = random.Random(3)
    long_text = " ".join(rng.choices(WORDS, k=600))  # over MEMO_MAX_CHARS: never held
    assert len(long_text) > lid.MEMO_MAX_CHARS
    pool = [SYSTEM, ARABIC, "two\nlines of English", long_text] + [" ".join(rng.choices(WORDS, k=8)) for _ in range(40)]
    batches = [[rng.choice(pool) for _ in range(rng.randint(1, 30))] for _ in range(20)]
    for batch in batches:
        labels, probs = lid.predict_raw(batch)
        for text, ls, ps, (want_ls, want_ps) in zip(batch, labels, probs, fresh_answers(batch)):
            assert list(ls) == list(want_ls), text
            assert np.array_equal(ps, want_ps), text  # to the last bit
    many = lid.predict_many([SYSTEM, ARABIC])
    assert max(many[0], key=many[0].get) == "en" and max(many[1], key=many[1].get) == "ar"


def test_fasttext_is_asked_once_per_text_until_it_leaves_the_memo(lid):
    long_text = "word " * 500
    lid.predict_raw([SYSTEM, SYSTEM, ARABIC, long_text, long_text])
    assert lid._model.asked == [SYSTEM, ARABIC, long_text.replace("\n", " ")]  # one question per distinct text
    lid.predict_raw([SYSTEM, ARABIC, long_text])
    assert lid._model.asked[3:] == [long_text]  # the short ones from the memo; a long one is asked again


def test_memo_is_bounded_and_starts_afresh_when_full(lid, monkeypatch):
    monkeypatch.setattr(PathFastTextLID, "MEMO_SIZE", 3)
    lid.predict_raw(["alpha text", "beta text"])
    lid.predict_raw(["alpha text", "gamma text"])
    assert list(lid._memo) == ["alpha text", "beta text", "gamma text"]
    lid.predict_raw(["delta text"])  # full: it starts again with the new text
    assert list(lid._memo) == ["delta text"]
    lid.predict_raw([f"text number {i}" for i in range(10)])  # more distinct texts in one batch than it holds
    assert len(lid._memo) == 3
    asked = len(lid._model.asked)
    lid.predict_raw(["delta text", "alpha text"])
    assert lid._model.asked[asked:] == ["delta text", "alpha text"]


def test_answers_are_read_only_rows_of_their_own(lid):
    _, probs = lid.predict_raw([SYSTEM, ARABIC])
    held = lid._memo[SYSTEM][1]
    assert held is probs[0] and not np.shares_memory(held, lid._memo[ARABIC][1])
    with pytest.raises(ValueError):
        probs[0][0] = -1.0  # an answer is shared by every row it is given for: nobody may change it
