"""`hala report` on real hala output (samples/audit through filters + dedup) and on bare record files.

Every number the report states is checked against a count made here independently, from the parquet and the
rejects JSONL, with pyarrow and plain Python.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hala.pipelines.core.errors import UserError
from hala.quality.fingerprint import dataset_fingerprint
from hala.quality.report import build_report
from tests.helpers import REPO
from tests.helpers.cards import metrics_table

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"


@pytest.fixture(scope="module")
def audit_out(tmp_path_factory) -> Path:
    from hala.pipelines.dedup.flow import DedupConfig, run_filter_and_dedup

    out = tmp_path_factory.mktemp("audit") / "out"
    run_filter_and_dedup(str(AUDIT), str(out), "instructions", dedup=DedupConfig())
    return out


@pytest.fixture(scope="module")
def report(audit_out, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("report")
    return build_report(audit_out, out, show_progress=False), out


def kept_rows(out: Path) -> list[dict]:
    return [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def reject_rows(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "rejects").glob("*/*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_report_files_and_embedded_plots(report):
    data, out = report
    for name in ("report.html", "report.md", "report.json"):
        assert (out / name).stat().st_size > 0
    page = (out / "report.html").read_text(encoding="utf-8")
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 5  # funnel, length ratio, LID score, Arabic share, turns
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    assert "src='http" not in page and "<script" not in page  # self-contained
    assert json.loads((out / "report.json").read_text(encoding="utf-8")) == json.loads(json.dumps(data, default=str))
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| lid | lid_not_arabic | 2 |" in md and "![funnel](plots/funnel.png)" in md
    assert "## Rows per source and stage" in md and "| source_dataset | stage | read | kept | rejected |" in md
    assert "<h2>Rows per source and stage</h2>" in page
    assert all((out / p).is_file() for p in data["plots"])


def test_report_numbers_equal_independent_counts(report, audit_out):
    data, _ = report
    kept, rejected = kept_rows(audit_out), reject_rows(audit_out)
    stats = json.loads((audit_out / "stats.json").read_text())
    labels = [json.loads(line) for line in (AUDIT.parent / "labels.jsonl").read_text().splitlines() if line.strip()]

    assert data["kind"] == "instructions"
    assert data["rows_kept"] == len(kept) == 150
    assert data["rows_rejected"] == len(rejected) == len(labels) == 14
    assert data["rows_read"] == stats["stages"]["lid"]["read"] == 164 and data["accounting_ok"]
    assert data["stages"] == stats["stages"]
    assert {(r["stage"], r["reason"]): r["rows"] for r in data["rejects_by_reason"]} == \
        dict(Counter((r["stage"], r["reason"]) for r in rejected))
    assert {(r["stage"], r["reason"]): r["rows"] for r in data["rejects_by_reason"]} == \
        dict(Counter((lab["expected_stage"], lab["expected_reason"]) for lab in labels))
    assert {r["source_dataset"]: r["rows"] for r in data["by_source"]} == \
        dict(Counter(r["source"]["dataset"] for r in kept))
    assert {r["n_turns"]: r["rows"] for r in data["histograms"]["turns"]} == dict(Counter(len(r["messages"])
                                                                                          for r in kept))
    comparison = {r["source_dataset"]: r for r in data["source_comparison"]}
    for src, row in comparison.items():
        mine = [r for r in kept if r["source"]["dataset"] == src]
        assert row["chars_en"] == sum(len("\n\n".join(m["content"] for m in r["messages_en"])) for r in mine)
        assert row["chars_ar"] == sum(len("\n\n".join(m["content"] for m in r["messages"])) for r in mine)
    m = data["metrics"]
    assert m["rows"] == m["distinct_ids"] == 150
    assert m["duplicate_rows"] == 0 and m["rows_with_empty_content"] == 0
    assert m["masked_spans"]["rows_spans_changed"] == 0
    assert m["rows_with_code"] == sum(1 for r in kept if any("```" in x["content"] or "`" in x["content"]
                                                             for x in r["messages"]))
    # samples: up to 3 per (stage, reason), every reason present
    per_reason = Counter((r["stage"], r["reason"]) for r in data["reject_samples"])
    assert set(per_reason) == set(Counter((r["stage"], r["reason"]) for r in rejected))
    assert all(n <= 3 for n in per_reason.values())
    # repeated segments: the Open-Orca system prompts translated once and reused
    top = data["top_repeated_segments"][0]
    lines = Counter()
    for r in kept:
        for seg in {line.strip() for x in r["messages"] for line in x["content"].split("\n")}:
            lines[seg] += 1
    assert top["records"] == lines[top["segment"]] == max(n for s, n in lines.items() if len(s) >= 20)
    assert data["fingerprint"] == dataset_fingerprint(audit_out)
    # rows per source and stage: rejects by the source their record names; kept = final rows + later rejects
    order = list(stats["stages"])
    by_source = Counter(r["source"]["dataset"] for r in kept)
    rejected_by = Counter((json.loads(r["record"])["source"]["dataset"], r["stage"]) for r in rejected)
    expected = []
    for src in sorted(set(by_source) | {s for s, _ in rejected_by}):
        for i, stage in enumerate(order):
            read = by_source[src] + sum(rejected_by[(src, st)] for st in order[i:])
            expected.append({"source_dataset": src, "stage": stage, "read": read,
                             "kept": read - rejected_by[(src, stage)], "rejected": rejected_by[(src, stage)]})
    assert data["by_source_and_stage"] == expected
    assert data["by_source_and_stage_matches_stages"] is True
    for stage, s in stats["stages"].items():
        assert sum(r["read"] for r in expected if r["stage"] == stage) == s["read"]


def test_report_measures_the_rejected_defects(report):
    """Each labelled defect shows in the metric that describes it, measured on the rejected rows themselves."""
    data, _ = report
    by = {r["reason"]: r for r in data["rejected_by_reason_measured"]}
    assert sum(r["rows"] for r in by.values()) == 14 == len(data["rejected_measured"])
    assert by["lid_not_arabic"]["median_lid_score"] < 0.3 and by["lid_not_arabic"]["median_arabic_share"] < 0.5
    assert by["length_ratio_chars"]["median_length_ratio"] < 0.5
    assert by["masked_span_changed"]["spans_changed"] == 2
    assert by["roles_mismatch"]["roles_wrong"] == 2
    assert by["untranslated_residue"]["latin_residue"] == 2
    dups = [r for r in data["rejected_measured"] if r["reason"] == "exact_duplicate"]
    assert all(r["detail"].startswith("kept=") for r in dups) and len(dups) == 3


def test_metrics_on_bare_jsonl_show_the_defects():
    """No stats, no rejects: the raw audit file's metrics still point at every structural defect."""
    df = metrics_table(AUDIT)
    labels = {json.loads(line)["id"]: json.loads(line) for line in
              (AUDIT.parent / "labels.jsonl").read_text().splitlines() if line.strip()}
    assert df.height == 164
    by = {d: {i for i, lab in labels.items() if lab["defect"] == d} for d in
          ("untranslated", "truncated", "code_translated", "wrong_roles")}
    rows = {r["id"]: r for r in df.iter_rows(named=True)}
    assert {i for i, r in rows.items() if not r["roles_ok"]} == by["wrong_roles"]
    assert {i for i, r in rows.items() if not r["spans_survived"]} == by["code_translated"]
    assert {i for i, r in rows.items() if r["lid_score"] is not None and r["lid_score"] < 0.3} == by["untranslated"]
    assert {i for i, r in rows.items() if r["length_ratio"] < 0.5} == by["truncated"]
    assert int(df["duplicate_extra"].sum()) == 3  # two exact copies and one with tashkeel added


def test_report_on_bare_file_and_pairs(tmp_path):
    records = [json.loads(line) for line in AUDIT.read_text(encoding="utf-8").splitlines()[:40]]
    pairs = [{"id": f"p{i}", "src_lang": "en", "tgt_lang": "ar", "src": r["messages_en"][-1]["content"],
              "tgt": r["messages"][-1]["content"], "origin": "teacher:test"} for i, r in enumerate(records)]
    pairs.append({**pairs[0], "id": "same", "tgt": pairs[0]["src"]})  # untranslated: identical to its source
    f = tmp_path / "pairs.jsonl"
    f.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in pairs) + "\n", encoding="utf-8")
    data = build_report(f, tmp_path / "rep", show_progress=False)
    assert data["kind"] == "pairs" and data["rows_kept"] == 41 and data["rows_rejected"] == 0
    assert data["rows_read"] == 41 and data["stages"] == {}
    assert data["source_comparison"][0]["rows_identical_to_source"] == 1
    assert data["source_comparison"][0]["chars_src"] == sum(len(p["src"]) for p in pairs)
    assert data["metrics"]["lid"]["rows_lid_below_min"] == 1 and data["metrics"]["lid"]["lid_score_min"] == 0.5


def test_bad_paths_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        build_report(tmp_path / "missing", tmp_path / "r", show_progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .parquet or .jsonl"):
        build_report(tmp_path / "empty", tmp_path / "r", show_progress=False)
    proc = subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", "report", str(tmp_path / "missing"),
                           str(tmp_path / "r")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_report_cli(audit_out, tmp_path):
    from typer.testing import CliRunner

    from hala.pipelines.cli.app import get_app

    copy = tmp_path / "ds"
    shutil.copytree(audit_out, copy, ignore=shutil.ignore_patterns("work", "logs"))
    result = CliRunner().invoke(get_app(), ["report", str(copy), str(tmp_path / "rep"), "--no-lid"])
    assert result.exit_code == 0, result.output
    assert "150 rows kept, 14 rejected (read 164)" in result.output
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert data["metrics"]["lid"] is None and len(data["plots"]) == 4


def test_flagged_rows_use_the_suite_thresholds(audit_out, tmp_path, monkeypatch):
    """The kept rows the report flags are those outside the bands of the kind's expectation suite: change the
    suite's band and the flagged rows follow (no threshold is repeated in the report's SQL)."""
    import hala.quality.suites as suites

    data = build_report(audit_out, tmp_path / "a", lid=False, show_progress=False)
    band = suites.bands("arabic_instructions")
    assert data["suite_bands"]["length_ratio"] == list(band["length_ratio"]) == [0.5, 2.0]
    df = metrics_table(audit_out, lid=False)
    lo, hi = sorted(df["length_ratio"].to_list())[6], 2.0  # a band that leaves out the six shortest translations
    outside = {r["id"] for r in df.iter_rows(named=True) if not lo <= r["length_ratio"] <= hi}
    assert 0 < len(outside) <= 30 and not outside <= {r["id"] for r in data["flagged_kept_rows"]}
    real = suites.bands
    monkeypatch.setattr(suites, "bands", lambda name: {**real(name), "length_ratio": (lo, hi)})
    tight = build_report(audit_out, tmp_path / "b", lid=False, show_progress=False)
    assert outside <= {r["id"] for r in tight["flagged_kept_rows"]}
    assert all(not lo <= r["length_ratio"] <= hi or r["arabic_share"] < 0.7 or r["latin_residue"]
               for r in tight["flagged_kept_rows"])


def test_report_on_a_translator_set_reads_its_pairs(tmp_path):
    """`hala report SET`: the pairs of every split (not the chat rows derived from them), the set's own stats and
    rejects; the reverse rows are accounted for as rows added."""
    from tests.helpers.publish_data import write_translator_set

    ts = write_translator_set(tmp_path)
    stats = json.loads((ts / "stats.json").read_text())
    data = build_report(ts, tmp_path / "rep", lid=False, show_progress=False)
    pairs = [r for f in sorted((ts / "pairs").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert data["kind"] == "pairs" and data["rows_kept"] == len(pairs) == stats["total"]
    assert data["rows_read"] == stats["stages"]["pair_check"]["read"] and data["rows_rejected"] == 1
    assert data["rows_added"] == {"reverse": stats["rows_added"]["reverse"]} and data["accounting_ok"]
    assert {r["source_dataset"]: r["rows"] for r in data["by_source"]} == dict(Counter(r["origin"] for r in pairs))
    # reverse rows are made between dedup and split, yet the stages' own per-source counters (stats.json
    # `by_source`) add up to the stage counts
    assert stats["by_source"] and data["by_source_and_stage_matches_stages"] is True
    assert data["fingerprint"] == dataset_fingerprint(ts)
    assert "rows added (not by a filter)" in (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Run in the page by chromium: every table cell whose text is one word must sit on one line (no "qualit y"), and
# the layout facts the test reads are written into the DOM that --dump-dom prints.
LAYOUT_PROBE = """<script>
addEventListener('load', () => {
  const broken = [];
  for (const cell of document.querySelectorAll('th, td')) {
    const text = cell.textContent.trim();
    // one word of letters, digits and underscores (hashes are long tokens that may wrap; "a-b/c" breaks at - or /)
    if (!/^[\\p{L}\\p{N}_]{1,40}$/u.test(text) || cell.querySelector('img')) continue;
    const range = document.createRange();
    range.selectNodeContents(cell);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    if (tops.size > 1) broken.push(text);
  }
  const out = document.createElement('pre');
  out.id = 'layout-probe';
  out.textContent = JSON.stringify({broken});
  document.body.appendChild(out);
});
</script>"""


def _dump_dom(page: Path, tmp_path: Path) -> str:
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", LAYOUT_PROBE + "</body>"), encoding="utf-8")
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,3000",
                        "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0 and "layout-probe" in r.stdout, r.stderr[-2000:]
    return r.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's chromium package)")
def test_report_reads_like_a_review_document_in_a_real_browser(audit_out, tmp_path):
    """`hala report` through the CLI, the page rendered by headless chromium: rejected rows are text (no JSON blob,
    no literal \\n), Arabic sits in right-to-left cells isolated from the English, long texts unfold, each source has
    an English/Arabic sample of kept rows, no one-word cell is broken mid-word, and the plot legends count the rows
    the tables count."""
    from html.parser import HTMLParser

    out = tmp_path / "rep"
    r = subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", "report", str(audit_out), str(out)],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr
    dom = _dump_dom(out / "report.html", tmp_path)
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))

    class Sections(HTMLParser):
        """Text per h2 section; the Arabic cells' text; how deep we are inside an RTL cell."""

        def __init__(self):
            super().__init__()
            self.section, self.text, self.rtl_depth, self.arabic_cells, self.isolated = "", {}, 0, [], 0

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "h2":
                self.section = "…"
            if tag == "td" and a.get("dir") == "rtl":
                self.rtl_depth = 1
                self.arabic_cells.append("")
            elif self.rtl_depth and tag == "td":
                self.rtl_depth = 0
            if self.rtl_depth and tag == "bdi":
                self.isolated += 1

        def handle_endtag(self, tag):
            if tag == "td":
                self.rtl_depth = 0

        def handle_data(self, d):
            if self.section == "…":
                self.section = d.strip()
                return
            self.text[self.section] = self.text.get(self.section, "") + d
            if self.rtl_depth:
                self.arabic_cells[-1] += d

    p = Sections()
    p.feed(dom)
    rejected = p.text["Sample of rejected rows"]
    assert '{"id"' not in rejected and '"messages"' not in rejected and "\\n" not in rejected
    for sample in data["reject_samples"]:
        assert sample["id"] in rejected and sample["reason"] in rejected
    assert "ما عاصمة أستراليا؟" in rejected  # the Arabic of a rejected duplicate, as text
    assert p.arabic_cells and p.isolated >= len(p.arabic_cells)  # every Arabic cell's text bidi-isolated
    assert "<details>" in dom and "<summary>" in dom  # long texts fold, the whole text one click away
    kept = p.text["Kept rows, English and Arabic side by side"]
    for source in {s["source_dataset"] for s in data["by_source"]}:
        assert source in kept
    assert "Give three tips for staying healthy." in kept and "قدّم ثلاث نصائح للحفاظ على الصحة." in kept
    probe = json.loads(re.search(r'<pre id="layout-probe">(.*?)</pre>', dom, re.S).group(1))
    assert probe["broken"] == [], probe  # e.g. "quality" split as "qualit y"
    legends = p.text["Distributions"]
    assert f"kept ({data['rows_kept']:,} rows" in legends and f"rejected ({data['rows_rejected']:,} rows" in legends
    assert "gate's length-ratio band: 0.5 – 2" in legends
    assert data["plot_legends"]["turns"][0] == f"kept ({data['rows_kept']:,} rows)"
