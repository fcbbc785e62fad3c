"""A local TEST server for the few Hugging Face Hub endpoints that `huggingface_hub`'s client calls when hala publishes.

It is not the Hub and not a mock of the client: the real `HfApi` code talks HTTP to it, so the tests exercise the
client's request building, LFS protocol and NDJSON commit payload. It implements, in memory:

- POST /api/repos/create                                  create a repo (409 if it exists), with an initial commit
- GET  /api/datasets/{repo}[/revision/{rev}]              repo info (sha, siblings)
- GET  /api/datasets/{repo}/refs                          branches and tags
- GET  /api/datasets/{repo}/tree/{rev}[/{path}]           files with size, git blob id and LFS sha256
- POST /api/validate-yaml                                 parses the card's YAML header
- POST /api/datasets/{repo}/preupload/{rev}               upload mode per file (`.parquet` → lfs) and remote oid
- POST /datasets/{repo}.git/info/lfs/objects/batch        legacy LFS batch API (basic transfer)
- PUT  /lfs-upload/{oid}                                  the LFS object bytes (sha256 checked)
- POST /api/datasets/{repo}/commit/{rev}                  NDJSON commit (header, file, lfsFile, deletedFile)
- POST /api/datasets/{repo}/tag/{rev}                     create a tag (409 if it exists)

Test hooks: `fail(method, path_part, status)` answers the next matching request with that status (once);
`hold_tag_response` (an Event) stores a tag and then waits before answering — a client killed after its tag request
reached the Hub;
`die_after_lfs_uploads = N` refuses (403, not retryable) every LFS upload after N stored objects — a push dying
half-way. Every request, commit and LFS PUT is recorded for the tests to assert on.

The client must use the legacy LFS protocol against it (set `huggingface_hub.constants.HF_HUB_DISABLE_XET = True`):
Xet storage is not implemented here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
REPO_PATH = re.compile(r"^/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+?)"
                       r"(?:/(?P<op>preupload|commit|tree|tag|refs|revision)(?:/(?P<rev>[^/]+)(?P<sub>/.*)?)?)?$")
LFS_BATCH = re.compile(r"^/(?:datasets/)?(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch$")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class StoredFile:
    size: int
    blob_id: str
    sha256: str
    lfs: bool


@dataclass
class Repo:
    repo_id: str
    private: bool
    files: dict[str, StoredFile] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    snapshots: dict[str, dict[str, StoredFile]] = field(default_factory=dict)  # commit -> files at that commit

    @property
    def head(self) -> str | None:
        return self.commits[-1] if self.commits else None


class HubTestServer:
    """In-memory test stand-in for the Hub endpoints above; use as a context manager, `url` is its endpoint."""

    def __init__(self, token: str | None = None, lfs_suffixes: tuple[str, ...] = (".parquet",)):
        self.token = token
        self.lfs_suffixes = lfs_suffixes
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.lfs_puts: list[str] = []  # oid of every PUT received (accepted or not)
        self.commits: list[dict] = []  # {repo, oid, summary, operations: [{key, path, oid?}]}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self.die_after_lfs_uploads: int | None = None
        # `hold_tag_response`: a tag is stored, `tag_stored` set, and the answer waits until this event is set (or
        # 60 s): the client's tag request has reached the Hub, and the test can kill the client before it hears back
        self.hold_tag_response: threading.Event | None = None
        self.tag_stored = threading.Event()
        self._failures: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------------
    def __enter__(self) -> "HubTestServer":
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- test hooks ---------------------------------------------------------------------------------------------------
    def fail(self, method: str, path_part: str, status: int) -> None:
        """Answer the next `method` request whose path contains `path_part` with `status` (once)."""
        self._failures.append((method, path_part, status))

    def answered(self, status: int) -> list[tuple[str, str]]:
        return [(m, p) for m, p, s in self.requests if s == status]

    # -- state changes (called by the handler under the lock) ---------------------------------------------------------
    def _take_failure(self, method: str, path: str) -> int | None:
        for i, (m, part, status) in enumerate(self._failures):
            if m == method and part in path:
                del self._failures[i]
                return status
        return None

    def _commit(self, repo: Repo, summary: str, ops: list[dict], adds: dict[str, StoredFile]) -> str:
        parent = repo.head or ""
        oid = hashlib.sha1(json.dumps([parent, summary, ops], sort_keys=True).encode()).hexdigest()
        repo.files.update(adds)
        repo.commits.append(oid)
        repo.snapshots[oid] = dict(repo.files)
        self.commits.append({"repo": repo.repo_id, "oid": oid, "summary": summary, "operations": ops})
        return oid


class _Handler(BaseHTTPRequestHandler):
    hub: HubTestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    # -- plumbing -----------------------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, payload=None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)
        path = urlparse(self.path).path
        self.hub.requests.append((self.command, path, status))

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": message})

    def _authorized(self) -> bool:
        if self.hub.token is None:
            return True
        return self.headers.get("Authorization") == f"Bearer {self.hub.token}"

    def _dispatch(self) -> None:
        path = urlparse(self.path).path
        body = self._body() if self.command in ("POST", "PUT") else b""
        with self.hub._lock:
            status = self.hub._take_failure(self.command, path)
            if status is not None:
                return self._error(status, f"injected {status} by the test server")
            if not self._authorized() and not path.startswith("/lfs-upload/"):
                return self._error(401, "Invalid credentials in Authorization header")
            try:
                self._route(path, body)
            except KeyError as e:
                self._error(404, f"not found: {e}")

    do_GET = do_POST = do_PUT = _dispatch

    # -- routes -------------------------------------------------------------------------------------------------------
    def _route(self, path: str, body: bytes) -> None:
        hub = self.hub
        if self.command == "POST" and path == "/api/repos/create":
            return self._create_repo(json.loads(body))
        if self.command == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(body))
        if self.command == "PUT" and path.startswith("/lfs-upload/"):
            return self._lfs_put(path.rsplit("/", 1)[1], body)
        m = LFS_BATCH.match(path)
        if m and self.command == "POST":
            return self._lfs_batch(hub.repos[m["repo"]], json.loads(body))
        m = REPO_PATH.match(path)
        if not m:
            return self._error(404, f"no such endpoint {self.command} {path}")
        repo = hub.repos[m["repo"]]
        op, rev = m["op"], unquote(m["rev"] or "main")
        if op is None or op == "revision":
            if self.command == "GET":
                return self._send(200, {"id": repo.repo_id, "sha": repo.head, "private": repo.private,
                                        "siblings": [{"rfilename": p} for p in sorted(repo.files)]})
        if op == "refs" and self.command == "GET":
            return self._send(200, {
                "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head}] if repo.head else [],
                "converts": [],
                "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": c} for t, c in sorted(repo.tags.items())],
            })
        if op == "tree" and self.command == "GET":
            return self._tree(repo, unquote((m["sub"] or "/")[1:]), unquote(m["rev"] or "main"))
        if op == "preupload" and self.command == "POST":
            return self._preupload(repo, json.loads(body))
        if op == "commit" and self.command == "POST":
            return self._commit(repo, body)
        if op == "tag" and self.command == "POST":
            return self._tag(repo, rev, json.loads(body))
        return self._error(404, f"no such endpoint {self.command} {path}")

    def _create_repo(self, payload: dict) -> None:
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        url = f"{self.hub.url}/datasets/{repo_id}"
        if repo_id in self.hub.repos:
            return self._send(409, {"error": "You already created this dataset repo", "url": url})
        repo = Repo(repo_id, private=payload.get("visibility", "public") == "private" or bool(payload.get("private")))
        self.hub.repos[repo_id] = repo
        self.hub._commit(repo, "initial commit", [{"key": "file", "path": ".gitattributes"}],
                         {".gitattributes": StoredFile(len(GITATTRIBUTES), git_blob_sha1(GITATTRIBUTES),
                                                       hashlib.sha256(GITATTRIBUTES).hexdigest(), False)})
        self._send(200, {"url": url, "name": repo_id})

    def _validate_yaml(self, payload: dict) -> None:
        import yaml

        content = payload.get("content", "")
        if content.startswith("---\n"):
            try:
                yaml.safe_load(content[4:content.index("\n---", 4)])
            except Exception as e:  # the Hub answers 400 with the parser's message
                return self._send(400, {"errors": [{"message": str(e)}], "warnings": []})
        self._send(200, {"errors": [], "warnings": []})

    def _tree(self, repo: Repo, prefix: str, rev: str = "main") -> None:
        """Every file under `prefix` at `rev` (main, a tag or a commit; always recursive, in one page)."""
        rev = repo.tags.get(rev, rev)
        if rev != "main" and rev not in repo.snapshots:
            return self._error(404, f"revision {rev} not found")
        files = repo.files if rev == "main" else repo.snapshots[rev]
        out = []
        for p, f in sorted(files.items()):
            if prefix and not p.startswith(prefix.rstrip("/") + "/"):
                continue
            item = {"type": "file", "path": p, "size": f.size, "oid": f.blob_id}
            if f.lfs:
                item["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            out.append(item)
        self._send(200, out)

    def _preupload(self, repo: Repo, payload: dict) -> None:
        files = []
        for f in payload["files"]:
            lfs = f["path"].endswith(self.hub.lfs_suffixes)
            stored = repo.files.get(f["path"])
            oid = (stored.sha256 if stored.lfs else stored.blob_id) if stored else None
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": oid})
        self._send(200, {"files": files, "commitOid": repo.head})

    def _lfs_batch(self, repo: Repo, payload: dict) -> None:
        objects = []
        for obj in payload["objects"]:
            item = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.hub.lfs_objects:
                item["actions"] = {"upload": {"href": f"{self.hub.url}/lfs-upload/{obj['oid']}"}}
            objects.append(item)
        self._send(200, {"transfer": "basic", "objects": objects})

    def _lfs_put(self, oid: str, body: bytes) -> None:
        hub = self.hub
        hub.lfs_puts.append(oid)
        if hub.die_after_lfs_uploads is not None and len(hub.lfs_objects) >= hub.die_after_lfs_uploads:
            return self._error(403, "simulated death of the push (test server)")
        if hashlib.sha256(body).hexdigest() != oid:
            return self._error(400, "sha256 mismatch")
        hub.lfs_objects[oid] = body
        self._send(200, {})

    def _commit(self, repo: Repo, body: bytes) -> None:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        ops, adds, deletes = [], {}, []
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "file":
                data = base64.b64decode(value["content"])
                adds[value["path"]] = StoredFile(len(data), git_blob_sha1(data), hashlib.sha256(data).hexdigest(),
                                                 False)
                ops.append({"key": key, "path": value["path"], "sha256": adds[value["path"]].sha256})
            elif key == "lfsFile":
                if value["oid"] not in self.hub.lfs_objects:
                    return self._error(422, f"LFS object {value['oid']} was never uploaded")
                pointer = f"oid sha256:{value['oid']}\nsize {value['size']}\n".encode()
                adds[value["path"]] = StoredFile(value["size"], git_blob_sha1(pointer), value["oid"], True)
                ops.append({"key": key, "path": value["path"], "sha256": value["oid"]})
            elif key == "deletedFile":
                if value["path"] not in repo.files:
                    return self._error(404, f"A file with this name doesn't exist: {value['path']}")
                deletes.append(value["path"])
                ops.append({"key": key, "path": value["path"]})
            elif key != "header":
                return self._error(400, f"unsupported commit operation {key}")
        for path in deletes:
            del repo.files[path]
        oid = self.hub._commit(repo, header["summary"], ops, adds)
        self._send(200, {"commitUrl": f"{self.hub.url}/datasets/{repo.repo_id}/commit/{oid}", "commitOid": oid,
                         "pullRequestUrl": None})

    def _tag(self, repo: Repo, rev: str, payload: dict) -> None:
        tag = payload["tag"]
        if tag in repo.tags:
            return self._error(409, f"tag {tag} already exists")
        target = repo.head if rev == "main" else rev
        if target not in repo.commits:
            return self._error(404, f"revision {rev} not found")
        repo.tags[tag] = target
        self.hub.tag_stored.set()
        if self.hub.hold_tag_response is not None:
            self.hub.hold_tag_response.wait(60)
        self._send(200, {})
