"""What a user meets through the real `hala` command (issue 14): a named model, one-line errors for ordinary
mistakes, zero rows kept as a result, nothing written before the checks pass, one flag per idea, recipe.yaml from
every command that writes a dataset."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

ALPACA = REPO / "samples" / "demo" / "alpaca.jsonl"


def hala(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def one_line_error(r: subprocess.CompletedProcess, code: int = 2) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    return errors[0]


def rows(path: Path, n: int = 2) -> Path:
    path.write_text("".join(ALPACA.read_text(encoding="utf-8").splitlines(keepends=True)[:n]), encoding="utf-8")
    return path


# 1. the toy model is never a default
@pytest.mark.parametrize("command", ["translate", "teacher-pairs", "mine"])
def test_no_model_is_a_one_line_error_naming_the_flag(tmp_path, command):
    src = REPO / "samples" / "opus" / "ar_en.jsonl" if command == "mine" else rows(tmp_path / "a.jsonl")
    fmt = ["--format", "alpaca"] if command == "teacher-pairs" else []  # the input is checked before the model
    err = one_line_error(hala(command, str(src), str(tmp_path / "out"), *fmt))
    assert "--model" in err and "--model tiny" in err
    assert not (tmp_path / "out").exists()


def test_tiny_model_is_chosen_by_name_and_says_its_output_is_meaningless(tmp_path):
    r = hala("translate", str(rows(tmp_path / "a.jsonl")), str(tmp_path / "out"), "--model", "tiny")
    assert r.returncode == 0, r.stderr
    assert "--model tiny" in r.stderr and "meaningless" in r.stderr
    assert yaml.safe_load((tmp_path / "out" / "recipe.yaml").read_text())["server"]["model"] == "tiny"


def test_bundled_recipes_name_their_model():
    for name in ("corpus_demo.yaml", "teacher_pairs_demo.yaml", "opus_mining_demo.yaml"):
        assert yaml.safe_load((REPO / "recipes" / name).read_text())["server"]["model"] == "tiny", name


# 2. zero rows kept is a result, not a crash; an empty input is a one-line error
def test_zero_rows_kept_writes_rejects_and_stats_and_exits_0(tmp_path):
    out = tmp_path / "out"
    src = tmp_path / "a.jsonl"  # rows of no known shape: each a reasoned reject (a named --format that fits none of
    src.write_text('{"foo": 1, "bar": "x"}\n{"foo": 2, "bar": "y"}\n', encoding="utf-8")  # them is exit 2 instead)
    r = hala("translate", str(src), str(out), "--model", "tiny")
    assert r.returncode == 0, r.stderr
    assert "0 rows kept (2 rejected: unknown_format=2)" in r.stdout
    assert "run the same command again" not in r.stdout + r.stderr and "Traceback" not in r.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"]["normalize"] == {"read": 2, "kept": 0, "rejected": 2, "reasons": {"unknown_format": 2}}
    assert len((out / "rejects" / "normalize").glob("*.jsonl").__next__().read_text().splitlines()) == 2
    assert (out / "data").is_dir() and not list((out / "data").iterdir())


@pytest.mark.parametrize("command", [["translate", "--model", "tiny"], ["filter", "--kind", "instructions"],
                                     ["dedup"]])
def test_empty_input_is_a_one_line_error(tmp_path, command):
    (tmp_path / "empty.jsonl").write_text("")
    err = one_line_error(hala(command[0], str(tmp_path / "empty.jsonl"), str(tmp_path / "out"), *command[1:]))
    assert "empty (no rows to read)" in err
    assert not (tmp_path / "out").exists()


def test_limit_0_is_a_one_line_error(tmp_path):
    err = one_line_error(hala("translate", str(rows(tmp_path / "a.jsonl")), str(tmp_path / "out"), "--model", "tiny",
                              "--limit", "0"))
    assert "--limit 0" in err and "-1" in err


# 3. messages that name the flag and the allowed values
def test_bad_format_names_the_allowed_values(tmp_path):
    err = one_line_error(hala("translate", str(rows(tmp_path / "a.jsonl")), str(tmp_path / "o"), "--model", "tiny",
                              "--format", "alpca"))
    assert "format" in err and "alpca" in err and all(p in err for p in ("alpaca", "sharegpt", "openorca", "tulu3"))
    assert "pattern" not in err


def test_eval_without_output_names_it(tmp_path):
    err = one_line_error(hala("eval", "--model", "a=tiny", "--heldout", str(ALPACA)))
    assert "OUTPUT" in err and "Field required" not in err


def test_lighteval_task_without_lighteval_is_exit_2_with_the_extra(tmp_path):
    import importlib.util

    if importlib.util.find_spec("lighteval") is not None:
        pytest.skip("lighteval is installed here")
    err = one_line_error(hala("eval", "--model", "a=tiny", "--heldout", str(ALPACA), str(tmp_path / "ev"),
                              "--lighteval-task", "arabic_mmlu"))
    assert "pip install 'hala[eval]'" in err
    assert not (tmp_path / "ev").exists()


# 4. nothing is created before the checks pass
@pytest.mark.parametrize("command", [["translate", "--model", "tiny"], ["filter", "--kind", "pairs"], ["dedup"],
                                     ["teacher-pairs", "--model", "tiny"], ["mine", "--no-judge"],
                                     ["report"]])
def test_a_missing_input_leaves_no_output_folder(tmp_path, command):
    one_line_error(hala(command[0], str(tmp_path / "missing.jsonl"), str(tmp_path / "out"), *command[1:]))
    assert not (tmp_path / "out").exists()


# 7. one flag per idea
COMMANDS = ["translate", "run", "filter", "dedup", "teacher-pairs", "mine", "build-translator-set", "report", "gate",
            "publish", "demo", "compress", "merge", "eval", "train sft"]


def _help(command: str) -> str:
    r = hala(*command.split(), "--help")
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_usage_in_capitals_and_no_type_noise(command):
    text = _help(command)
    for noise in ("<str>", "<bool>", "<int>", "<float>", "{input}", "{output}"):
        assert noise not in text, (command, noise)
    assert "--out " not in text and "--output " not in text and "--output-dir" not in text and "--rows" not in text


def test_one_flag_per_idea_across_commands():
    from hala.pipelines.cli.options import SERVER_TYPES

    usage = {c: next(line for line in _help(c).splitlines() if "Usage:" in line) for c in COMMANDS}
    for c in ("translate", "filter", "dedup", "report"):
        assert usage[c].split("[OPTIONS]")[1].split() == ["INPUT", "OUTPUT"], usage[c]
    for c in ("teacher-pairs", "mine", "compress"):
        assert usage[c].split("[OPTIONS]")[1].split() == ["INPUT", "[OUTPUT]"], usage[c]
    for c in ("translate", "teacher-pairs", "mine", "compress", "eval"):
        assert "--limit" in _help(c), c
    for c in ("translate", "mine"):
        assert "--hub-config" in _help(c) and "--config " not in _help(c)
    for c in ("filter", "dedup"):
        assert "--settings" in _help(c) and "--config " not in _help(c)
    for c in ("translate", "teacher-pairs", "mine", "demo", "eval"):
        assert " ".join(SERVER_TYPES.split()) in " ".join(_help(c).replace("│", " ").split()), c


def test_version():
    r = hala("--version")
    assert r.returncode == 0 and r.stdout.startswith("hala ")


# 8. every command that writes a dataset writes recipe.yaml, re-runnable with `hala run`
def test_filter_and_dedup_write_a_rerunnable_recipe(tmp_path):
    pairs = REPO / "samples" / "opus" / "ar_en.jsonl"
    mined = tmp_path / "mined"
    assert hala("mine", str(pairs), str(mined), "--no-judge", "--limit", "12").returncode == 0
    for command in (["filter", "--kind", "pairs"], ["dedup"]):
        out = tmp_path / command[0]
        r = hala(command[0], str(mined), str(out), *command[1:])
        assert r.returncode == 0, r.stderr
        recipe = yaml.safe_load((out / "recipe.yaml").read_text())
        assert recipe["flow"] == command[0] and recipe["input"] == str(mined)
        first = json.loads((out / "stats.json").read_text())
        rerun = hala("run", str(out / "recipe.yaml"))
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads((out / "stats.json").read_text())["stages"] == first["stages"]
    r = hala("build-translator-set", str(mined), str(tmp_path / "set"), "--test-size", "0.2", "--dev-size", "0.2")
    assert r.returncode == 0, r.stderr
    splits = json.loads((tmp_path / "set" / "stats.json").read_text())["splits"]
    assert f"{tmp_path / 'set' / 'pairs'}/<split>.parquet" in r.stdout and f"{tmp_path / 'set' / 'chat'}" in r.stdout
    for split, s in splits.items():  # the summary names both folders with each split's rows
        assert re.search(rf"{split}\s+pairs/{split}\.parquet\s+{s['rows']} rows\s+chat/{split}\.parquet\s+"
                         rf"{s['chat_rows']} rows", r.stdout), r.stdout


# 5. a model server that does not start names its log; one that starts says how long it took
def test_server_start_is_announced_and_a_failed_start_names_its_log(tmp_path):
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "nonsense"}')
    out = tmp_path / "out"
    r = hala("translate", str(rows(tmp_path / "a.jsonl")), str(out), "--model", str(bad))
    err = one_line_error(r, code=1)
    assert "starting the model server (TransformersServer for not-a-model)" in r.stderr
    log = re.search(r"the model server's log: (\S+\.log)", err).group(1)
    assert "Unrecognized" in Path(log).read_text() or "Error" in Path(log).read_text()
    assert "fix the model server" in err and "run the same command again to resume" not in err
    assert "Traceback" not in r.stderr


def test_tiny_run_announces_the_server_start_and_draws_one_bar(tmp_path):
    r = hala("translate", str(rows(tmp_path / "a.jsonl", 3)), str(tmp_path / "out"), "--model", "tiny",
             "--tm", str(tmp_path / "tm.sqlite"))  # an empty memory: the model server is needed
    assert r.returncode == 0, r.stderr
    screen = r.stderr.replace("\r", "\n")
    assert re.search(r"model server ready \(TransformersServer for tiny-lfm2-v1-\w+\) after \d+ s", screen)
    assert re.search(r"^translate: 100%\|.*\| 3/3 \[\d\d:\d\d<\d\d:\d\d", screen, re.M)  # total and ETA
    assert "Document progress" not in screen and "Traceback" not in screen


def test_shared_help_lists_are_the_recipe_types():
    """options.py keeps `hala --help` light (no datatrove import): its lists must stay those of the recipe models."""
    from typing import get_args

    from hala.pipelines.cli.options import FORMATS, SERVER_TYPES
    from hala.pipelines.serving.servers import ServerType
    from hala.pipelines.sources.presets import FORMATS as PRESETS

    assert SERVER_TYPES.split(" | ") == list(get_args(ServerType))
    assert FORMATS.split(" | ") == list(PRESETS)
