"""The `hala` command: help lists every command, bad recipes and options fail in one clear line with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO


def hala(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_help_lists_every_command():
    r = hala("--help")
    assert r.returncode == 0
    for command in ("translate", "run", "demo", "filter", "dedup", "report", "gate", "publish", "compress", "train",
                    "merge", "eval", "teacher-pairs", "mine", "build-translator-set"):
        assert command in r.stdout, command


def test_translate_help_keeps_the_contract():
    r = hala("translate", "--help")
    assert r.returncode == 0
    for flag in ("--format", "--model", "--server", "--endpoint"):
        assert flag in r.stdout


@pytest.mark.parametrize(
    "body, expected",
    [
        ("flow: corpus\ninput: x\noutput: y\nservr: {type: vllm}\n", "servr: Extra inputs are not permitted"),
        ("flow: corpus\ninput: x\noutput: y\nserver: {type: vlm}\n", "server.type: Input should be"),
        ("flow: corpus\noutput: y\n", "give either `input` (one source) or `sources` (a list)"),
        ("flow: corpus\noutput: y\nsources: [{input: x, fromat: auto}]\n", "sources.0.fromat: Extra inputs"),
        ("flow: corpus\noutput: y\nsources: [{input: x, format: orca}]\n", "sources.0.format: unknown format "
         "'orca'; allowed: auto, scp116k"),
        ("flow: corpus\noutput: y\nformat: lamini\nsources: [{input: x}]\n", "`format` is a per-source key"),
        ("flow: nope\ninput: x\noutput: y\n", "flow: unknown flow 'nope'"),
        ("flow: corpus\ninput: x\noutput: y\nexecutor: {tasks: 0}\n", "executor.tasks"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("flow: corpus\ninput: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_recipe_is_one_line_exit_2(tmp_path, body, expected):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(body)
    r = hala("run", str(recipe))
    assert r.returncode == 2, r.stderr
    assert expected in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_option_value_exit_2(tmp_path):
    r = hala("translate", str(tmp_path), str(tmp_path / "o"), "--format", "csv")
    assert r.returncode == 2 and "format" in r.stderr and "Traceback" not in r.stderr


def test_missing_recipe_file(tmp_path):
    r = hala("run", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_bundled_recipes_validate():
    from hala.pipelines.core.config import load_yaml, validate
    from hala.pipelines.flows.registry import FLOWS as flows

    recipes = sorted((REPO / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        data = load_yaml(path)
        validate(flows[data.get("flow", "corpus")][0], data, str(path))


def test_hub_reader_accepts_a_local_dataset_folder(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hala.pipelines.io.sources import HubDatasetReader

    (tmp_path / "ds").mkdir()
    pq.write_table(pa.Table.from_pylist([{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(5)]),
                   tmp_path / "ds" / "train.parquet")
    docs = list(HubDatasetReader(str(tmp_path / "ds")).run())
    assert len(docs) == 5 and docs[0].metadata["raw"]["instruction"] == "q0"
    shard = list(HubDatasetReader(str(tmp_path / "ds")).run(rank=1, world_size=2))
    assert [d.metadata["row"] for d in shard] == [1, 3]


def test_unexpected_failure_is_one_line_and_traceback_with_verbose(monkeypatch, capsys):
    import typer

    import hala.pipelines.cli.app as cli

    broken = typer.Typer()

    @broken.command()
    def boom() -> None:
        raise RuntimeError("disk on fire\nsecond line")

    @broken.callback()
    def _cb(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
        del verbose  # the root reads -v from argv

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setattr(cli, "get_app", lambda: broken)
    monkeypatch.setattr(sys, "argv", ["hala", "boom"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: unexpected RuntimeError: disk on fire (run `hala -v ...` for the traceback)"
    monkeypatch.setattr(sys, "argv", ["hala", "-v", "boom"])
    with pytest.raises(RuntimeError, match="disk on fire"):
        cli.main()


def test_a_failed_task_is_one_line_naming_its_log(tmp_path):
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.base import PipelineStep

    from hala.pipelines.core.errors import RunFailed
    from hala.pipelines.core.executors import run_executor

    class Explodes(PipelineStep):
        name = "explodes"

        def run(self, data, rank: int = 0, world_size: int = 1):
            raise ValueError("server went away")
            yield  # pragma: no cover

    executor = LocalPipelineExecutor([Explodes()], tasks=1, logging_dir=str(tmp_path / "logs"))
    with pytest.raises(RunFailed, match=r"translate: a task failed \(ValueError: server went away\); the task logs "
                                        r"are in .*logs/logs/ — run the same command again to resume"):
        run_executor(executor, "translate")


def test_submitted_tasks_are_reported_not_counted(tmp_path):
    from hala.pipelines.cli.translate import _summary
    from hala.pipelines.core.executors import run_executor, submitted

    class Submitted:  # what a Slurm executor looks like right after sbatch: run() returns, tasks are pending
        logging_dir = type("Folder", (), {"path": str(tmp_path / "logs")})()

        def run(self):
            return None

        def get_incomplete_ranks(self, skip_completed=None):
            return [0, 1]

    executor = Submitted()
    assert run_executor(executor, "translate") is False
    text = _summary(submitted(tmp_path, executor), tmp_path)
    assert "submitted" in text and str(tmp_path / "logs") in text and "Run the same command again" in text


def test_data_folders_found_in_a_checkout_or_an_installed_wheel(tmp_path, monkeypatch):
    import hala.pipelines.core.assets as assets

    assert assets.asset_dir("sql") == REPO / "sql"  # the checkout
    installed = tmp_path / "prefix" / "share" / "hala"
    (installed / "sql").mkdir(parents=True)
    monkeypatch.setattr(assets, "CHECKOUT", tmp_path / "no-checkout")
    monkeypatch.setattr(assets, "INSTALLED", installed)
    assert assets.asset_dir("sql") == installed / "sql"  # pyproject's data-files, installed under <prefix>/share/hala
    with pytest.raises(FileNotFoundError, match="hala's dataset_cards/ folder is missing"):
        assets.asset_dir("dataset_cards")


def test_wheel_carries_the_data_folders_and_every_recipe(tmp_path):
    import shutil
    import zipfile

    src = tmp_path / "src"  # a copy: building in the checkout would leave build/ and egg-info behind
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                                                             "hala-demo-out", "out"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src),
                        "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    names = zipfile.ZipFile(next(tmp_path.glob("hala-*.whl"))).namelist()
    data = "hala-0.1.0.data/data/share/hala/"
    for folder, pattern in (("sql", "*.sql"), ("dataset_cards", "*.j2"), ("samples/demo", "*.jsonl"),
                            ("samples/audit", "*.jsonl"), ("recipes", "*.yaml")):
        expected = {f"{data}{folder}/{p.name}" for p in (REPO / folder).glob(pattern)}
        assert expected and expected <= set(names), folder
    recipes = {f"hala/{p.relative_to(REPO)}" for p in (REPO / "training" / "recipes").rglob("*.yaml")}
    assert recipes <= set(names)
    top = {n.split("/")[0] for n in names} - {"hala-0.1.0.dist-info", "hala-0.1.0.data"}
    assert top == {"hala"}  # one import package: no generic `pipelines`, `quality` or `training` in site-packages
    assert "hala/__init__.py" not in names and "hala/pipelines/__init__.py" in names

    # installed into a fresh venv (its dependencies from this one's site-packages), run from a folder that holds
    # packages of its own named `quality` and `pipelines`: hala's modules still load, under one name each
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    site.joinpath("deps.pth").write_text("\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    with zipfile.ZipFile(next(tmp_path.glob("hala-*.whl"))) as whl:
        for name in names:
            if name.startswith(("hala/", "hala-0.1.0.dist-info/")):
                whl.extract(name, site)
            elif name.startswith(data):
                target = venv / name.removeprefix("hala-0.1.0.data/data/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(whl.read(name))
    user = tmp_path / "user"
    for pkg in ("quality", "pipelines"):
        (user / pkg).mkdir(parents=True)
        (user / pkg / "__init__.py").write_text("raise ImportError('the user's own package was imported')\n")
    code = ("import hala.quality.report, hala.pipelines.core.assets as a, sys; "
            "assert 'quality' not in sys.modules and 'pipelines' not in sys.modules; "
            "print(a.asset_dir('sql'))")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=user, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert Path(r.stdout.strip()) == venv / "share" / "hala" / "sql"
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "hala.pipelines.cli", "--version"], cwd=user,
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "hala 0.1.0", r.stderr[-2000:]
