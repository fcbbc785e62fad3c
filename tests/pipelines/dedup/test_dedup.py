"""Dedup through datatrove's exact and MinHash stages: exact copies, tashkeel-only variants and one-word edits go,
distinct rows stay, and each removed row names its kept twin."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hala.pipelines.dedup.flow import DedupConfig, run_dedup
from hala.pipelines.dedup.keys import dedup_key
from hala.pipelines.filters.arabic import normalize_arabic

Q = "اشرح لي باختصار كيف تعمل الألواح الشمسية في المنازل."
A = ("تتكون الألواح الشمسية من خلايا مصنوعة من السيليكون، وعندما يسقط عليها ضوء الشمس تتحرر الإلكترونات فيتولد تيار "
     "كهربائي مستمر. يحول جهاز يسمى العاكس هذا التيار إلى تيار متردد يناسب الأجهزة المنزلية، ويمكن تخزين الفائض في "
     "بطاريات أو بيعه لشبكة الكهرباء العامة في كثير من البلدان.")
A_VOCALIZED = ("تَتَكَوَّنُ الأَلْوَاحُ الشَّمْسِيَّةُ مِنْ خَلَايَا مَصْنُوعَةٍ مِنَ السِّيلِيكُونِ، وَعِنْدَمَا يَسْقُطُ عَلَيْهَا ضَوْءُ "
               "الشَّمْسِ تَتَحَرَّرُ الإِلِكْتُرُونَاتُ فَيَتَوَلَّدُ تَيَّارٌ كَهْرَبَائِيٌّ مُسْتَمِرٌّ. يُحَوِّلُ جِهَازٌ يُسَمَّى العَاكِسَ هَذَا "
               "التَّيَّارَ إِلَى تَيَّارٍ مُتَرَدِّدٍ يُنَاسِبُ الأَجْهِزَةَ المَنْزِلِيَّةَ، وَيُمْكِنُ تَخْزِينُ الفَائِضِ فِي بَطَّارِيَّاتٍ أَوْ "
               "بَيْعُهُ لِشَبَكَةِ الكَهْرَبَاءِ العَامَّةِ فِي كَثِيرٍ مِنَ البُلْدَانِ.")
A_ONE_WORD = A.replace("المنزلية", "الكهربائية")
OTHER_Q = "ما أفضل طريقة لتعلم لغة جديدة؟"
OTHER_A = ("أفضل طريقة هي الممارسة اليومية: استمع إلى متحدثين أصليين، واقرأ نصوصًا قصيرة، وتحدث مع غيرك ولو أخطأت، "
           "وراجع المفردات الجديدة بانتظام حتى تثبت في ذاكرتك.")


def row(rid: str, q: str, a: str) -> dict:
    return {"id": rid, "source": {"dataset": "t", "config": "default", "split": "train", "revision": ""},
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
            "messages_en": [{"role": "user", "content": "q " + rid}, {"role": "assistant", "content": "a " + rid}],
            "lang": "ar", "meta": json.dumps({"origin": rid})}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def rejects(out: Path) -> dict[str, dict]:
    found = {}
    for f in (out / "rejects" / "dedup").glob("*.jsonl"):
        for line in f.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            found[r["id"]] = r
    return found


def kept_ids(out: Path) -> list[str]:
    return sorted(i for f in (out / "data").glob("*.parquet") for i in pq.read_table(f)["id"].to_pylist())


def test_normalization_makes_spelling_variants_equal():
    assert normalize_arabic(A) == normalize_arabic(A_VOCALIZED)
    assert normalize_arabic("إلى مدرسةٍ كـــبيرة") == normalize_arabic("الي مدرسه كبيره")
    assert normalize_arabic("٣ كتب") == "3 كتب"


def test_dedup_keys():
    meta = row("x", Q, A)
    assert dedup_key(meta, "instructions", "user") == normalize_arabic(Q)
    assert "user" in dedup_key(meta, "instructions", "conversation")
    assert dedup_key(meta, "instructions", "source") == "q x a x"
    pair = {"src": "Hello there", "tgt": "مرحبًا"}
    assert dedup_key(pair, "pairs", "target") == "مرحبا"
    with pytest.raises(ValueError, match="dedup key"):
        dedup_key(pair, "pairs", "user")


@pytest.fixture()
def dup_rows() -> list[dict]:
    return [row("keep", Q, A), row("keep_copy", Q, A), row("vocalized", Q, A_VOCALIZED), row("near", Q, A_ONE_WORD),
            row("other", OTHER_Q, OTHER_A), row("short", "ما عاصمة كندا؟", "أوتاوا."),
            row("short_copy", "ما عاصمة كندا؟", "أوتاوا.")]


def test_exact_tashkeel_and_near_duplicates(tmp_path, dup_rows):
    src = write_jsonl(tmp_path / "in" / "rows.jsonl", dup_rows)
    out = tmp_path / "out"
    stats = run_dedup(str(src), str(out), DedupConfig())
    assert kept_ids(out) == ["keep", "other", "short"]
    found = rejects(out)
    assert {k: (v["reason"], v["detail"]) for k, v in found.items()} == {
        "keep_copy": ("exact_duplicate", "kept=keep"),
        "vocalized": ("exact_duplicate", "kept=keep"),
        "near": ("near_duplicate", "kept=keep"),
        "short_copy": ("exact_duplicate", "kept=short"),
    }
    assert json.loads(found["near"]["record"])["messages"][1]["content"] == A_ONE_WORD
    d = stats["stages"]["dedup"]
    assert d["read"] == d["kept"] + d["rejected"] == 7
    assert d["reasons"] == {"exact_duplicate": 3, "near_duplicate": 1}
    assert json.loads((out / "stats.json").read_text())["stages"]["dedup"] == d
    # the kept rows are written whole, meta included
    table = pq.read_table(next((out / "data").glob("*.parquet"))).to_pylist()
    assert json.loads(next(r for r in table if r["id"] == "keep")["meta"]) == {"origin": "keep"}


def test_exact_only_and_near_only(tmp_path, dup_rows):
    src = write_jsonl(tmp_path / "in" / "rows.jsonl", dup_rows)
    run_dedup(str(src), str(tmp_path / "exact"), DedupConfig(near=False))
    assert kept_ids(tmp_path / "exact") == ["keep", "near", "other", "short"]
    run_dedup(str(src), str(tmp_path / "near"), DedupConfig(exact=False))
    found = rejects(tmp_path / "near")
    # MinHash alone also removes the copies (identical shingles of the normalized key)
    assert {k: (v["reason"], v["detail"]) for k, v in found.items()} == {
        "keep_copy": ("near_duplicate", "kept=keep"), "vocalized": ("near_duplicate", "kept=keep"),
        "near": ("near_duplicate", "kept=keep"), "short_copy": ("near_duplicate", "kept=short")}


def test_user_key_and_several_tasks(tmp_path, dup_rows):
    # two input files → two datatrove tasks; twins across files are still found
    write_jsonl(tmp_path / "in" / "a.jsonl", dup_rows[:3])
    write_jsonl(tmp_path / "in" / "b.jsonl", dup_rows[3:])
    out = tmp_path / "out"
    stats = run_dedup(str(tmp_path / "in"), str(out), DedupConfig(key="user"), tasks=2)
    # user turns only: every row asking Q is one question
    assert kept_ids(out) == ["keep", "other", "short"]
    d = stats["stages"]["dedup"]
    assert d["read"] == 7 and d["read"] == d["kept"] + d["rejected"]
    assert {r["detail"] for k, r in rejects(out).items() if k != "short_copy"} == {"kept=keep"}


def test_pairs_dedup_on_target(tmp_path):
    pairs = [{"id": f"p{i}", "src_lang": "en", "tgt_lang": "ar", "src": s, "tgt": t, "origin": "test",
              "judge": None, "meta": "{}"}
             for i, (s, t) in enumerate([("Good morning.", "صباح الخير."), ("Good morning!", "صَبَاحُ الخَيْرِ!"),
                                         ("Thank you.", "شكرًا لك.")])]
    src = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    stats = run_dedup(str(src), str(tmp_path / "out"), DedupConfig(key="target"))
    assert kept_ids(tmp_path / "out") == ["p0", "p2"]
    assert rejects(tmp_path / "out")["p1"]["detail"] == "kept=p0"
    assert stats["kind"] == "pairs"
