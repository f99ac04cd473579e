"""GitHub's REST API, the two calls a pull request needs: list and create.

Plain HTTP through urllib (two endpoints do not justify a client library). The
token travels only in the ``Authorization`` header; every error becomes one
line that says what to do, and never carries the token.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from driftbot.errors import PullRequestError

API_VERSION = "2022-11-28"
MAX_PAGES = 10  # 1,000 open pull requests: far past any team's review queue
_GITHUB_URL = re.compile(r"^(?:https://(?:[^@/]+@)?github\.com/|ssh://git@github\.com/|git@github\.com:)"
                         r"(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str  # the page a person opens (html_url)
    head: str  # the branch
    base: str
    title: str = ""
    body: str = ""
    created_at: datetime | None = None
    head_repo: str | None = None  # owner/name the head branch lives in: a fork's, or None once a fork is deleted

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> "PullRequest":
        created = item.get("created_at")
        head_repo = (item["head"].get("repo") or {}).get("full_name")
        return cls(
            number=int(item["number"]), url=item["html_url"], head=item["head"]["ref"], base=item["base"]["ref"],
            title=item.get("title") or "", body=item.get("body") or "",
            created_at=datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None,
            head_repo=head_repo if isinstance(head_repo, str) else None,
        )


def repo_from_url(url: str | None) -> str | None:
    """``owner/name`` of a github.com repository URL, else None."""
    m = _GITHUB_URL.match(url or "")
    return m["repo"] if m else None


def _explain(status: int, body: dict[str, Any], repo: str) -> str:
    said = str(body.get("message") or "").strip()
    details = [str(e.get("message") or f"{e.get('field', '?')} {e.get('code', 'invalid')}")
               for e in body.get("errors") or [] if isinstance(e, dict)]
    if status == 401:
        return "GitHub refused the token (401 Bad credentials): set GITHUB_TOKEN to a valid token."
    if status == 403:
        return (f"GitHub refused access to {repo} (403: {said or 'Forbidden'}): the token needs Contents read/write "
                "and Pull requests read/write on that repository.")
    if status == 404:
        return (f"GitHub repository {repo} was not found (404), or the token cannot see it: check github_repo and "
                "the token's repository access.")
    if status == 422:
        return f"GitHub rejected the pull request (422 {said or 'Unprocessable Entity'}: {'; '.join(details) or 'no detail'})."
    return f"GitHub answered {status} ({said or 'no message'}); try again later."


class GitHubError(PullRequestError):
    def __init__(self, status: int, body: dict[str, Any], repo: str) -> None:
        super().__init__(_explain(status, body, repo))
        self.status, self.body = status, body

    @property
    def already_exists(self) -> bool:
        """422 because an open pull request from this head to this base exists (GitHub's ``custom`` error)."""
        return self.status == 422 and any(
            "already exists" in str(e.get("message", "")) for e in self.body.get("errors") or [] if isinstance(e, dict)
        )


class GitHub:
    """One repository on one GitHub API (public GitHub, Enterprise Server, or a test stand-in)."""

    def __init__(self, api_url: str, token: str, repo: str, timeout: float = 15.0) -> None:
        self.api_url, self.repo, self.timeout = api_url.rstrip("/"), repo, timeout
        self._token = token
        self.owner = repo.split("/", 1)[0]

    def _call(self, method: str, path: str, query: dict[str, Any] | None = None,
              payload: dict[str, Any] | None = None) -> Any:
        url = f"{self.api_url}/repos/{self.repo}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        req = urllib.request.Request(url, method=method, data=None if payload is None else json.dumps(payload).encode())
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("Authorization", f"Bearer {self._token}")
        req.add_header("X-GitHub-Api-Version", API_VERSION)
        req.add_header("User-Agent", "driftbot")
        if payload is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read() or b"{}")
            except ValueError:
                body = {}
            raise GitHubError(exc.code, body if isinstance(body, dict) else {}, self.repo) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PullRequestError(f"GitHub's API at {self.api_url} cannot be reached ({reason}); try again later.") from None

    def own(self, pr: PullRequest) -> bool:
        """Whether *pr*'s head branch is in this repository: a fork's pull request, whatever its branch is
        named (``head.repo`` is the fork, or null once it was deleted), is never driftbot's."""
        return pr.head_repo is not None and pr.head_repo.lower() == self.repo.lower()

    def open_pulls(self, *, base: str | None = None, head: str | None = None) -> list[PullRequest]:
        """Open pull requests, optionally from one branch (of this repository) and to one base."""
        query: dict[str, Any] = {"state": "open", "per_page": 100}
        if base:
            query["base"] = base
        if head:
            query["head"] = f"{self.owner}:{head}"
        out: list[PullRequest] = []
        for page in range(1, MAX_PAGES + 1):
            items = self._call("GET", "/pulls", {**query, "page": page})
            out += [PullRequest.from_api(i) for i in items]
            if len(items) < query["per_page"]:
                break
        return out

    def can_read(self) -> None:
        """The token is accepted and sees the repository: one open pull request is listed (driftbot doctor);
        a GitHubError otherwise."""
        self._call("GET", "/pulls", {"state": "open", "per_page": 1})

    def create_pull(self, *, title: str, head: str, base: str, body: str) -> PullRequest:
        item = self._call("POST", "/pulls", payload={"title": title, "head": head, "base": base, "body": body,
                                                      "maintainer_can_modify": True})
        return PullRequest.from_api(item)
