"""A local stand-in for GitHub's REST API: the pull request endpoints, with GitHub's documented
responses and errors (docs.github.com/rest/pulls/pulls, API version 2022-11-28).

- ``GET /repos/{owner}/{repo}/pulls``: ``state`` (open, closed, all; default open), ``head``
  (``user:ref-name``), ``base``, ``per_page`` (max 100), ``page``; newest first; a ``Link`` header.
- ``POST /repos/{owner}/{repo}/pulls``: 201 with the pull request and a ``Location`` header; 422
  ``Validation Failed`` for a missing field, a head or base branch the repository lacks
  (``code: invalid``), no commits between them, and an open pull request from the same head to the
  same base (``code: custom``, "A pull request already exists for owner:branch.").
- 401 ``Requires authentication`` / ``Bad credentials``; 403 ``Resource not accessible by personal
  access token`` for a token that may only read; 404 ``Not Found`` for a repository the token
  cannot see, and for any path but the pull request list (and ``GET .../pulls/{number}``, 404 for a
  number that does not exist).
- Pull requests from forks (``fork_pull``), as GitHub shows them: the base is this repository, the
  head's ``label`` is ``forkowner:branch``, its ``ref`` the branch (any name, driftbot's too), and its
  ``repo`` the fork (``full_name`` ``forkowner/name``, ``fork: true``), or ``null`` once the fork was
  deleted ("head.repo ... nullable" in the response schema). ``head=acme:branch`` lists only this
  repository's own branch. A create whose ``head`` names another owner without a fork answers 422
  ``invalid`` on ``head``.

Branches are read from a real bare git repository, so the stand-in sees exactly what was pushed;
``merge`` makes the merge commit GitHub's merge button makes.
"""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.local_http import LocalHTTPServer

DOCS = "https://docs.github.com/rest/pulls/pulls"


def _git(repo: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GIT_AUTHOR_NAME": "GitHub", "GIT_AUTHOR_EMAIL": "noreply@github.com",
           "GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com"}
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True, env=env).stdout.decode().strip()


class GitHubStub(LocalHTTPServer):
    """One repository ``full_name`` backed by the bare repository *git_dir*."""

    def __init__(self, full_name: str, git_dir: Path, token: str, *, can_write: bool = True) -> None:
        self.full_name, self.git_dir, self.token, self.can_write = full_name, Path(git_dir), token, can_write
        self.owner = full_name.split("/")[0]
        self.pulls: list[dict] = []
        self.requests: list[dict] = []  # every request: method, path, query, headers, body
        self.fail_next_create: int | None = None  # answer the next POST with this status (a GitHub outage)
        self.clock = lambda: datetime.now(timezone.utc)
        self._lock = threading.Lock()
        super().__init__(self._handle)

    # --- what a test does on github.com by hand ---------------------------------------

    def branch_sha(self, branch: str) -> str | None:
        try:
            return _git(self.git_dir, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
        except subprocess.CalledProcessError:
            return None

    def merge(self, number: int) -> str:
        """Merge pull request *number* with a merge commit, as the merge button does; close it."""
        pr = next(p for p in self.pulls if p["number"] == number)
        base, head = self.branch_sha(pr["base"]["ref"]), self.branch_sha(pr["head"]["ref"])
        tree = _git(self.git_dir, "merge-tree", "--write-tree", base, head).splitlines()[0]
        commit = _git(self.git_dir, "commit-tree", tree, "-p", base, "-p", head, "-m",
                      f"Merge pull request #{number} from {pr['head']['label']}")
        _git(self.git_dir, "update-ref", f"refs/heads/{pr['base']['ref']}", commit, base)
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        pr.update(state="closed", merged=True, merged_at=now, closed_at=now, merge_commit_sha=commit)
        return commit

    def fork_pull(self, fork_owner: str, branch: str, *, title: str = "Fix", body: str = "",
                  deleted_fork: bool = False) -> dict:
        """Someone else's pull request from their fork's *branch* into this repository's default branch."""
        number = max((p["number"] for p in self.pulls), default=0) + 1
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        name = self.full_name.split("/")[1]
        fork = None if deleted_fork else {"full_name": f"{fork_owner}/{name}", "name": name, "fork": True,
                                          "owner": {"login": fork_owner}}
        base = self.branch_sha("main")
        pr = self._pull(number, title, body, now, {"label": f"{fork_owner}:{branch}", "ref": branch, "sha": base,
                                                   "repo": fork}, "main", base, user=fork_owner)
        self.pulls.append(pr)
        return pr

    def _pull(self, number: int, title: str, body, now: str, head: dict, base_ref: str, base_sha: str, *,
              user: str = "driftbot-token-owner", draft: bool = False, maintainer_can_modify: bool = False) -> dict:
        repo = {"full_name": self.full_name, "name": self.full_name.split("/")[1], "fork": False,
                "owner": {"login": self.owner}}
        api = f"{self.url}/repos/{self.full_name}/pulls/{number}"
        return {
            "url": api, "id": 1000 + number, "node_id": f"PR_{number}", "number": number, "state": "open",
            "html_url": f"https://github.com/{self.full_name}/pull/{number}",
            "title": title, "body": body, "draft": draft,
            "user": {"login": user}, "created_at": now, "updated_at": now,
            "closed_at": None, "merged_at": None, "merged": False, "merge_commit_sha": None,
            "head": head,
            "base": {"label": f"{self.owner}:{base_ref}", "ref": base_ref, "sha": base_sha, "repo": repo},
            "maintainer_can_modify": maintainer_can_modify,
        }

    def age(self, number: int, days: float) -> None:
        """Make pull request *number* look *days* old."""
        pr = next(p for p in self.pulls if p["number"] == number)
        pr["created_at"] = (self.clock() - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    # --- the API ----------------------------------------------------------------------

    def _send(self, h: BaseHTTPRequestHandler, status: int, body, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _error(self, h, status: int, message: str, doc: str, errors: list | None = None) -> None:
        body = {"message": message, "documentation_url": doc, "status": str(status)}
        if errors is not None:
            body = {"message": message, "errors": errors, "documentation_url": doc, "status": str(status)}
        self._send(h, status, body)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        method = h.command
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append({"method": method, "path": parts.path, "query": parts.query,
                                  "headers": {k.lower(): v for k, v in h.headers.items()}, "body": raw.decode("utf-8", "replace")})
            auth = h.headers.get("Authorization") or ""
            if not auth:
                return self._error(h, 401, "Requires authentication", "https://docs.github.com/rest")
            scheme, _, given = auth.partition(" ")
            if scheme.lower() not in ("bearer", "token") or given != self.token:
                return self._error(h, 401, "Bad credentials", "https://docs.github.com/rest")
            path = parts.path.rstrip("/")
            one = path.removeprefix(f"/repos/{self.full_name}/pulls/")
            if method == "GET" and one != path and one.isdigit():
                found = next((p for p in self.pulls if p["number"] == int(one)), None)
                if found is None:
                    return self._error(h, 404, "Not Found", f"{DOCS}#get-a-pull-request")
                return self._send(h, 200, found)
            if path != f"/repos/{self.full_name}/pulls" or method not in ("GET", "POST"):
                return self._error(h, 404, "Not Found", f"{DOCS}#list-pull-requests")
            if method == "GET":
                return self._list(h, parse_qs(parts.query))
            return self._create(h, raw)

    def _list(self, h, query: dict[str, list[str]]) -> None:
        one = {k: v[-1] for k, v in query.items()}
        state = one.get("state", "open")
        found = [p for p in self.pulls if state == "all" or p["state"] == state]
        if "head" in one:
            found = [p for p in found if p["head"]["label"] == one["head"]]
        if "base" in one:
            found = [p for p in found if p["base"]["ref"] == one["base"]]
        found.sort(key=lambda p: p["created_at"], reverse=True)
        per_page = min(int(one.get("per_page", 30)), 100)
        page = max(int(one.get("page", 1)), 1)
        shown = found[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(found):
            headers["Link"] = f'<{self.url}/repos/{self.full_name}/pulls?page={page + 1}&per_page={per_page}>; rel="next"'
        self._send(h, 200, shown, headers)

    def _create(self, h, raw: bytes) -> None:
        doc = f"{DOCS}#create-a-pull-request"
        if not self.can_write:
            return self._error(h, 403, "Resource not accessible by personal access token", doc)
        if self.fail_next_create is not None:
            status, self.fail_next_create = self.fail_next_create, None
            return self._error(h, status, "Server Error", doc)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._error(h, 400, "Problems parsing JSON", doc)
        for field in ("head", "base"):
            if not body.get(field):
                return self._error(h, 422, "Validation Failed", doc,
                                   [{"resource": "PullRequest", "field": field, "code": "missing_field"}])
        if not body.get("title"):
            return self._error(h, 422, "Validation Failed", doc,
                               [{"resource": "PullRequest", "field": "title", "code": "missing_field"}])
        owner, _, head = body["head"].rpartition(":")
        forks = {p["head"]["label"].split(":")[0] for p in self.pulls if (p["head"].get("repo") or {}).get("fork")}
        if owner and owner != self.owner and owner not in forks:
            return self._error(h, 422, "Validation Failed", doc,
                               [{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        head_sha, base_sha = self.branch_sha(head), self.branch_sha(body["base"])
        for field, sha in (("base", base_sha), ("head", head_sha)):
            if sha is None:
                return self._error(h, 422, "Validation Failed", doc,
                                   [{"resource": "PullRequest", "field": field, "code": "invalid"}])
        label = f"{self.owner}:{head}"
        if any(p["state"] == "open" and p["head"]["label"] == label and p["base"]["ref"] == body["base"] for p in self.pulls):
            return self._error(h, 422, "Validation Failed", doc,
                               [{"resource": "PullRequest", "code": "custom", "message": f"A pull request already exists for {label}."}])
        if _git(self.git_dir, "rev-list", "--count", f"{base_sha}..{head_sha}") == "0":
            return self._error(h, 422, "Validation Failed", doc,
                               [{"resource": "PullRequest", "code": "custom", "message": f"No commits between {body['base']} and {head}"}])
        number = max((p["number"] for p in self.pulls), default=0) + 1
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        api = f"{self.url}/repos/{self.full_name}/pulls/{number}"
        own = {"full_name": self.full_name, "name": self.full_name.split("/")[1], "fork": False, "owner": {"login": self.owner}}
        pr = self._pull(number, body["title"], body.get("body"), now,
                        {"label": label, "ref": head, "sha": head_sha, "repo": own}, body["base"], base_sha,
                        draft=bool(body.get("draft", False)),
                        maintainer_can_modify=bool(body.get("maintainer_can_modify", False)))
        self.pulls.append(pr)
        self._send(h, 201, pr, {"Location": api})
