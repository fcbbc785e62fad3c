"""Small hala dataset folders for the card and publish tests: parquet records, stats.json, rejects, validation.json.

The counts are fixed so the tests can assert exact numbers: `SOURCES` rows kept per source, `REJECTS` per reason.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from tests.helpers import REPO

SOURCES = {"Open-Orca/OpenOrca": 7, "NousResearch/Hermes-3-Dataset": 5, "EricLu/SCP-116K": 4}
REJECTS = {("lid", "lid_not_arabic"): 2, ("quality", "repetition"): 3, ("quality", "arabic_share_low"): 1}
PAIR_SOURCES = {"opus-100": 6, "teacher:tiny-teacher": 3}


def write_instructions(out: Path, sources: dict[str, int] | None = None, files: int = 2,
                       split_of: dict[str, str] | None = None) -> Path:
    """A dataset folder as hala writes it: data/*.parquet (instruction schema), rejects/<stage>/, stats.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hala.pipelines.core.records import instruction_schema, stable_id

    sources = sources or SOURCES
    rows = []
    for k, (dataset, n) in enumerate(sources.items()):
        for i in range(n):
            rows.append({
                "id": stable_id(dataset, "default", "train", i),
                "source": {"dataset": dataset, "config": "default", "split": (split_of or {}).get(dataset, "train"),
                           "revision": "rev-" + dataset[:4]},
                "messages": [{"role": "user", "content": f"ما هو العدد {i}؟"},
                             {"role": "assistant", "content": f"العدد هو {i} في المجموعة رقم {k} من هذه البيانات."}],
                "messages_en": [{"role": "user", "content": f"What is number {i}?"},
                                {"role": "assistant", "content": f"The number is {i} in group number {k} of this data."}],
                "lang": "ar",
                "meta": json.dumps({"translate": {"model": "tiny-lfm2", "segments": 2}}),
            })
    table = pa.Table.from_pylist(rows, schema=instruction_schema())
    (out / "data").mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // files)
    for k in range(files):
        pq.write_table(table.slice(k * step, step), out / "data" / f"{k:05d}.parquet")
    _write_rejects(out)
    kept = table.num_rows
    lid_rej = sum(n for (s, _), n in REJECTS.items() if s == "lid")
    q_rej = sum(n for (s, _), n in REJECTS.items() if s == "quality")
    stats = {"kind": "instructions", "stages": {
        "lid": {"read": kept + lid_rej + q_rej, "kept": kept + q_rej, "rejected": lid_rej,
                "reasons": {r: n for (s, r), n in REJECTS.items() if s == "lid"}},
        "quality": {"read": kept + q_rej, "kept": kept, "rejected": q_rej,
                    "reasons": {r: n for (s, r), n in REJECTS.items() if s == "quality"}},
    }, "translation": {"segments": 2 * kept, "tm_hits": 3, "model_calls": 2 * kept - 3}}
    (out / "stats.json").write_text(json.dumps(stats, indent=2))
    return out


def write_pairs(out: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hala.pipelines.core.records import pair_schema, stable_id

    rows = []
    for origin, n in PAIR_SOURCES.items():
        for i in range(n):
            rows.append({"id": stable_id(origin, i), "src_lang": "en", "tgt_lang": "ar", "src": f"Sentence {i}.",
                         "tgt": f"الجملة {i}.", "origin": origin,
                         "judge": {"verdict": "accept", "model": "tiny-judge", "prompt_version": "v1", "raw": ""},
                         "meta": "{}"})
    (out / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=pair_schema()), out / "data" / "00000.parquet")
    (out / "stats.json").write_text(json.dumps({"kind": "pairs", "stages": {}}))
    return out


def _write_rejects(out: Path) -> None:
    for (stage, reason), n in REJECTS.items():
        folder = out / "rejects" / stage
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "00000.jsonl").open("a", encoding="utf-8") as f:
            for i in range(n):
                f.write(json.dumps({"id": f"{stage}-{reason}-{i}", "stage": stage, "reason": reason, "detail": "",
                                    "record": {}}) + "\n")


def write_validation(dataset: Path, success: bool = True, fingerprint: str | None = None) -> dict:
    """DATASET/validation.json as `hala gate` writes it (for the current fingerprint unless one is given)."""
    from hala.quality.fingerprint import dataset_fingerprint

    data = {"suite": "arabic_instructions", "success": success,
            "fingerprint": fingerprint or dataset_fingerprint(dataset), "dataset_kind": "instructions",
            "created_at": datetime(2026, 11, 24, tzinfo=timezone.utc).isoformat(),
            "statistics": {"evaluated_expectations": 9, "successful_expectations": 9 if success else 8,
                           "rows": sum(SOURCES.values())},
            "failed": [] if success else [{"expectation": "expect_column_values_to_be_between",
                                           "column": "length_ratio", "kwargs": {}, "observed": {}}],
            "gx_version": "1.24.1"}
    (dataset / "validation.json").write_text(json.dumps(data, indent=2))
    return data


def write_translator_set(root: Path, rows: int = 60, reverse: bool = True) -> Path:
    """A translator set as `hala build-translator-set` writes it (pairs/ and chat/ per split, stats.json, rejects/),
    built from EN→AR pairs of the bundled audit sample (careful translations: they pass the bilingual suite)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hala.pipelines.bilingual.translator_set import TranslatorSetRecipe, build_translator_set
    from hala.pipelines.core.records import pair_schema

    audit = REPO / "samples" / "audit" / "instructions.jsonl"
    records = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()[:rows]]
    pairs = [{"id": f"p{i}", "src_lang": "en", "tgt_lang": "ar", "src": r["messages_en"][-1]["content"],
              "tgt": r["messages"][-1]["content"], "origin": "opus-100" if i % 3 else "teacher:tiny-teacher@local",
              "judge": None, "meta": "{}"} for i, r in enumerate(records)]
    pairs.append({**pairs[1], "id": "copy-of-p1"})  # an exact duplicate: rejected by the set's dedup
    (root / "in" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(pairs, schema=pair_schema()), root / "in" / "data" / "00000.parquet")
    out = root / "set"
    build_translator_set(TranslatorSetRecipe(inputs=[str(root / "in")], output=str(out), reverse=reverse,
                                             test_size=0.2, dev_size=0.2))
    return out
