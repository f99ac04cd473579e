"""Commit one migration file on a branch and push it, with real git and no work tree.

The commit is built with git's plumbing in a bare cache repository (a private
index, ``commit-tree``), so nothing is checked out and nothing of the person's
own repository is touched. The token reaches git only as an HTTP header in
git's environment (``GIT_CONFIG_*``, scoped to the repository's host, as the
engine's git source sends its own token): never in a URL, on a command line,
in the cache repository's config, or in a message.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from driftbot.engine.sources import auth_env
from driftbot.errors import PullRequestError, redact

AUTHOR = ("driftbot", "driftbot@users.noreply.github.com")
TOKEN_USER = "x-access-token"  # GitHub's user name for a token in HTTP basic auth
BASE_REF, HEAD_REF = "refs/driftbot/base", "refs/driftbot/head"


@dataclass(frozen=True)
class Pushed:
    branch: str
    commit: str
    created: bool  # False: the branch was already there, holding this very file


class Repository:
    """The remote repository of an environment's migrations, seen through a bare cache folder."""

    def __init__(self, url: str, cache_dir: Path, token: str | None = None, timeout: int = 120) -> None:
        self.url, self.timeout = url, timeout
        self.where = redact(url)
        self.dir = Path(cache_dir) / "pulls" / hashlib.sha256(url.encode()).hexdigest()[:16]
        auth = auth_env(url, TOKEN_USER, token)
        self._secrets = [s for s in (token, *auth.values()) if s and len(s) > 8]
        self._env = {
            "GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
            "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1],
            **auth,
        }

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return redact(text)

    def _git(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=self.dir, input=input, capture_output=True, timeout=self.timeout,
                                  env={**self._env, **(env or {})})
        except FileNotFoundError:
            raise PullRequestError("git is not installed; it is needed to push the migration branch.") from None
        except subprocess.TimeoutExpired:
            raise PullRequestError(f"git {args[0]} took longer than {self.timeout} s; try again later.") from None
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
            raise _GitFailed(args[0], self._scrub(lines[-1].strip() if lines else "no output"))
        return done.stdout.decode("utf-8", "replace").strip()

    @contextmanager
    def _locked(self):
        """One push at a time per repository on this machine (two workers share the cache)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir.parent / f"{self.dir.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not (self.dir / "HEAD").exists():
                    self._git("init", "--bare", "--quiet", ".")
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _remote_heads(self, *branches: str) -> dict[str, str]:
        try:
            out = self._git("ls-remote", "--heads", "--", self.url, *(f"refs/heads/{b}" for b in branches))
        except _GitFailed as exc:
            raise PullRequestError(f"The repository {self.where} cannot be read: {exc.line}") from None
        heads = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            heads[ref.removeprefix("refs/heads/")] = sha
        return heads

    def _blob_at(self, ref: str, path: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"{ref}:{path}")
        except _GitFailed:
            return None

    def push_file(self, *, base: str, branch: str, path: str, content: str, message: str) -> Pushed:
        """Push a branch *branch* holding *path* = *content* on top of *base*'s tip.

        Done already (the branch exists with this very file): nothing pushed, ``created`` False.
        The branch exists with other content: ``PullRequestError``, nothing changed.
        """
        with self._locked():
            return self._push_file(base, branch, path, content.encode("utf-8"), message)

    def _push_file(self, base: str, branch: str, path: str, data: bytes, message: str) -> Pushed:
        heads = self._remote_heads(base, branch)
        if base not in heads:
            raise PullRequestError(f"Branch `{base}` (setting `ref`) was not found in {self.where}; a pull request "
                                   "needs `ref` to be a branch.")
        refspecs = [f"+refs/heads/{base}:{BASE_REF}"] + ([f"+refs/heads/{branch}:{HEAD_REF}"] if branch in heads else [])
        try:
            self._git("fetch", "--quiet", "--no-tags", "--", self.url, *refspecs)
        except _GitFailed as exc:
            raise PullRequestError(f"git fetch from {self.where} failed: {exc.line}") from None
        blob = self._git("hash-object", "-w", "--stdin", input=data)
        if branch in heads:
            return self._existing(branch, heads[branch], path, blob)
        at_base = self._blob_at(BASE_REF, path)
        if at_base is not None:
            same = "this very file" if at_base == blob else "a different file"
            raise PullRequestError(f"`{base}` already has {path} ({same}): nothing to propose; check again.")
        commit = self._commit(path, blob, heads[base], message)
        try:
            self._git("push", "--quiet", "--", self.url, f"{commit}:refs/heads/{branch}")
        except _GitFailed as exc:
            # someone (another worker, another driftbot) may have pushed the same branch meanwhile
            now = self._remote_heads(branch)
            if branch in now:
                self._git("fetch", "--quiet", "--no-tags", "--", self.url, f"+refs/heads/{branch}:{HEAD_REF}")
                return self._existing(branch, now[branch], path, blob)
            raise PullRequestError(f"git push of branch {branch} to {self.where} was rejected: {exc.line}") from None
        return Pushed(branch, commit, created=True)

    def _existing(self, branch: str, sha: str, path: str, blob: str) -> Pushed:
        if self._blob_at(HEAD_REF, path) != blob:
            raise PullRequestError(f"Branch {branch} already exists in {self.where} with other content; delete the "
                                   "branch (or merge it), then try again.")
        return Pushed(branch, sha, created=False)

    def _commit(self, path: str, blob: str, parent: str, message: str) -> str:
        with tempfile.TemporaryDirectory(prefix="driftbot-index-") as tmp:
            index = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
            self._git("read-tree", BASE_REF, env=index)
            self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
            tree = self._git("write-tree", env=index)
        return self._git("commit-tree", tree, "-p", parent, "-F", "-", input=message.encode("utf-8"))


class _GitFailed(PullRequestError):
    """A git command failed; ``line`` is git's last line of error, scrubbed of the token."""

    def __init__(self, command: str, line: str) -> None:
        super().__init__(f"git {command} failed: {line}")
        self.line = line
