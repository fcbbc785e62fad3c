"""`hala publish`: a gated, versioned release of a dataset folder to the Hugging Face Hub.

Order of business, each step refusing rather than guessing:
1. gate binding — DATASET/validation.json must say the suite passed for the data's current fingerprint (a
   translator set is gated on its pairs, and its chat rows must be exactly the ones those pairs give);
2. bundle — the exact files of the release (quality/bundle.py), built in a local folder (`--dry-run OUT` keeps it);
3. push — create the repo (private unless asked), refuse an existing tag, upload every file that is not already on the
   Hub with identical content in ONE commit (which also deletes `data/` shards of an earlier release that this one
   does not have, so the configs' globs match this release only), then tag it `vX.Y.Z`. Transient Hub errors (429, 5xx) are retried with
   exponential backoff; a run that died half-way is simply run again and uploads only what is missing.
The token comes from the environment (HF_TOKEN) or the HF login and is never printed or logged.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from hala.pipelines.core.errors import UserError
from hala.quality.fingerprint import TRANSLATOR_SET_DIRS, dataset_fingerprint, file_sha256, translator_set
from hala.quality.gate import GateRefused, require_passing_gate

log = logging.getLogger(__name__)
VERSION_RE = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")  # semver core, matched in full
REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
RETRY_STATUS = (429, 500, 502, 503, 504)
T = TypeVar("T")


class PublishRefused(GateRefused):
    """Publishing is refused for a reason the user must fix (gate, stale data, existing tag): exit code 1."""


@dataclass
class RetryPolicy:
    """Exponential backoff for transient Hub errors: wait base·2^attempt (+ jitter), at most `attempts` tries."""

    attempts: int = 6
    base_wait: float = 1.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, what: str, fn: Callable[[], T]) -> T:
        import httpx
        from huggingface_hub.errors import HfHubHTTPError

        for attempt in range(self.attempts):
            try:
                return fn()
            except (httpx.TransportError, ConnectionError, TimeoutError) as exc:  # the Hub not reached, or cut off
                if attempt == self.attempts - 1:
                    raise
                wait = min(self.max_wait, self.base_wait * 2 ** attempt * (1 + random.random() / 4))
                log.warning("%s: %s, retrying in %.1fs (attempt %d/%d)", what, type(exc).__name__, wait,
                            attempt + 2, self.attempts)
                self.sleep(wait)
                continue
            except (HfHubHTTPError, RuntimeError) as exc:
                e = http_failure(exc)
                status = e.response.status_code if e is not None and e.response is not None else None
                if status not in RETRY_STATUS or attempt == self.attempts - 1:
                    raise
                retry_after = e.response.headers.get("Retry-After") if e.response is not None else None
                wait = min(self.max_wait, float(retry_after) if retry_after and retry_after.isdigit()
                           else self.base_wait * 2 ** attempt * (1 + random.random() / 4))
                log.warning("%s: Hub answered %s, retrying in %.1fs (attempt %d/%d)", what, status, wait,
                            attempt + 2, self.attempts)
                self.sleep(wait)
        raise AssertionError("unreachable")


@dataclass
class PushResult:
    repo_id: str
    tag: str
    commit: str | None
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    url: str = ""


def check_repo_id(repo_id: str) -> None:
    """ORG/NAME as the Hub accepts it (huggingface_hub's own rule: no `..`, `--`, leading dot, `.git` ending), checked
    before anything is built."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not REPO_RE.match(repo_id):
        raise UserError(f"--repo must be ORG/NAME (got {repo_id!r})")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise UserError(f"--repo {repo_id!r}: the Hub refuses this name ({str(e).splitlines()[0][:160]})") from None


def check_version(version: str) -> str:
    v = version[1:] if version.startswith("v") else version
    if not VERSION_RE.fullmatch(v):
        raise UserError(f"--version must look like X.Y.Z (got {version!r})")
    return v


def _git_blob_sha1(path: Path) -> str:
    import hashlib

    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def remote_state(api, repo_id: str, bundle_dir: Path, retry: RetryPolicy,
                 revision: str | None = None) -> tuple[set[str], list[str]]:
    """(bundle files already on `revision` (main) with exactly the local content — LFS sha256 or git blob id —,
    data files there that are not in the bundle: stale shards of an earlier release, deleted in the commit)."""
    from huggingface_hub.hf_api import RepoFile

    remote = retry.call("list files", lambda: [f for f in api.list_repo_tree(repo_id, repo_type="dataset",
                                                                                 recursive=True, revision=revision)
                                                 if isinstance(f, RepoFile)])
    present, stale = set(), []
    for info in remote:
        local = bundle_dir / info.path
        if not local.is_file():
            if info.path.startswith("data/"):
                stale.append(info.path)
            continue
        if info.lfs is not None:
            if info.lfs.sha256 == file_sha256(local):
                present.add(info.path)
        elif info.blob_id == _git_blob_sha1(local):
            present.add(info.path)
    return present, sorted(stale)


def push_bundle(bundle_dir: str | Path, repo_id: str, version: str, public: bool = False,
                endpoint: str | None = None, token: str | None = None, retry: RetryPolicy | None = None,
                num_threads: int = 5) -> PushResult:
    """Push a built bundle: repo, one commit of what is missing, tag. Refuses an existing tag."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token

    bundle_dir = Path(bundle_dir)
    retry = retry or RetryPolicy()
    if token is None and get_token() is None:
        raise UserError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (use --dry-run to build only)")
    tag = f"v{version}"
    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
    retry.call("create repo", lambda: api.create_repo(repo_id, repo_type="dataset", private=not public,
                                                      exist_ok=True))
    refs = retry.call("list refs", lambda: api.list_repo_refs(repo_id, repo_type="dataset"))
    files = sorted(p.relative_to(bundle_dir).as_posix() for p in bundle_dir.rglob("*") if p.is_file())
    url = f"{api.endpoint}/datasets/{repo_id}"
    existing = next((t for t in refs.tags if t.name == tag), None)
    if existing is not None:  # this release, tagged by a run that died before it heard back? then it is done
        if _holds_this_release(api, repo_id, bundle_dir, files, existing.target_commit, retry):
            return PushResult(repo_id, tag, existing.target_commit, [], files, [], url)
        raise PublishRefused(f"{repo_id} already has tag {tag} on another commit ({existing.target_commit}); a "
                             "published version is never overwritten — bump --version")
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    commit_oid: str | None = None
    uploaded: list[str] = []
    deleted: list[str] = []

    def commit_missing():
        nonlocal commit_oid, uploaded, deleted
        # recomputed on every attempt: a commit that landed before its response was lost is not made twice
        present, stale = remote_state(api, repo_id, bundle_dir, retry)
        todo = [f for f in files if f not in present]
        if not todo and not stale:
            return None
        ops = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(bundle_dir / f)) for f in todo]
        ops += [CommitOperationDelete(path_in_repo=f) for f in stale]
        info = api.create_commit(repo_id, ops, repo_type="dataset", num_threads=num_threads,
                                 commit_message=f"Release {tag} ({manifest['rows']:,} rows)",
                                 commit_description=f"fingerprint {manifest['fingerprint']}")
        commit_oid, uploaded, deleted = info.oid, todo, stale
        return info

    retry.call("commit", commit_missing)
    if commit_oid is None:  # nothing to upload: tag what main holds (a previous run's commit)
        refs = retry.call("list refs", lambda: api.list_repo_refs(repo_id, repo_type="dataset"))
        commit_oid = next((b.target_commit for b in refs.branches if b.name == "main"), None)
    def create_tag():
        try:
            return api.create_tag(repo_id, tag=tag, revision=commit_oid, repo_type="dataset",
                                  tag_message=f"{tag} {manifest['fingerprint']}")
        except Exception as exc:  # a retried request whose first attempt did reach the Hub: 409, our own tag
            e = http_failure(exc)
            if e is None or e.response is None or e.response.status_code != 409:
                raise
            now = api.list_repo_refs(repo_id, repo_type="dataset")
            if any(t.name == tag and t.target_commit == commit_oid for t in now.tags):
                return None
            raise

    retry.call("create tag", create_tag)
    return PushResult(repo_id, tag, commit_oid, uploaded, [f for f in files if f not in uploaded], deleted, url)


def _holds_this_release(api, repo_id: str, bundle_dir: Path, files: list[str], commit: str | None,
                        retry: RetryPolicy) -> bool:
    """Whether `commit` holds exactly this bundle: every file with the same content (so the same manifest and
    fingerprint) and no data file of another release."""
    if commit is None:
        return False
    present, stale = remote_state(api, repo_id, bundle_dir, retry, revision=commit)
    return present == set(files) and not stale


def publish(dataset_dir: str | Path, repo_id: str, version: str, dry_run: str | Path | None = None,
            public: bool = False, max_shard_rows: int | None = None, endpoint: str | None = None,
            recipe: str | Path | None = None, report: str | Path | None = None,
            retry: RetryPolicy | None = None, token: str | None = None):
    """Gate → bundle → (unless dry run) push. Returns (Bundle, PushResult | None)."""
    from hala.quality.bundle import build_bundle

    check_repo_id(repo_id)
    version = check_version(version)
    for flag, given in (("--recipe", recipe), ("--report", report)):
        if given is not None and not Path(given).exists():
            raise UserError(f"{flag} {given}: no such file")
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise UserError(f"{dataset_dir} is not a dataset folder")
    if dataset_dir.name in TRANSLATOR_SET_DIRS and translator_set(dataset_dir.parent) is not None:
        raise UserError(f"{dataset_dir} is one half of the translator set {dataset_dir.parent}: gate and publish "
                        f"{dataset_dir.parent} (its pairs are gated, its chat rows are published with them)")
    validation = require_passing_gate(dataset_dir)
    kwargs = dict(repo_id=repo_id, version=version, validation=validation, max_shard_rows=max_shard_rows,
                  recipe=recipe, report=report)
    if dry_run is not None:
        bundle = build_bundle(dataset_dir, dry_run, **kwargs)
        _recheck(dataset_dir, validation)
        return bundle, None
    # staged inside the dataset folder (work/ is never data), not in the system temp folder: a killed publish
    # leaves no copy behind there, and the next run rebuilds the same bytes in the same place
    staging = dataset_dir / "work" / "publish" / f"{repo_id.replace('/', '--')}-v{version}"
    if staging.exists():
        shutil.rmtree(staging)
    bundle = build_bundle(dataset_dir, staging, **kwargs)
    _recheck(dataset_dir, validation)
    result = push_bundle(bundle.path, repo_id, version, public=public, endpoint=endpoint, token=token, retry=retry)
    shutil.rmtree(staging, ignore_errors=True)
    return bundle, result


def http_failure(exc: BaseException):
    """The Hub HTTP error behind `exc` (parallel uploads wrap it in a RuntimeError), or None."""
    from huggingface_hub.errors import HfHubHTTPError

    while exc is not None and not isinstance(exc, HfHubHTTPError):
        exc = exc.__cause__
    return exc


def _recheck(dataset_dir: Path, validation: dict) -> None:
    """The data must not have changed while the bundle was being built."""
    if dataset_fingerprint(dataset_dir) != validation["fingerprint"]:
        raise PublishRefused(f"{dataset_dir} changed while the bundle was built; gate it again")
