"""Each quality check on a crafted good row and a crafted bad row, with the exact reason code."""

from __future__ import annotations

import pytest

from hala.pipelines.core.records import record_to_document
from hala.pipelines.filters.quality_filters import QualityConfig, QualityStage, numbers

EN_Q = "What is the capital of Australia?"
AR_Q = "ما عاصمة أستراليا؟"
EN_A = ("The capital of Australia is Canberra. Many people guess Sydney or Melbourne, but Canberra was chosen as a "
        "compromise between the two and became the capital in 1913.")
AR_A = ("عاصمة أستراليا هي كانبرا. يظن كثيرون أنها سيدني أو ملبورن، لكن كانبرا اختيرت حلًّا وسطًا بين المدينتين، "
        "وأصبحت العاصمة عام 1913.")


def inst(ar: list[tuple[str, str]], en: list[tuple[str, str]] | None = None) -> dict:
    en = en if en is not None else [("user", EN_Q), ("assistant", EN_A)]
    return {"id": "r1", "source": {"dataset": "t", "config": "default", "split": "train", "revision": ""},
            "messages": [{"role": r, "content": c} for r, c in ar],
            "messages_en": [{"role": r, "content": c} for r, c in en], "lang": "ar", "meta": {}}


def pair(src: str, tgt: str) -> dict:
    return {"id": "p1", "src_lang": "en", "tgt_lang": "ar", "src": src, "tgt": tgt, "origin": "test",
            "judge": None, "meta": "{}"}


def run(record: dict, kind: str = "instructions", config: QualityConfig | None = None):
    doc = record_to_document(record)
    result = QualityStage(None, kind, config).filter(doc)
    reason = True if result is True else result[1]
    return reason, doc


def reason_of(record: dict, kind: str = "instructions", config: QualityConfig | None = None):
    return run(record, kind, config)[0]


GOOD = inst([("user", AR_Q), ("assistant", AR_A)])


def test_clean_rows_pass():
    assert reason_of(GOOD) is True
    assert reason_of(pair(EN_A, AR_A), "pairs") is True


def test_empty_content():
    assert reason_of(inst([("user", AR_Q), ("assistant", "  \n ")])) == "empty_content"
    assert reason_of(pair(EN_A, ""), "pairs") == "empty_content"


def test_roles_mismatch():
    assert reason_of(inst([("assistant", AR_Q), ("user", AR_A)])) == "roles_mismatch"
    assert reason_of(inst([("user", AR_Q)])) == "roles_mismatch"  # a message lost


def test_masked_span_changed():
    code_en = "Use this:\n\n```python\ndef area(r):\n    return 3.14159 * r ** 2\n```"
    good = "استخدم هذا:\n\n```python\ndef area(r):\n    return 3.14159 * r ** 2\n```"
    bad = "استخدم هذا:\n\n```python\ndef مساحة(r):\n    return 3.14159 * r ** 2\n```"
    en = [("user", "How do I compute a circle's area in Python?"), ("assistant", code_en)]
    assert reason_of(inst([("user", "كيف أحسب مساحة الدائرة في بايثون؟"), ("assistant", good)], en)) is True
    assert reason_of(inst([("user", "كيف أحسب مساحة الدائرة في بايثون؟"), ("assistant", bad)], en)) == \
        "masked_span_changed"


def test_leaked_prompt_prefix_is_stripped_inside_is_rejected():
    reason, doc = run(inst([("user", AR_Q), ("assistant", "Here is the translation:\n" + AR_A)]))
    assert reason is True
    assert doc.metadata["messages"][1]["content"] == AR_A
    assert doc.metadata["meta"]["quality"]["stripped_preamble"] == 1
    assert AR_A in doc.text
    reason, doc = run(inst([("user", AR_Q), ("assistant", "ترجمة: " + AR_A)]))
    assert reason is True and doc.metadata["messages"][1]["content"] == AR_A
    middle = AR_A.replace("سيدني", "سيدني. Here is the translation: ")
    assert reason_of(inst([("user", AR_Q), ("assistant", middle)])) == "leaked_prompt"
    assert reason_of(pair(EN_A, AR_A[:60] + " الترجمة: " + AR_A[60:]), "pairs") == "leaked_prompt"


def test_translation_tasks_are_not_leaks():
    en = [("user", "Translate to Arabic: good morning"), ("assistant", "Translation: صباح الخير")]
    ar = [("user", "ترجم إلى العربية: good morning"), ("assistant", "الترجمة: صباح الخير")]
    assert reason_of(inst(ar, en)) != "leaked_prompt"


def test_identical_to_source_and_untranslated_residue():
    assert reason_of(pair(EN_A, EN_A), "pairs") == "identical_to_source"
    assert reason_of(pair("x = 42", "x = 42"), "pairs") is True  # nothing to translate
    residue = AR_A + " Spend the morning at the Vatican Museums and St Peter's Basilica."
    assert reason_of(pair(EN_A, residue), "pairs") == "untranslated_residue"
    short_terms = "يستخدم بروتوكول HTTP وعنوان URL للوصول إلى صفحة Web Page في المتصفح بسهولة عام 1913 في كانبرا."
    assert reason_of(pair("It uses the HTTP protocol and a URL to reach a Web Page in 1913 Canberra.", short_terms),
                     "pairs") is True


def test_arabic_share_low():
    mixed = "هذا Python و JavaScript و TypeScript و Rust و Go و Kotlin و Swift و Scala و Haskell في 1913"
    assert reason_of(pair("Python, JavaScript, TypeScript, Rust, Go, Kotlin, Swift, Scala and Haskell in 1913.",
                          mixed), "pairs") == "arabic_share_low"


def test_length_ratio_chars_and_tokens():
    truncated = "عاصمة أستراليا هي كانبرا 1913."
    assert reason_of(pair(EN_A, truncated), "pairs") == "length_ratio_chars"
    glued = AR_A.replace(" ", "")  # characters in range, words not
    assert reason_of(pair(EN_A, glued), "pairs") == "length_ratio_tokens"
    cfg = QualityConfig(length_ratio={"tokens_min": 0.9})  # 20 Arabic words for 27 English ones: 0.74
    assert reason_of(pair(EN_A, AR_A), "pairs", cfg) == "length_ratio_tokens"
    assert reason_of(pair(EN_A, AR_A), "pairs") is True


def test_repetition():
    loop = "عاصمة أستراليا هي كانبرا " * 12 + "1913"
    src = EN_A + " " + EN_A
    assert reason_of(pair(src, loop), "pairs") == "repetition"
    chant = "la la la la la la la la la la la la la la la la 1913"
    assert reason_of(pair(chant, "لا لا لا لا لا لا لا لا لا لا لا لا لا لا لا لا 1913"), "pairs") is True


def test_missing_numbers():
    assert reason_of(pair(EN_A, AR_A.replace("1913", "١٩١٣")), "pairs") is True  # Arabic-Indic digits count
    assert reason_of(pair(EN_A, AR_A.replace("1913", "الماضي")), "pairs") == "missing_numbers"
    assert numbers("about 300,000 km and 23.5 degrees, the 29th") == numbers("300000 و23٫5")


def test_missing_placeholders():
    src = "Dear {name}, your order %(order_id)s ships on {{date}} to the address you gave us in the form."
    good = "عزيزي {name}، يُشحن طلبك %(order_id)s في {{date}} إلى العنوان الذي قدّمته لنا في النموذج."
    bad = "عزيزي الاسم، يُشحن طلبك %(order_id)s في {{date}} إلى العنوان الذي قدّمته لنا في النموذج."
    assert reason_of(pair(src, good), "pairs") is True
    assert reason_of(pair(src, bad), "pairs") == "missing_placeholders"


def test_checks_can_be_switched_off():
    cfg = QualityConfig(numbers={"enabled": False})
    assert reason_of(pair(EN_A, AR_A.replace("1913", "الماضي")), "pairs", cfg) is True


def test_config_rejects_unknown_keys():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        QualityConfig(length_ratio={"chars_mn": 0.1})


@pytest.mark.parametrize("en, good, bad, reason", [
    ("Read it like this:\n\n```go\nscanner := bufio.NewScanner(f)\n```\n\nThat reads the file one line at a time.",
     "اقرأه هكذا:\n\n```go\nscanner := bufio.NewScanner(f)\n```\n\nهذا يقرأ الملف سطرًا بعد سطر في كل مرة.",
     "اقرأه هكذا:\n\n```اذهب\nscanner := bufio.NewScanner(f)\n```\n\nهذا يقرأ الملف سطرًا بعد سطر في كل مرة.",
     "masked_span_changed"),
    ("The roots follow from \\begin{align} x &= 1 \\\\ y &= 3 \\end{align} which gives both of the eigenvalues.",
     "تنتج الجذور من \\begin{align} x &= 1 \\\\ y &= 3 \\end{align} وهو ما يعطي القيمتين الذاتيتين كلتيهما.",
     "تنتج الجذور من \\begin{محاذاة} x &= 1 \\\\ y &= 3 \\end{محاذاة} وهو ما يعطي القيمتين الذاتيتين كلتيهما.",
     "masked_span_changed"),
    ('Open <a href="https://example.org/help?lang=en&amp;page=2">the help page</a> to read more about it here.',
     'افتح <a href="https://example.org/help?lang=en&amp;page=2">صفحة المساعدة</a> لتقرأ المزيد عنها هنا.',
     'افتح <a رابط="https://example.org/help?lang=en&amp;page=2">صفحة المساعدة</a> لتقرأ المزيد عنها هنا.',
     "masked_span_changed"),
    ("Prices&nbsp;include tax &amp; delivery for every order placed in the shop this week.",
     "الأسعار&nbsp;تشمل الضريبة &amp; التوصيل لكل طلب يُقدَّم في المتجر هذا الأسبوع.",
     "الأسعار تشمل الضريبة و التوصيل لكل طلب يُقدَّم في المتجر هذا الأسبوع.",
     "masked_span_changed"),
    ("Print {name} and %(count)d with %s in the message that the program shows to its users.",
     "اطبع {name} و %(count)d مع %s في الرسالة التي يعرضها البرنامج لمستخدميه.",
     "اطبع {الاسم} و %(count)d مع %s في الرسالة التي يعرضها البرنامج لمستخدميه.",
     "missing_placeholders"),
])
def test_each_new_span_kind_is_checked_after_translation(en, good, bad, reason):
    """A row translated elsewhere (`hala filter`) that changed a fence's info string, a LaTeX environment, an HTML
    tag, an entity or a format placeholder is rejected; the same row with them intact passes those checks."""
    config = QualityConfig(numbers={"enabled": False})
    src = [("user", EN_Q), ("assistant", en)]
    assert reason_of(inst([("user", AR_Q), ("assistant", good)], src), config=config) is True
    assert reason_of(inst([("user", AR_Q), ("assistant", bad)], src), config=config) == reason
