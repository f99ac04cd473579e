"""Open (or find) the pull request for a check's catch-up migration.

The order makes every step safe to repeat: look the pull request up first
(same branch, or the same SQL under an earlier day's migration name); push the
branch (already there with this file: nothing to do); open the pull request
(GitHub says one already exists: that is the one). A try that stopped after the
push is completed by the next one, never doubled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from driftbot import audit
from driftbot.engine.result import CheckResult
from driftbot.errors import ConfigError, DriftbotError, PullRequestError
from driftbot.pulls.git import Repository
from driftbot.pulls.github import GitHub, GitHubError, PullRequest, repo_from_url
from driftbot.pulls.proposal import BRANCH_PREFIX, Proposal, build, parse_marker
from driftbot.state.models import AuditEvent

AUDIT_EVENT = "pull_request_opened"  # what record_opened records


@dataclass(frozen=True)
class Opened:
    environment: str
    branch: str
    migration: str
    number: int
    url: str
    fingerprint: str
    created: bool  # False: the pull request already existed

    def to_json(self) -> dict[str, Any]:
        return {"branch": self.branch, "migration": self.migration,
                "pull_request": {"number": self.number, "url": self.url}, "created": self.created}


def repository_of(env) -> str:
    """``owner/name``: the ``github_repo`` setting, else read from a github.com ``git`` URL."""
    repo = env.github_repo or repo_from_url(env.git)
    if not repo:
        raise ConfigError(f"Environment {env.name}: set github_repo = \"owner/name\"; it cannot be read from its git URL.")
    return repo


def push_url(env) -> str:
    """The ``git`` URL, when the token can go with it: HTTPS (or a local repository, as in tests)."""
    scheme = urlsplit(env.git or "").scheme
    if scheme in ("http", "https", "file") or (env.git or "").startswith("/"):
        return env.git
    raise ConfigError(f"Environment {env.name}: pull requests push over HTTPS with GITHUB_TOKEN; set git to the "
                      "repository's https:// URL.")


def github_for(settings, env) -> GitHub:
    if env.pull_requests != "github":
        raise ConfigError(f"Environment {env.name} does not open pull requests: set pull_requests = \"github\" "
                          "(with git, ref and path) to enable them.")
    if settings.github_token is None or not settings.github_token.get_secret_value():
        raise PullRequestError("GITHUB_TOKEN is not set: give driftbot a token with Contents read/write and Pull "
                               "requests read/write on the repository.")
    return GitHub(settings.github_api_url, settings.github_token.get_secret_value(), repository_of(env),
                  timeout=max(settings.connect_timeout_s, 10))


def find_existing(pulls: list[PullRequest], proposal: Proposal) -> PullRequest | None:
    """The open pull request for this finding among driftbot's own (*pulls*, from the configured
    repository only): from its branch (which carries the SQL's hash), or from an earlier day's branch
    of this environment holding the same SQL (the migration's date stamp moves; the finding does not)."""
    own = f"{BRANCH_PREFIX}{proposal.environment}/"
    for pr in pulls:
        if pr.head == proposal.branch:
            return pr
    for pr in pulls:
        said = parse_marker(pr.body)
        if pr.head.startswith(own) and said and said["env"] == proposal.environment and said["sha"] == proposal.sql_sha256:
            return pr
    return None


def open_pull_request(settings, env, result: CheckResult, migration: str | None = None) -> Opened:
    """Commit the finding's migration on ``driftbot/<env>/<migration>-<sql hash>`` and open its pull request, or
    return the one already open for the same finding."""
    gh = github_for(settings, env)
    url = push_url(env)
    proposal = build(result, env, migration)

    def opened(pr: PullRequest, created: bool) -> Opened:
        said = parse_marker(pr.body)
        name = said["migration"] if said else proposal.migration
        return Opened(env.name, pr.head, name, pr.number, pr.url, proposal.fingerprint, created)

    existing = find_existing([pr for pr in gh.open_pulls(base=proposal.base) if gh.own(pr)], proposal)
    if existing is not None:
        return opened(existing, False)
    token = settings.github_token.get_secret_value()
    Repository(url, Path(settings.cache_dir), token).push_file(
        base=proposal.base, branch=proposal.branch, path=proposal.file_path, content=proposal.content,
        message=f"{proposal.title}\n\nProposed by driftbot from check {proposal.fingerprint[:12]}.\n",
    )
    try:
        pr = gh.create_pull(title=proposal.title, head=proposal.branch, base=proposal.base, body=proposal.body)
    except GitHubError as exc:
        if not exc.already_exists:
            raise
        again = find_existing([pr for pr in gh.open_pulls(base=proposal.base, head=proposal.branch) if gh.own(pr)],
                              proposal)
        if again is None:
            raise
        return opened(again, False)
    return opened(pr, True)


def open_driftbot_pulls(settings, env) -> list[PullRequest]:
    """The open pull requests driftbot opened for *env* (for the digest), oldest first."""
    gh = github_for(settings, env)
    own = f"{BRANCH_PREFIX}{env.name}/"
    pulls = [pr for pr in gh.open_pulls(base=env.ref) if gh.own(pr) and pr.head.startswith(own)]
    return sorted(pulls, key=lambda pr: (pr.created_at is None, pr.created_at, pr.number))


def open_for_digest(settings) -> tuple[list[tuple[str, PullRequest]], list[tuple[str, str]]]:
    """Every environment's open driftbot pull requests, and ``(environment, why)`` for each whose could
    not be listed (the digest says so rather than leaving them out)."""
    found: list[tuple[str, PullRequest]] = []
    problems: list[tuple[str, str]] = []
    for name, env in sorted(settings.environments.items()):
        if env.pull_requests is None:
            continue
        try:
            found += [(name, pr) for pr in open_driftbot_pulls(settings, env)]
        except DriftbotError as exc:
            problems.append((name, str(exc)))
    return found, problems


def record_opened(session, opened: Opened, actor: str | None, **where: Any) -> None:
    """The audit event for a pull request driftbot opened (*where*: the Slack channel and thread)."""
    if not opened.created:
        return
    audit.record(session, event="pull_request_opened", actor=actor, environment=opened.environment, data={
        "branch": opened.branch, "migration": opened.migration, "number": opened.number, "url": opened.url,
        "fingerprint": opened.fingerprint, **where,
    })


def opened_for(session, environment: str, migration: str) -> dict[str, Any] | None:
    """What the audit trail says about the pull request driftbot opened for *migration* (its number,
    link, and the Slack thread it was asked from), the latest one; None when it opened none."""
    row = session.execute(
        select(AuditEvent).where(AuditEvent.event == AUDIT_EVENT, AuditEvent.environment == environment,
                                 AuditEvent.data["migration"].astext == migration)
        .order_by(AuditEvent.id.desc()).limit(1)
    ).scalar()
    return dict(row.data) if row is not None else None
