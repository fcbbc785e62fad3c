"""Training reads published or gated data only: a model is never trained on rows no gate has vouched for.

A Hub dataset passed the gate before it was published. A local one must carry a passing `validation.json` from
`hala gate` whose fingerprint is the data's fingerprint now — the binding publish uses
(`hala.quality.gate.require_passing_gate`):
- a hala dataset folder, any other folder, or a single file: the validation of the thing itself (DATASET/validation.json,
  FILE.validation.json) or, for a file inside a gated folder, the folder's; the files trained on must be among the
  data files that fingerprint covers;
- a translator set (`hala build-translator-set` OUT: pairs/ + chat/ per split) is gated as a whole, `hala gate OUT`:
  the gate judges its pairs, because the chat rows are no contract of their own but the translator prompt built from
  each pair; the same check as publish then requires every chat row to be exactly the chat form of its gated pair,
  so a chat file edited or left over from another build is refused like stale data.
`allow_ungated: true` (recipe key `dataset.allow_ungated`, flag `--allow-ungated`) trains on a local file without
any of this and says so in a warning and in hala_sft.json: for a plain jsonl of a demo or an experiment.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hala.pipelines.core.errors import UserError

log = logging.getLogger(__name__)


def _passing_validation(target: Path) -> dict:
    """The passing, current validation.json of `target`, or a UserError that names the `hala gate` command."""
    from hala.quality.gate import GateRefused, require_passing_gate

    try:
        return require_passing_gate(target)
    except GateRefused as e:  # missing, failed or stale: publish's words, training's exit code (2)
        raise UserError(f"{e} (training reads only gated local data; dataset.allow_ungated: true trains on it "
                        "anyway)") from None


def _translator_set_root(files: list[Path]) -> Path | None:
    """OUT when the files are OUT/chat/<split>.parquet of a translator set."""
    from hala.quality.fingerprint import translator_set

    folders = {f.resolve().parent for f in files}
    if len(folders) != 1:
        return None
    chat = folders.pop()
    return chat.parent if chat.name == "chat" and translator_set(chat.parent) is not None else None


def _gate_target(p: Path) -> Path:
    """The file or folder whose validation.json vouches for `p`: itself, or the (dataset) folder holding a file."""
    from hala.quality.gate import validation_path

    if p.is_file() and validation_path(p).is_file():
        return p
    folder = p.parent if p.is_file() else p
    return folder.parent if folder.name == "data" else folder


def require_gated(path: str, files: list[Path] | None, *, allow_ungated: bool = False) -> dict:
    """Refuse (UserError) local training data without a passing, current gate; what vouched for it, for the summary.

    `files` are the local files `hala.training.data.local_files` resolved for `path` (None: a Hub dataset)."""
    from hala.quality.fingerprint import data_files
    from hala.quality.gate import validation_path

    if files is None:
        return {"gate": "hub", "note": "published datasets passed the gate before publishing"}
    if allow_ungated:
        log.warning("dataset %s: NOT gated (dataset.allow_ungated: true); do not publish a model trained on it "
                    "as if its data had passed the quality gate", path)
        return {"gate": "ungated", "note": "dataset.allow_ungated: true"}
    root = _translator_set_root(files)
    if root is not None:
        target = root
        validation = _passing_validation(root)  # checks the chat rows against the gated pairs too
    else:
        target = _gate_target(Path(path).expanduser())
        validation = _passing_validation(target)
        covered = {f.resolve() for f in data_files(target)}
        outside = [str(f) for f in files if f.resolve() not in covered]
        if outside:
            raise UserError(f"{outside[0]} is not among the data files that {validation_path(target)} validated")
    return {"gate": "passed", "validation": str(validation_path(target)), "suite": validation.get("suite"),
            "fingerprint": validation.get("fingerprint")}
