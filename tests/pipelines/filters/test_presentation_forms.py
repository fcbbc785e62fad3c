"""Arabic typed in presentation forms (U+FE70–U+FEFF) passes LID and is a duplicate of the plain form; the stored
text stays as written. Through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata

import pyarrow.parquet as pq

from tests.helpers import REPO

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"
TO_FORMS: dict[str, str] = {}
for _c in range(0xFE70, 0xFEFF):
    _plain = unicodedata.normalize("NFKC", chr(_c))
    if len(_plain) == 1:
        TO_FORMS.setdefault(_plain, chr(_c))


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_presentation_forms_pass_lid_and_meet_their_plain_twin(tmp_path):
    row = json.loads(AUDIT.read_text().splitlines()[0])
    forms = json.loads(json.dumps(row))
    forms["id"] = "forms"
    for m in forms["messages"]:
        m["content"] = "".join(TO_FORMS.get(ch, ch) for ch in m["content"])
    assert forms["messages"][-1]["content"] != row["messages"][-1]["content"]
    src = tmp_path / "rows.jsonl"
    src.write_text(json.dumps({**row, "id": "plain"}, ensure_ascii=False) + "\n"
                   + json.dumps(forms, ensure_ascii=False) + "\n", encoding="utf-8")
    r = hala("filter", str(src), str(tmp_path / "f"), "--kind", "instructions", "--no-quality")
    assert r.returncode == 0, r.stderr
    lid = json.loads((tmp_path / "f" / "stats.json").read_text())["stages"]["lid"]
    assert lid["kept"] == 2, lid
    stored = {x["id"]: x for x in pq.read_table(tmp_path / "f" / "data").to_pylist()}
    assert stored["forms"]["messages"][-1]["content"] == forms["messages"][-1]["content"]  # as written
    r = hala("dedup", str(tmp_path / "f"), str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    dedup = json.loads((tmp_path / "d" / "stats.json").read_text())["stages"]["dedup"]
    assert dedup["reasons"] == {"exact_duplicate": 1}
