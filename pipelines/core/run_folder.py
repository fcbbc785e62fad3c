"""One output folder, one run: the folder records what determines its rows, and one command writes it at a time.

`OUT/run.json` holds the run's fingerprint — the flow, a fingerprint of the input data, the model's identity and
prompt version, and every setting that changes rows. The same run into the folder resumes (datatrove skips what is
done); a different run stops before any work with one line naming what differs (exit 2), unless `overwrite` clears
hala's own entries first. `OUT/.lock` (an fcntl lock held for the whole command) refuses a second writer.

Flows that call each other on one folder (corpus → dedup, filter → dedup) bind it once: a nested `bound_run` on a
folder this process already holds is a no-op, and the outer fingerprint covers the whole flow.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from hala.pipelines.core.datasets import data_folder, record_files
from hala.pipelines.core.errors import UserError

RUN_FILE = "run.json"
LOCK_FILE = ".lock"
# what hala writes into an output folder: what --overwrite removes (nothing else in the folder is touched)
HALA_ENTRIES = ("data", "rejects", "logs", "work", "stats.json", "recipe.yaml", RUN_FILE, "validation.json",
                "manifest.json", "report.json", "report.md", "report.html", "plots")
_HELD: dict[Path, Any] = {}  # folders this process holds the lock of (nested flows)


def _hash_file(h, path: Path) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)


def data_fingerprint(spec: str) -> str:
    """The input's content: a hash of every data file (relative name and bytes) of a local file or folder (a hala
    dataset folder: its `data/`); a Hub dataset id as `hub:ID` (its revision is part of the settings)."""
    p = Path(spec)
    if not p.exists():
        return f"hub:{spec}"
    h = hashlib.blake2b(digest_size=16)
    if p.is_file():
        _hash_file(h, p)
        return h.hexdigest()
    root = data_folder(p)
    for q in record_files(p, (".jsonl", ".json", ".parquet")):
        h.update(str(q.relative_to(root)).encode() + b"\0")
        _hash_file(h, q)
    return h.hexdigest()


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def differences(old: dict, new: dict) -> list[str]:
    """The dotted keys whose values differ between two fingerprints."""
    a, b = _flatten(old), _flatten(new)
    out = set()
    for k in a.keys() | b.keys():
        if a.get(k) != b.get(k):
            parts = k.split(".")  # `filters.lid` switched off: name the block, not each of its keys
            out.add(next(p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if p in a or p in b))
    return sorted(out)


def _clear(out: Path, owned: tuple[str, ...] | None) -> None:
    names = owned if owned is not None else [p.name for p in out.iterdir() if p.name != LOCK_FILE]
    for name in names:
        p = out / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def _lock(out: Path):
    fh = open(out / LOCK_FILE, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise UserError(f"{out}: another hala command is writing this folder; wait for it to finish or use "
                        "another output folder") from None
    return fh


def prepare_folder(out: str | Path) -> Path:
    """OUT created as a folder (an existing file there is a UserError)."""
    out = Path(out)
    if str(out).strip() in ("", "."):
        raise UserError("output: give an output folder (not empty, not the current directory)")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; give an output folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def check_run(out: Path, fingerprint: dict, overwrite: bool, owned: tuple[str, ...] | None = HALA_ENTRIES) -> None:
    """Compare OUT's recorded run with this one (the lock is held); clear it on `overwrite`; record this run.

    `owned`: the entries hala writes there (what --overwrite removes); None for a folder that is wholly the run's
    (a model folder of training): everything in it, removed only when its run.json says hala made it."""
    run_file = out / RUN_FILE
    others = [p.name for p in out.iterdir() if p.name != LOCK_FILE]
    if overwrite:
        if owned is None and others and not run_file.is_file():
            raise UserError(f"{out} holds files no hala run recorded (no {RUN_FILE}); --overwrite only clears a "
                            "folder hala wrote: give an empty or new folder")
        _clear(out, owned)
    elif run_file.is_file():
        try:
            old = json.loads(run_file.read_text())
        except ValueError:
            old = {}
        diff = differences(old, fingerprint)
        if diff:
            diff = [k.removeprefix("settings.") for k in diff]
            shown = ", ".join(diff[:6]) + (f" and {len(diff) - 6} more" if len(diff) > 6 else "")
            raise UserError(f"{out} holds another run ({shown} differ); use --overwrite to start it clean, or "
                            "another output folder")
        return
    elif (others if owned is None else any((out / name).exists() for name in owned)):
        raise UserError(f"{out} holds output of a run it does not describe (no {RUN_FILE}); use --overwrite to "
                        "start it clean, or another output folder")
    tmp = run_file.with_name(RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(fingerprint, indent=2, sort_keys=True, ensure_ascii=False))
    os.replace(tmp, run_file)


@contextmanager
def locked_folder(out: str | Path) -> Iterator[tuple[Path, bool]]:
    """OUT created and locked against other hala writers for the block: (folder, whether this call took the lock —
    False inside a flow of this process that already holds it). A folder this call created is removed again when
    the block stops with a UserError before writing anything but the lock and run.json (nothing started)."""
    created = not Path(out).exists()
    out = prepare_folder(out)
    key = out.resolve()
    if key in _HELD:
        yield out, False
        return
    fh = _lock(out)
    _HELD[key] = fh
    try:
        yield out, True
    except UserError:
        if created and {p.name for p in out.iterdir()} <= {LOCK_FILE, RUN_FILE}:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        _HELD.pop(key, None)
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


@contextmanager
def bound_run(out: str | Path, fingerprint: dict, overwrite: bool = False,
              owned: tuple[str, ...] | None = HALA_ENTRIES) -> Iterator[Path]:
    """Hold OUT for this run: locked against other writers, bound to `fingerprint` (see the module doc)."""
    with locked_folder(out) as (folder, took):
        if took:  # a nested flow is covered by the outer one's fingerprint
            check_run(folder, json.loads(json.dumps(fingerprint, default=str)), overwrite, owned)
        yield folder


def recipe_fingerprint(flow: str, recipe: dict, inputs: dict[str, str], ignore: tuple[str, ...] = (),
                       **extra: Any) -> dict:
    """A fingerprint from a recipe dump: `inputs` (key → path or id) become data fingerprints, `ignore` (dotted keys
    that do not change rows: output, workers, concurrency…) are dropped, `extra` (model identity…) added."""
    flat = _flatten(recipe)
    skip = (*ignore, *inputs, "output", "overwrite")
    settings = {k: v for k, v in flat.items() if not any(k == s or k.startswith(s + ".") for s in skip)}
    return {"flow": flow, "inputs": {k: data_fingerprint(v) for k, v in inputs.items() if v},
            "settings": settings, **extra}
