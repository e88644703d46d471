"""A loopback model hub for the tests: enough of the Hub's HTTP API for the real client.

It serves repositories of branches (``repo@revision`` -> commit -> files) on 127.0.0.1 at a
random port: revision info with the file list and each LFS file's sha256 (``siblings``, with
``blobs``), the tree of a commit, a repository's branches (``refs``), and ``resolve/{revision}/{file}`` (HEAD and GET, with the
commit and etag headers and range requests). Faults are injected per path: a transfer dropped
half way, a status answered a number of times, a blob whose bytes do not match its sha256.
Every request is logged (:attr:`Hub.log`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

LFS = (".safetensors", ".bin")  # served as LFS files (etag: sha256 of the bytes)


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    status: int


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Hub:
    """The served repositories, the faults to inject and the access log."""

    def __init__(self):
        self.branches: dict[tuple[str, str], str] = {}  # (repo, revision) -> commit
        self.commits: dict[str, dict[str, bytes]] = {}  # commit -> {file name: bytes}
        self.log: list[Request] = []
        self.drops: dict[str, int] = {}  # file name -> transfers to drop half way
        self.statuses: list[list] = []  # [path regex, status, times left, method or None]
        self.corrupt: set[str] = set()  # "commit/file" served with other bytes
        self.delay = 0.0  # seconds before each LFS file's body (a slow link)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Hub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, repo: str, revision: str, folder: Path | None = None, files=None) -> str:
        """Serve a folder's files (or ``files``: name -> bytes) as branch ``revision``."""
        files = dict(files or {})
        if folder is not None:
            files |= {f.name: f.read_bytes() for f in sorted(Path(folder).iterdir()) if f.is_file()}
        h = hashlib.sha1(f"{repo}@{revision}".encode())
        for name, data in sorted(files.items()):
            h.update(name.encode() + hashlib.sha256(data).digest())
        commit = h.hexdigest()
        self.commits[commit], self.branches[repo, revision] = files, commit
        return commit

    def fail(self, pattern: str, status: int, times: int = 1, method: str | None = None) -> None:
        """Answer ``status`` to the next ``times`` requests (of ``method``, default any) whose
        path matches ``pattern``."""
        self.statuses.append([re.compile(pattern), status, times, method])

    def requests(self, method: str | None = None, pattern: str = "") -> list[Request]:
        with self.lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method) and re.search(pattern, r.path)
            ]

    # ---- answers ----

    def entries(self, commit: str) -> list[dict]:
        out = []
        for name, data in sorted(self.commits[commit].items()):
            e = {"type": "file", "path": name, "size": len(data), "oid": _git_blob_id(data)}
            if name.endswith(LFS):
                e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
                e["lfs"]["pointerSize"] = 134
            out.append(e)
        return out

    def info(self, repo: str, commit: str) -> dict:
        siblings = []
        for e in self.entries(commit):
            s = {"rfilename": e["path"], "size": e["size"], "blobId": e["oid"]}
            if "lfs" in e:
                s["lfs"] = {"sha256": e["lfs"]["oid"], "size": e["size"], "pointerSize": 134}
            siblings.append(s)
        return {"id": repo, "modelId": repo, "sha": commit, "private": False, "siblings": siblings}

    def commit_of(self, repo: str, revision: str) -> str | None:
        if revision in self.commits and any(r == repo for r, _ in self.branches):
            return revision
        return self.branches.get((repo, revision))

    def fault(self, method: str, path: str) -> int | None:
        with self.lock:
            for f in self.statuses:
                if f[2] > 0 and f[0].search(path) and f[3] in (None, method):
                    f[2] -= 1
                    return f[1]
        return None


API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<kind>revision|tree)/(?P<rev>[^/]+)")
REFS = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/refs$")
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


def _handler(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # the hub's own log is the access log
            pass

        def _send(self, status, body=b"", headers=None, head=False, length=None):
            path = unquote(urlparse(self.path).path)
            with hub.lock:
                hub.log.append(Request(self.command, path, self.headers.get("Range"), status))
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _error(self, status, code, message, head=False):
            headers = {"X-Error-Code": code, "X-Error-Message": message}
            headers["Content-Type"] = "application/json"
            self._send(status, json.dumps({"error": message}).encode(), headers, head)

        def do_HEAD(self):
            self._route(head=True)

        def do_GET(self):
            self._route(head=False)

        def _route(self, head):
            path = unquote(urlparse(self.path).path)
            status = hub.fault(self.command, path)
            if status is not None:
                return self._error(status, "", f"injected {status}", head)
            m = REFS.match(path) or API.match(path) or RESOLVE.match(path)
            if m is None:
                return self._error(404, "RepoNotFound", "no such route", head)
            repo = m["repo"]
            if not any(r == repo for r, _ in hub.branches):
                return self._error(404, "RepoNotFound", f"Repository {repo} not found", head)
            if m.re is REFS:
                return self._refs(repo, head)
            rev = m["rev"]
            commit = hub.commit_of(repo, rev)
            if commit is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            if "kind" not in m.groupdict():
                return self._file(commit, m["file"], head)
            body = hub.info(repo, commit) if m["kind"] == "revision" else hub.entries(commit)
            self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

        def _refs(self, repo, head):
            branches = [
                {"name": rev, "ref": f"refs/heads/{rev}", "targetCommit": commit}
                for (r, rev), commit in sorted(hub.branches.items())
                if r == repo
            ]
            body = {"branches": branches, "converts": [], "tags": []}
            self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

        def _file(self, commit, name, head):
            files = hub.commits[commit]
            if name not in files:
                headers = {"X-Repo-Commit": commit}
                self._send(404, b"", headers | {"X-Error-Code": "EntryNotFound"}, head)
                return
            data = files[name]
            etag = hashlib.sha256(data).hexdigest() if name.endswith(LFS) else _git_blob_id(data)
            if f"{commit}/{name}" in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]  # same size, other bytes
            headers = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
            start, status = 0, 200
            rng = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
            if rng and not head:
                start, status = int(rng[1]), 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            body = data[start:]
            drop = False
            with hub.lock:
                if not head and hub.drops.get(name, 0) > 0:
                    hub.drops[name] -= 1
                    drop = True
            if hub.delay and not head and name.endswith(LFS):
                time.sleep(hub.delay)
            if drop:  # promise the whole body, send half, hang up
                self._send(status, body[: len(body) // 2], headers, length=len(body))
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(status, body, headers, head, length=len(body))

    return Handler
