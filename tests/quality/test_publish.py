"""`hala publish`: the dry-run bundle loads with `datasets`, the gate binding refuses, and the push path runs
huggingface_hub's real client against a local Hub test server (one commit, a tag, retry on 429, resume)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from hala.quality.cli import register
from hala.quality.fingerprint import file_sha256
from tests.helpers.hub_test_server import HubTestServer
from tests.helpers.publish_data import SOURCES, write_instructions, write_translator_set, write_validation

SECRET = "hf_testTOKENdoNotPrint0123456789"
REPO = "hala-org/ar-instructions"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """hala (test app with only the publish command)"""

    register(app)
    return app


def _publish(*args: str):
    return CliRunner().invoke(_app(), ["publish", *args])


@pytest.fixture
def dataset(tmp_path) -> Path:
    ds = write_instructions(tmp_path / "ds")
    write_validation(ds)
    return ds


@pytest.fixture
def hub(monkeypatch):
    """The Hub test server, with the client pointed at it: online, token in the environment, legacy LFS (no Xet)."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    with HubTestServer(token=SECRET) as server:
        yield server


def test_dry_run_bundle_loads_every_config(dataset, tmp_path):
    import datasets

    out = tmp_path / "bundle"
    result = _publish(str(dataset), "--repo", REPO, "--version", "1.0.0", "--dry-run", str(out),
                      "--max-shard-rows", "3")
    assert result.exit_code == 0, result.output
    assert "16 rows, 4 configs" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    expected = {"default": sum(SOURCES.values()), "open_orca_openorca": 7, "nousresearch_hermes_3_dataset": 5,
                "ericlu_scp_116k": 4}
    assert {c: s["train"] for c, s in manifest["configs"].items()} == expected
    for config, rows in expected.items():
        loaded = datasets.load_dataset(str(out), config, cache_dir=str(tmp_path / "hf-cache"))
        assert list(loaded) == ["train"] and loaded["train"].num_rows == rows, config
        if config != "default":
            assert {s["dataset"] for s in loaded["train"]["source"]} == {
                next(d for d in SOURCES if d.lower().replace("/", "_").replace("-", "_") == config)}
    # shards: bounded, named <split>-0000N-of-0000M, hashes in the manifest are the files' hashes
    shards = sorted(p.relative_to(out).as_posix() for p in (out / "data").rglob("*.parquet"))
    assert shards == sorted(f for f in manifest["files"] if f.endswith(".parquet"))
    assert "data/open_orca_openorca/train-00002-of-00003.parquet" in shards
    assert all(re.fullmatch(r"data/\w+/train-\d{5}-of-\d{5}\.parquet", s) for s in shards)
    assert max(pq.ParquetFile(out / s).metadata.num_rows for s in shards) == 3
    assert sum(manifest["files"][s]["rows"] for s in shards) == 16
    assert all(manifest["files"][f]["sha256"] == file_sha256(out / f) for f in manifest["files"])
    assert manifest["fingerprint"] == json.loads((dataset / "validation.json").read_text())["fingerprint"]
    # the same rows as the dataset, byte-identical bundle on a second build (what makes resume possible)
    ids = {r for f in (dataset / "data").glob("*.parquet") for r in pq.read_table(f).column("id").to_pylist()}
    assert set(datasets.load_dataset(str(out), "default", cache_dir=str(tmp_path / "hf-cache"))["train"]["id"]) == ids
    # no config named: `default` (marked so in the card) is what load_dataset(repo) gives
    assert datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))["train"].num_rows == 16
    again = tmp_path / "bundle2"
    assert _publish(str(dataset), "--repo", REPO, "--version", "1.0.0", "--dry-run", str(again),
                    "--max-shard-rows", "3").exit_code == 0
    assert all(file_sha256(again / f) == file_sha256(out / f) for f in [*manifest["files"], "manifest.json"])


def test_refuses_without_passing_validation(dataset, tmp_path):
    (dataset / "validation.json").unlink()
    result = _publish(str(dataset), "--repo", REPO, "--version", "1.0.0", "--dry-run", str(tmp_path / "a"))
    assert result.exit_code == 1 and "run `hala gate" in result.output
    assert not (tmp_path / "a").exists()

    write_validation(dataset, success=False)
    result = _publish(str(dataset), "--repo", REPO, "--version", "1.0.0", "--dry-run", str(tmp_path / "b"))
    assert result.exit_code == 1 and "quality gate FAILED" in result.output
    assert "expect_column_values_to_be_between" in result.output


def test_refuses_stale_fingerprint(dataset, tmp_path):
    shard = sorted((dataset / "data").glob("*.parquet"))[0]
    table = pq.read_table(shard)
    pq.write_table(table.slice(1), shard)  # one row dropped after the gate ran
    result = _publish(str(dataset), "--repo", REPO, "--version", "1.0.0", "--dry-run", str(tmp_path / "out"))
    assert result.exit_code == 1 and "stale" in result.output and "hala gate" in result.output


def test_bad_version_and_repo_are_user_errors(dataset, tmp_path):
    from hala.pipelines.core.errors import UserError
    from hala.quality.publish import publish

    with pytest.raises(UserError, match="X.Y.Z"):
        publish(dataset, REPO, "1.0", dry_run=tmp_path / "x")
    with pytest.raises(UserError, match="ORG/NAME"):
        publish(dataset, "noslash", "1.0.0", dry_run=tmp_path / "x")
    for version in ("1.0.0\n", "01.0.0", "1.0.0-", " 1.0.0"):
        with pytest.raises(UserError, match="X.Y.Z"):
            publish(dataset, REPO, version, dry_run=tmp_path / "x")
    for repo in ("x/..", "org/x.git", "org/--x", "org/.hidden"):
        with pytest.raises(UserError, match="refuses this name|ORG/NAME"):
            publish(dataset, repo, "1.0.0", dry_run=tmp_path / "x")
    with pytest.raises(UserError, match="--recipe /nope.yaml: no such file"):
        publish(dataset, REPO, "1.0.0", dry_run=tmp_path / "x", recipe="/nope.yaml")
    assert not (tmp_path / "x").exists()  # refused before the dry run built anything


def test_push_one_commit_tag_retry_and_no_token_leak(dataset, hub, caplog):
    hub.fail("POST", "/commit/", 429)  # the commit is rate-limited once
    hub.fail("POST", "/tag/", 503)  # and the tag hits a transient server error once
    caplog.set_level(logging.DEBUG)
    result = _publish(str(dataset), "--repo", REPO, "--version", "1.0.0", "--endpoint", hub.url,
                      "--max-shard-rows", "4")
    assert result.exit_code == 0, result.output + repr(result.exception)
    repo = hub.repos[REPO]
    assert repo.private is True
    # exactly one release commit (after the repo's initial commit) holding every file of the bundle
    releases = [c for c in hub.commits if c["repo"] == REPO and c["summary"].startswith("Release v1.0.0")]
    assert len(releases) == 1 and len(repo.commits) == 2
    ops = releases[0]["operations"]
    paths = sorted(o["path"] for o in ops)
    assert paths == sorted(["README.md", "manifest.json",
                            "data/ericlu_scp_116k/train-00000-of-00001.parquet",
                            "data/nousresearch_hermes_3_dataset/train-00000-of-00002.parquet",
                            "data/nousresearch_hermes_3_dataset/train-00001-of-00002.parquet",
                            "data/open_orca_openorca/train-00000-of-00002.parquet",
                            "data/open_orca_openorca/train-00001-of-00002.parquet"])
    assert {o["key"] for o in ops if o["path"].endswith(".parquet")} == {"lfsFile"}
    assert {o["key"] for o in ops if not o["path"].endswith(".parquet")} == {"file"}
    assert len(hub.lfs_objects) == 5 and len(hub.lfs_puts) == 5
    assert repo.tags == {"v1.0.0": releases[0]["oid"]}
    # the 429 and the 503 were answered once each and retried by publish's backoff
    assert len(hub.answered(429)) == 1 and len(hub.answered(503)) == 1
    assert "commit: Hub answered 429" in caplog.text and "create tag: Hub answered 503" in caplog.text
    assert "7 files uploaded, 0 already there" in result.output
    # the token went to the server (it checks it) but never to the screen or the logs
    assert SECRET not in result.output and SECRET not in caplog.text


def test_public_flag_and_existing_tag_refused(dataset, hub, tmp_path):
    assert _publish(str(dataset), "--repo", REPO, "--version", "2.0.0", "--endpoint", hub.url,
                    "--public").exit_code == 0
    assert hub.repos[REPO].private is False
    n_commits = len(hub.commits)
    again = _publish(str(dataset), "--repo", REPO, "--version", "2.0.0", "--endpoint", hub.url, "--public")
    assert again.exit_code == 0 and "0 files uploaded" in again.output  # its own tag: this release, done
    other = write_instructions(tmp_path / "other", {name: n + 1 for name, n in SOURCES.items()})
    write_validation(other)
    result = _publish(str(other), "--repo", REPO, "--version", "2.0.0", "--endpoint", hub.url, "--public")
    assert result.exit_code == 1 and "already has tag v2.0.0 on another commit" in result.output
    assert len(hub.commits) == n_commits


def test_resume_after_death_during_upload(dataset, hub):
    from huggingface_hub.errors import HfHubHTTPError

    from hala.quality.publish import RetryPolicy, publish

    hub.die_after_lfs_uploads = 1
    with pytest.raises(RuntimeError, match="Error while uploading") as died:
        publish(dataset, REPO, "1.0.0", endpoint=hub.url, retry=RetryPolicy(base_wait=0.0))
    assert isinstance(died.value.__cause__, HfHubHTTPError) and died.value.__cause__.response.status_code == 403
    assert len(hub.lfs_objects) == 1 and not hub.repos[REPO].tags
    assert len(hub.repos[REPO].commits) == 1  # only the repo's initial commit: nothing half-committed
    survivor = next(iter(hub.lfs_objects))

    hub.die_after_lfs_uploads = None
    puts_before = len(hub.lfs_puts)
    bundle, result = publish(dataset, REPO, "1.0.0", endpoint=hub.url, retry=RetryPolicy(base_wait=0.0))
    second_run_puts = hub.lfs_puts[puts_before:]
    assert survivor not in second_run_puts  # the object that made it is not uploaded again
    assert sorted(second_run_puts) == sorted(
        m["sha256"] for f, m in bundle.manifest["files"].items() if f.endswith(".parquet") and m["sha256"] != survivor)
    assert len(hub.repos[REPO].commits) == 2 and hub.repos[REPO].tags == {"v1.0.0": result.commit}


def test_resume_after_death_between_commit_and_tag(dataset, hub):
    from hala.quality.publish import RetryPolicy, publish

    hub.fail("POST", "/tag/", 403)  # not retryable: the run dies after its commit landed
    died = _publish(str(dataset), "--repo", REPO, "--version", "1.0.0", "--endpoint", hub.url)
    assert died.exit_code == 1 and "push failed: the Hub answered 403" in died.output
    assert "Run the same command again" in died.output
    commit = hub.repos[REPO].head
    assert len(hub.repos[REPO].commits) == 2 and not hub.repos[REPO].tags
    puts, commits = len(hub.lfs_puts), len(hub.commits)

    _, result = publish(dataset, REPO, "1.0.0", endpoint=hub.url, retry=RetryPolicy(base_wait=0.0))
    assert result.uploaded == [] and len(result.skipped) == 5
    assert len(hub.lfs_puts) == puts and len(hub.commits) == commits  # nothing re-uploaded, no empty commit
    assert hub.repos[REPO].tags == {"v1.0.0": commit} and result.commit == commit


def test_real_gate_then_publish_then_stale(tmp_path):
    """`hala gate`'s own validation.json unlocks publish; editing the data afterwards locks it again."""
    from hala.quality.gate import run_gate

    ds = write_instructions(tmp_path / "ds")
    gate = run_gate(str(ds), None)
    assert gate.success, gate.failed
    result = _publish(str(ds), "--repo", REPO, "--version", "0.1.0", "--dry-run", str(tmp_path / "ok"))
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "ok" / "manifest.json").read_text())
    assert manifest["fingerprint"] == gate.fingerprint and manifest["validation"]["suite"] == gate.suite
    with (ds / "data" / "00000.parquet").open("ab") as f:
        f.write(b"\0")  # one byte changed after the gate
    result = _publish(str(ds), "--repo", REPO, "--version", "0.1.0", "--dry-run", str(tmp_path / "no"))
    assert result.exit_code == 1 and "stale" in result.output


def test_push_without_token_is_a_user_error(dataset, hub, monkeypatch, tmp_path):
    import huggingface_hub.constants as hf_constants

    from hala.pipelines.core.errors import UserError
    from hala.quality.publish import publish

    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    with pytest.raises(UserError, match="HF_TOKEN"):
        publish(dataset, REPO, "1.0.0", endpoint=hub.url)
    assert hub.requests == []


def test_splits_and_shards_without_a_column(tmp_path):
    """A source recorded with its own split gets that split; a shard missing a column is filled with nulls."""
    import datasets
    import pyarrow.parquet as pq

    ds = write_instructions(tmp_path / "ds", split_of={"EricLu/SCP-116K": "test[:50%]"})
    shard = sorted((ds / "data").glob("*.parquet"))[-1]
    pq.write_table(pq.read_table(shard).drop_columns(["messages_en"]), shard)
    write_validation(ds)
    out = tmp_path / "out"
    assert _publish(str(ds), "--repo", REPO, "--version", "1.0.0", "--dry-run", str(out)).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["configs"]["default"] == {"test_50": 4, "train": 12}
    assert manifest["configs"]["ericlu_scp_116k"] == {"test_50": 4}
    assert not (out / ".staging").exists()
    loaded = datasets.load_dataset(str(out), "default", cache_dir=str(tmp_path / "cache"))
    assert {k: v.num_rows for k, v in loaded.items()} == {"test_50": 4, "train": 12}
    nulls = sum(r is None for r in loaded["train"]["messages_en"]) + sum(r is None for r in loaded["test_50"]["messages_en"])
    assert nulls == pq.read_metadata(shard).num_rows


def test_empty_dataset_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hala.pipelines.core.records import instruction_schema

    ds = tmp_path / "ds"
    (ds / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([], schema=instruction_schema()), ds / "data" / "00000.parquet")
    write_validation(ds)
    from hala.pipelines.core.errors import UserError
    from hala.quality.publish import publish

    with pytest.raises(UserError, match="no rows"):
        publish(ds, REPO, "1.0.0", dry_run=tmp_path / "out")


def test_next_release_replaces_stale_shards(dataset, hub):
    """v1.1.0 with other sharding: its one commit deletes v1.0.0's shards so the configs' globs see only v1.1.0."""
    from hala.quality.publish import RetryPolicy, publish

    _, first = publish(dataset, REPO, "1.0.0", endpoint=hub.url, max_shard_rows=2, retry=RetryPolicy(base_wait=0.0))
    # README, manifest and 4 + 3 + 2 shards of at most 2 rows (7 Open-Orca, 5 Hermes-3, 4 SCP-116K rows)
    assert first.deleted == [] and len(first.uploaded) == 2 + 4 + 3 + 2
    bundle, second = publish(dataset, REPO, "1.1.0", endpoint=hub.url, retry=RetryPolicy(base_wait=0.0))
    repo = hub.repos[REPO]
    assert sorted(repo.files) == sorted([".gitattributes", "manifest.json", *bundle.manifest["files"]])
    assert sorted(second.deleted) == sorted(f for f in first.uploaded if f.startswith("data/"))
    last = hub.commits[-1]["operations"]
    assert sorted(o["path"] for o in last if o["key"] == "deletedFile") == sorted(second.deleted)
    assert repo.tags == {"v1.0.0": first.commit, "v1.1.0": second.commit} and len(repo.commits) == 3


def test_validation_but_no_data_files_is_a_clear_error(tmp_path):
    """A folder whose data is gone (or was never written) is refused in one line, not a FileNotFoundError."""
    from hala.pipelines.core.errors import UserError
    from hala.quality.publish import PublishRefused, publish

    ds = write_instructions(tmp_path / "ds")
    write_validation(ds)
    for f in (ds / "data").glob("*.parquet"):
        f.unlink()
    with pytest.raises(UserError, match="no data files.*nothing to publish") as refused:
        publish(ds, REPO, "1.0.0", dry_run=tmp_path / "out")
    assert not isinstance(refused.value, PublishRefused)  # bad input (exit 2), not a gate refusal (exit 1)
    assert not (tmp_path / "out").exists()
    result = _publish(str(ds), "--repo", REPO, "--version", "1.0.0", "--dry-run", str(tmp_path / "out"))
    assert isinstance(result.exception, UserError)  # `hala` prints it as one line and exits 2


def test_translator_set_publishes_pairs_and_chat_with_their_splits(tmp_path):
    """`hala build-translator-set` output → `hala gate` (on its pairs) → `hala publish --dry-run`: configs `pairs`
    (default) and `chat`, each split loadable with `datasets.load_dataset(OUT, config, split=...)`."""
    import datasets

    from hala.pipelines.core.errors import UserError
    from hala.quality.gate import run_gate
    from tests.helpers.cards import read_card_header

    ts = write_translator_set(tmp_path)
    stats = json.loads((ts / "stats.json").read_text())
    per_split = {s: v["rows"] for s, v in stats["splits"].items()}
    assert set(per_split) == {"train", "dev", "test"} and all(per_split.values())
    gate = run_gate(ts)
    assert gate.success and gate.dataset_kind == "pairs" and gate.statistics["rows"] == sum(per_split.values())
    assert (ts / "validation.json").is_file()

    out = tmp_path / "bundle"
    result = _publish(str(ts), "--repo", "hala-org/translator-set", "--version", "1.0.0", "--dry-run", str(out),
                      "--max-shard-rows", "50")
    assert result.exit_code == 0, result.output + repr(result.exception)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "translator_set" and manifest["rows"] == sum(per_split.values())
    assert manifest["configs"] == {"pairs": dict(sorted(per_split.items())), "chat": dict(sorted(per_split.items()))}
    head = read_card_header((out / "README.md").read_text(encoding="utf-8"))
    assert [c["config_name"] for c in head["configs"]] == ["pairs", "chat"] and head["configs"][0]["default"]
    assert head["task_categories"] == ["translation"] and "translator-training" in head["tags"]
    cache = str(tmp_path / "hf-cache")
    for split, rows in per_split.items():
        local_pairs = pq.read_table(ts / "pairs" / f"{split}.parquet").to_pylist()
        local_chat = pq.read_table(ts / "chat" / f"{split}.parquet").to_pylist()
        pairs = datasets.load_dataset(str(out), "pairs", split=split, cache_dir=cache)
        chat = datasets.load_dataset(str(out), "chat", split=split, cache_dir=cache)
        assert pairs.num_rows == chat.num_rows == rows == len(local_pairs)
        assert sorted(pairs["id"]) == sorted(r["id"] for r in local_pairs) == sorted(chat["id"])
        by_id = {r["id"]: r for r in local_chat}
        assert all(r["messages"] == by_id[r["id"]]["messages"] for r in chat)
    assert datasets.load_dataset(str(out), split="test", cache_dir=cache).column_names[:2] == ["id", "src_lang"]
    body = (out / "README.md").read_text(encoding="utf-8")
    assert '"pairs", split="train"' in body and "| `chat` | `test` |" in body
    assert f"{stats['rows_added']['reverse']:,} (reverse)" in body  # the AR→EN rows, accounted for
    assert "no source text" in body.lower() and gate.fingerprint in body
    # the set's own OUT/recipe.yaml (written by build-translator-set) gives the card its split settings
    assert "flow `translator_set`" in body and "\ntest_size: 0.2\n" in body and "\nreverse: true\n" in body

    # publishing one half of the set is refused with a pointer to the whole
    with pytest.raises(UserError, match="one half of the translator set"):
        from hala.quality.publish import publish

        publish(ts / "pairs", REPO, "1.0.0", dry_run=tmp_path / "half")


def test_translator_set_chat_rows_must_be_derived_from_the_gated_pairs(tmp_path):
    """The gate judges the pairs; the chat rows ride on that verdict only while each is exactly its pair's row."""
    import pyarrow as pa

    from hala.quality.gate import GateRefused, run_gate
    from hala.quality.publish import publish

    ts = write_translator_set(tmp_path, reverse=False)
    chat_file = ts / "chat" / "train.parquet"
    table = pq.read_table(chat_file)
    rows = table.to_pylist()
    rows[0]["messages"][1]["content"] = "إجابة أخرى لم يتحقق منها أحد."  # an assistant turn the gate never saw
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), chat_file)
    assert run_gate(ts).success  # the gate looks at the pairs only ...
    with pytest.raises(GateRefused, match="not the chat row of pair"):  # ... so publish checks the chat rows
        publish(ts, REPO, "1.0.0", dry_run=tmp_path / "out")
    pq.write_table(pa.Table.from_pylist(rows[1:], schema=table.schema), chat_file)
    run_gate(ts)
    with pytest.raises(GateRefused, match="rows but pairs/train.parquet"):
        publish(ts, REPO, "1.0.0", dry_run=tmp_path / "out2")
    # a validation.json of another kind does not unlock a translator set
    saved = json.loads((ts / "validation.json").read_text())
    (ts / "validation.json").write_text(json.dumps({**saved, "dataset_kind": "instructions"}))
    with pytest.raises(GateRefused, match="gated on its pairs"):
        publish(ts, REPO, "1.0.0", dry_run=tmp_path / "out3")


def test_hub_connection_errors_are_retried():
    import httpx

    from hala.quality.publish import RetryPolicy

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused")
        return "ok"

    waits: list[float] = []
    assert RetryPolicy(base_wait=0.01, sleep=waits.append).call("list refs", flaky) == "ok"
    assert len(calls) == 3 and len(waits) == 2
    with pytest.raises(httpx.ConnectError):
        RetryPolicy(attempts=2, base_wait=0.0, sleep=lambda s: None).call("x", lambda: (_ for _ in ()).throw(
            httpx.ConnectError("down")))
