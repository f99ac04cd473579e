"""``driftbot doctor``: what driftbot needs, and whether it has it.

For each environment: the check role reads ``_prisma_migrations`` and the catalog and cannot write;
the admin role can do what the approved changes need (docs/roles.md); the shadow role may create
databases; the migrations source is readable (for git: the ref is found, and on GitHub GITHUB_TOKEN is
accepted); the Prisma version is found; the bot is a member of the environment's channels. For the
process: Redis, the state database and its schema revision, the audit key, the Slack token's scopes.

Each item is one ``Item``: a verdict (``ok``, ``problem``, or ``skipped`` when not configured and not
needed), what was found, and what to do. Nothing here writes to any database.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from typing import Callable

from driftbot.audit.chain import key_id
from driftbot.engine.db import connect, parse_url
from driftbot.engine.sources import load, open_source, public_url, settle
from driftbot.errors import DriftbotError, MigrationsSourceError, PullRequestError, redact
from driftbot.processes import newest_revision, redis_problem, state_problem
from driftbot.pulls.github import GitHub, GitHubError, repo_from_url
from driftbot.settings import EnvironmentSettings, Settings

OK, PROBLEM, SKIPPED = "ok", "problem", "skipped"
# manifest.yml's oauth_config.scopes.bot (tests/test_doctor.py keeps the two in step)
BOT_SCOPES = ("commands", "chat:write", "files:write", "usergroups:read", "channels:read", "groups:read")
SLACK_API = "https://slack.com/api/"
ROLES_DOC = "docs/roles.md"


@dataclass(frozen=True)
class Item:
    item: str
    verdict: str
    found: str
    todo: str | None = None
    environment: str | None = None

    def line(self) -> str:
        mark = {OK: "ok     ", PROBLEM: "PROBLEM", SKIPPED: "skipped"}[self.verdict]
        where = f"{self.environment}: " if self.environment else ""
        return f"{mark} {where}{self.item}: {self.found}" + (f" -> {self.todo}" if self.todo else "")


@dataclass(frozen=True)
class Report:
    items: list[Item]

    @property
    def exit_code(self) -> int:
        return 0 if all(i.verdict != PROBLEM for i in self.items) else 1

    def to_json(self) -> dict:
        return {"ok": self.exit_code == 0, "exit_code": self.exit_code,
                "items": [{k: v for k, v in asdict(i).items()} | {"verdict": i.verdict} for i in self.items]}

    def text(self) -> str:
        problems = sum(i.verdict == PROBLEM for i in self.items)
        tail = "all hold" if not problems else f"{problems} problem{'s' if problems != 1 else ''}"
        return "".join(i.line() + "\n" for i in self.items) + f"driftbot doctor: {tail}\n"


def _guarded(name: str, env: str | None, probe: Callable[[], Item | None]) -> Item | None:
    """A probe that fails (an unreachable server, a refused login) is a problem with a one-line reason."""
    try:
        return probe()
    except DriftbotError as exc:
        return Item(name, PROBLEM, redact(str(exc)), "fix the URL or the server named above", env)
    except Exception as exc:  # a driver error: its first line, masked
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Item(name, PROBLEM, redact(f"{type(exc).__name__}: {first}"), "see the reason above", env)


def _connect(url: str, env: str, what: str):
    return connect(url, what=what, environment=env, connect_timeout=5, autocommit=True,
                   application_name="driftbot-doctor")


_ME = "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"


def _migrations_table(conn, schema: str) -> str | None:
    """The quoted name of ``_prisma_migrations`` in *schema* when it exists."""
    name = f'"{schema}"."_prisma_migrations"'
    return name if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] else None


def check_role(env: EnvironmentSettings) -> Item:
    name = "check role (database_url)"
    target = parse_url(env.database_url)
    with _connect(env.database_url, env.name, "target") as conn:
        superuser, _, _ = conn.execute(_ME).fetchone()
        user = conn.execute("SELECT current_user").fetchone()[0]
        table = _migrations_table(conn, target.schema)
        conn.execute("SELECT count(*) FROM pg_catalog.pg_class")  # the catalog: every role may read it
        fix = f"use a role with only the check role's GRANTs of {ROLES_DOC}"
        if superuser:
            return Item(name, PROBLEM, f"{user} is a superuser: it can write", fix, env.name)
        if table is None:
            return Item(name, PROBLEM, f"no _prisma_migrations in schema {target.schema} (or {user} may not see it)",
                        f"deploy the migrations first, or GRANT USAGE ON SCHEMA {target.schema} TO {user}", env.name)
        readable = conn.execute("SELECT has_table_privilege(%s, 'SELECT')", (table,)).fetchone()[0]
        writes = [p for p in ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
                  if conn.execute("SELECT has_table_privilege(%s, %s)", (table, p)).fetchone()[0]]
        if conn.execute("SELECT has_schema_privilege(%s, 'CREATE')", (target.schema,)).fetchone()[0]:
            writes.append(f"CREATE on schema {target.schema}")
        if not readable:
            return Item(name, PROBLEM, f"{user} cannot read {table}",
                        f"GRANT SELECT ON {table} TO {user} ({ROLES_DOC})", env.name)
        if writes:
            return Item(name, PROBLEM, f"{user} can write: {', '.join(writes)}", fix, env.name)
        return Item(name, OK, f"{user} reads _prisma_migrations and the catalog and cannot write", None, env.name)


def admin_role(env: EnvironmentSettings) -> Item:
    name = "admin role (admin_url)"
    if not env.admin_url:
        return Item(name, SKIPPED, "admin_url is not set: approved changes cannot be carried out",
                    f"set admin_url with the admin role of {ROLES_DOC} to allow them", env.name)
    target = parse_url(env.admin_url)
    with _connect(env.admin_url, env.name, "admin") as conn:
        superuser, _, _ = conn.execute(_ME).fetchone()
        user = conn.execute("SELECT current_user").fetchone()[0]
        if superuser:
            return Item(name, PROBLEM, f"{user} is a superuser: more than approved changes need",
                        f"use a role with only the admin role's GRANTs of {ROLES_DOC}", env.name)
        table = _migrations_table(conn, target.schema)
        if table is None:
            return Item(name, PROBLEM, f"no _prisma_migrations in schema {target.schema} (or {user} may not see it)",
                        f"GRANT USAGE ON SCHEMA {target.schema} TO {user}", env.name)
        missing = [p for p in ("SELECT", "INSERT", "UPDATE")
                   if not conn.execute("SELECT has_table_privilege(%s, %s)", (table, p)).fetchone()[0]]
        if missing:
            return Item(name, PROBLEM, f"{user} lacks {', '.join(missing)} on {table}",
                        f"GRANT SELECT, INSERT, UPDATE ON {table} TO {user} ({ROLES_DOC})", env.name)
        # ALTER TYPE ... ADD VALUE: only the type's owner (or a member of the owning role) may.
        foreign = [r[0] for r in conn.execute(
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE t.typtype = 'e' AND n.nspname = %s AND NOT pg_has_role(t.typowner, 'MEMBER') ORDER BY 1",
            (target.schema,))]
        if foreign:
            owner = conn.execute(
                "SELECT DISTINCT pg_get_userbyid(t.typowner) FROM pg_type t JOIN pg_namespace n ON "
                "n.oid = t.typnamespace WHERE t.typtype = 'e' AND n.nspname = %s", (target.schema,)).fetchone()[0]
            return Item(name, PROBLEM, f"{user} does not own the enum types {', '.join(foreign)}: adding an enum "
                        "value will be refused", f"GRANT {owner} TO {user} ({ROLES_DOC}, enum values), or leave it "
                        "if enum values are added by deploys only", env.name)
        return Item(name, OK, f"{user} may resolve migrations (SELECT, INSERT, UPDATE on _prisma_migrations) and "
                              "add enum values; not a superuser", None, env.name)


def shadow_role(env: EnvironmentSettings) -> Item:
    name = "shadow role (shadow_url)"
    url = env.shadow_url or env.database_url
    with _connect(url, env.name, "shadow" if env.shadow_url else "target") as conn:
        superuser, createdb, _ = conn.execute(_ME).fetchone()
        user = conn.execute("SELECT current_user").fetchone()[0]
    if superuser or createdb:
        where = "the shadow server" if env.shadow_url else "the check role's own server (no shadow_url)"
        return Item(name, OK, f"{user} may create databases on {where}", None, env.name)
    if env.shadow_url:
        return Item(name, PROBLEM, f"{user} may not create databases: schema drift will be 'not checked'",
                    f"ALTER ROLE {user} CREATEDB ({ROLES_DOC})", env.name)
    return Item(name, PROBLEM, "no shadow_url, and the check role may not create databases: schema drift will be "
                               "'not checked'", f"set shadow_url to a server with the shadow role of {ROLES_DOC}",
                env.name)


def migrations_source(env: EnvironmentSettings, settings: Settings) -> Item:
    name = "migrations source"
    if env.git:  # fetched by the git ref's item just before
        found = load(env, settings.cache_dir, fetch=False)
        return Item(name, OK, f"{public_url(env.git)} {env.ref}:{env.path}: {len(found.names)} migrations readable",
                    None, env.name)
    found = load(env, settings.cache_dir)
    return Item(name, OK, f"{env.migrations or f'project {env.project}'}: {len(found.names)} migrations readable",
                None, env.name)


def git_ref(env: EnvironmentSettings, settings: Settings) -> Item:
    """The git source fetched (with the environment's git_token) and its ref found."""
    name = "git ref"
    source = open_source(env, settings.cache_dir)
    where = public_url(env.git)
    try:
        source.fetch()
    except MigrationsSourceError as exc:
        said = str(exc)
        if "credentials" in said:
            todo = (f"set DRIFTBOT_ENVIRONMENTS__{env.name.upper()}__GIT_TOKEN to a token that may read the "
                    "repository (never in the URL)")
        else:
            todo = "check the git URL, the network, and that the token (if any) may read the repository"
        return Item(name, PROBLEM, said.removesuffix("."), todo, env.name)
    try:
        commit = source.resolve()
    except MigrationsSourceError:
        return Item(name, PROBLEM, f"`{env.ref}` was not found in {where}",
                    f"set ref to a branch, tag or commit of the repository (`git ls-remote {where}` lists them)",
                    env.name)
    return Item(name, OK, f"`{env.ref}` found in {where} at {commit[:12]}", None, env.name)


def github_token(env: EnvironmentSettings, settings: Settings) -> Item | None:
    """GITHUB_TOKEN accepted by GitHub's API for the environment's repository; None when it is not on GitHub."""
    name = "GitHub token (GITHUB_TOKEN)"
    repo = env.github_repo or repo_from_url(env.git)
    if repo is None:
        return None
    token = settings.github_token.get_secret_value() if settings.github_token else ""
    if not token:
        if env.pull_requests == "github":
            return Item(name, PROBLEM, "GITHUB_TOKEN is not set: pull requests cannot be opened",
                        "set GITHUB_TOKEN to a token with Contents and Pull requests read/write on "
                        f"{repo} (docs/pull-requests.md)", env.name)
        return Item(name, SKIPPED, "GITHUB_TOKEN is not set; pull requests are off", None, env.name)
    try:
        GitHub(settings.github_api_url, token, repo, timeout=10).can_read()
    except GitHubError as exc:
        return Item(name, PROBLEM, f"{settings.github_api_url} refused it for {repo} ({exc.status})",
                    redact(str(exc)), env.name)
    except PullRequestError as exc:
        return Item(name, PROBLEM, redact(str(exc)), "check DRIFTBOT_GITHUB_API_URL and the network", env.name)
    return Item(name, OK, f"accepted by {settings.github_api_url} for {repo} (its pull requests are readable; "
                          "writing is first tried by a pull request)", None, env.name)


def prisma_version(env: EnvironmentSettings, settings: Settings) -> Item:
    version = settle(env, settings.cache_dir, fetch=not env.git).prisma_version  # a git source: fetched by its ref
    if version.known:
        return Item("Prisma version", OK, version.describe(), None, env.name)
    return Item("Prisma version", PROBLEM, version.describe(),
                "set prisma_version for the environment, or point project at the folder with the lockfile", env.name)


def environment_items(settings: Settings, env: EnvironmentSettings) -> list[Item]:
    probes = [("check role (database_url)", lambda: check_role(env)), ("admin role (admin_url)", lambda: admin_role(env)),
              ("shadow role (shadow_url)", lambda: shadow_role(env))]
    if env.git:
        probes += [("git ref", lambda: git_ref(env, settings)),
                   ("GitHub token (GITHUB_TOKEN)", lambda: github_token(env, settings))]
    probes += [("migrations source", lambda: migrations_source(env, settings)),
               ("Prisma version", lambda: prisma_version(env, settings)),
               ("Slack channel", lambda: channel_item(settings, env))]
    items = [i for i in (_guarded(name, env.name, probe) for name, probe in probes) if i is not None]
    ref = next((i for i in items if i.item == "git ref"), None)
    if ref is not None and ref.verdict == PROBLEM:  # nothing to read: say so once, on the ref's line
        items = [Item(i.item, SKIPPED, "not read: see the git ref", None, env.name)
                 if i.item in ("migrations source", "Prisma version") else i for i in items]
    return items


# --- the process -----------------------------------------------------------------------------


def redis_item(settings: Settings) -> Item:
    found = redis_problem(settings)
    if found is None:
        return Item("redis", OK, "answers")
    return Item("redis", PROBLEM, found.explained.removeprefix("redis: "), "check REDIS_URL and that Redis is up")


def state_item(settings: Settings) -> Item:
    found = state_problem(settings)
    if found is None:
        return Item("state database", OK, f"answers; schema at the newest revision {newest_revision()}")
    todo = ("start web, worker or clock once: they upgrade it" if found.part == "state schema"
            else "check DRIFTBOT_STATE_URL and that PostgreSQL is up (docs/state-grants.md)")
    return Item("state database", PROBLEM, found.explained.removeprefix("state database: "), todo)


def audit_key_item(settings: Settings) -> Item:
    if settings.audit_key is None:
        return Item("audit key", PROBLEM, "DRIFTBOT_AUDIT_KEY is not set: the audit chain is unkeyed",
                    "set DRIFTBOT_AUDIT_KEY (python3 -c 'import secrets; print(secrets.token_hex(32))') and run "
                    "`driftbot audit key start` (docs/trust.md)")
    return Item("audit key", OK, f"set (key {key_id(settings.audit_key.get_secret_value().encode())})")


def slack_call(settings: Settings, method: str, params: dict[str, str] | None = None,
               timeout: float = 10.0) -> tuple[dict, str | None]:
    """One Web API call with the bot token: Slack's JSON answer and its ``x-oauth-scopes`` header."""
    token = settings.slack_bot_token.get_secret_value()  # type: ignore[union-attr]
    base = (settings.slack_api_url or SLACK_API).rstrip("/") + "/"
    request = urllib.request.Request(base + method, data=urllib.parse.urlencode(params or {}).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - Slack's URL or the setting's
        return json.loads(response.read() or b"{}"), response.headers.get("x-oauth-scopes")


def granted_scopes(settings: Settings, timeout: float = 10.0) -> tuple[set[str], dict]:
    """The token's scopes from the ``x-oauth-scopes`` header Slack sends with a Web API answer (auth.test)."""
    body, header = slack_call(settings, "auth.test", timeout=timeout)
    scopes = {s.strip() for s in (header or "").split(",") if s.strip()}
    return scopes, body | {"_header": header is not None}


def _membership(settings: Settings, channel: str) -> tuple[bool, str, str | None]:
    """Whether the bot is in *channel* (conversations.info's ``is_member``), what was found, what to do."""
    body, _ = slack_call(settings, "conversations.info", {"channel": channel})
    if body.get("ok"):
        info = body.get("channel") or {}
        named = f"#{info['name']} ({channel})" if info.get("name") else channel
        if info.get("is_archived"):
            return False, f"{named} is archived", "unarchive it, or set the environment's channel to another"
        if not info.get("is_member"):
            return False, f"driftbot is not in {named}", f"invite it: /invite @driftbot in {named}"
        return True, f"in {named}", None
    error = body.get("error")
    if error == "channel_not_found":
        return False, f"{channel} was not found, or is a private channel driftbot is not in", \
            "check the channel ID (the channel's details, at the bottom) and /invite @driftbot there"
    if error == "missing_scope":
        return False, f"the token may not read channels (missing {body.get('needed') or 'channels:read, groups:read'})", \
            "add channels:read and groups:read to the app's bot scopes (manifest.yml) and reinstall the app"
    return False, f"conversations.info refused {channel}: {error}", "see Slack's error above"


def channel_item(settings: Settings, env: EnvironmentSettings) -> Item:
    """The bot's membership of each channel of *env* (channel and channels)."""
    name = "Slack channel"
    channels = settings.channels_of(env)
    if not channels:
        return Item(name, SKIPPED, "no channel: requests and approvals may happen in any channel", None, env.name)
    if settings.slack_bot_token is None:
        return Item(name, SKIPPED, "SLACK_BOT_TOKEN is not set (see Slack token scopes)", None, env.name)
    try:
        found = [_membership(settings, c) for c in channels]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Item(name, PROBLEM, redact(f"conversations.info failed: {exc}"),
                    "check DRIFTBOT_SLACK_API_URL and the network", env.name)
    if all(ok for ok, _, _ in found):
        return Item(name, OK, "; ".join(said for _, said, _ in found), None, env.name)
    bad = [(said, todo) for ok, said, todo in found if not ok]
    return Item(name, PROBLEM, "; ".join(said for said, _ in bad),
                "; ".join(dict.fromkeys(todo for _, todo in bad if todo)), env.name)


def slack_item(settings: Settings) -> Item:
    name = "Slack token scopes"
    if settings.slack_bot_token is None:
        return Item(name, PROBLEM, "SLACK_BOT_TOKEN is not set", "set it to the app's bot token (docs/slack-app.md)")
    try:
        scopes, body = granted_scopes(settings)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Item(name, PROBLEM, redact(f"auth.test failed: {exc}"), "check DRIFTBOT_SLACK_API_URL and the network")
    if not body.get("ok"):
        return Item(name, PROBLEM, f"auth.test refused the token: {body.get('error')}",
                    "set SLACK_BOT_TOKEN to the installed app's bot token")
    if not body["_header"]:
        return Item(name, PROBLEM, "Slack sent no x-oauth-scopes header", "check DRIFTBOT_SLACK_API_URL")
    missing = [s for s in BOT_SCOPES if s not in scopes]
    if missing:
        return Item(name, PROBLEM, f"missing {', '.join(missing)} (has {', '.join(sorted(scopes)) or 'none'})",
                    "add them to the app's bot scopes (manifest.yml) and reinstall the app")
    return Item(name, OK, f"has {', '.join(BOT_SCOPES)} (manifest.yml's bot scopes)")


def run(settings: Settings) -> Report:
    items = [_guarded(n, None, f) for n, f in (
        ("redis", lambda: redis_item(settings)), ("state database", lambda: state_item(settings)),
        ("audit key", lambda: audit_key_item(settings)), ("Slack token scopes", lambda: slack_item(settings)))]
    for _, env in sorted(settings.environments.items()):
        items += environment_items(settings, env)
    return Report(items)
