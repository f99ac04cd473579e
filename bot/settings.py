"""One typed ``Settings`` object, built once at start-up and passed down.

Sources, highest priority first: the process environment (``DRIFTBOT_`` prefix,
``__`` between levels, plus the names Slack's own tools use), then
``driftbot.toml``. Secrets come only from the environment: a password or token
written in the file is refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Literal
from urllib.parse import urlsplit

from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator,
                      model_validator)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from driftbot.errors import SECRET_PARAM, ConfigError, UnknownEnvironment, redact, register_secret, register_url
from driftbot.vocabulary import IGNORABLE, is_version

ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# U: a user, W: an Enterprise Grid user, S: a user group.
APPROVER = re.compile(r"^[UWS][A-Z0-9]{2,}$")
_SECRET_KEYS = re.compile(r"(password|passwd|secret|token|(^|_)keys?$)", re.I)
AUDIT_KEY_MIN = 32  # characters: `python3 -c 'import secrets; print(secrets.token_hex(32))'` gives 64


def _none() -> list:
    """An empty list, as a default. Not the builtin ``list``: pydantic asks every default factory for its
    signature, and a builtin's is parsed from text with the tokenize module, whose regular expressions
    took ~50 ms of every command's start-up to compile."""
    return []


def _nothing() -> dict:
    """An empty dict, as a default (not the builtin: see ``_none``)."""
    return {}


def _check_people(value: list[str] | None) -> list[str] | None:
    for who in value or ():
        if not APPROVER.match(who):
            raise ValueError(f"{who!r} must be a Slack user ID (U... or W...) or user group ID (S...)")
    return value


def _check_pg_url(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"{field} must be a postgresql:// URL, got {redact(value)!r}")
    return value


class EnvironmentSettings(BaseModel):
    """One database environment driftbot watches (prod, staging, ...)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field("", description="the environment's name, taken from its table's name", json_schema_extra={"doc": False})
    database_url: str = Field(repr=False, description="PostgreSQL URL of the database, with the read-only role that runs "
                                                      "every check (see Roles and GRANTs); its password in the environment")
    admin_url: str | None = Field(None, repr=False, description="PostgreSQL URL of the same database with the role used "
                                                                "only for approved changes; without it nothing can be changed")
    shadow_url: str | None = Field(None, repr=False, description="PostgreSQL URL of a server where scratch (shadow) "
                                                                 "databases are created to replay the migrations; without it, "
                                                                 "database_url's server if that role may CREATE DATABASE")
    migrations: str | None = Field(None, description="local migrations folder (relative to driftbot.toml's folder)")
    git: str | None = Field(None, repr=False, description="git repository holding the migrations (https:// or a path), "
                                                          "instead of migrations")
    ref: str = Field("main", description="the git source's branch, tag or commit (the pull requests' base)")
    path: str = Field("prisma/migrations", description="the migrations folder inside the git repository")
    # Sent as HTTP basic auth (git_user:token) for that host only, never put in a URL.
    git_token: SecretStr | None = Field(None, description="token for a private git source over HTTPS (read access "
                                                          "to its contents); environment only")
    git_user: str = Field("x-access-token", description="the user name sent with git_token")
    schema_path: str | None = Field(None, alias="schema", description="schema.prisma file or folder of *.prisma files "
                                                                      "(enum values of case C are read from it)")
    project: str | None = Field(None, description="Prisma project folder (its prisma.config.*, package.json, lockfile); "
                                                  "for a git source, the folder inside the repository")
    prisma_version: str | None = Field(None, description="the Prisma version the project runs (else read from its lockfile)")
    protected: bool = Field(True, description="changes need approvals_required approvers; reset is refused")
    approvals_required: int = Field(2, ge=1, le=10, description="distinct approvers (never the requester) a change on a "
                                                                "protected environment needs")
    channel: str | None = Field(None, description="Slack channel ID (C...) where this environment's checks, requests "
                                                  "and approvals happen")
    channels: list[str] = Field(default_factory=_none, description="more channel IDs where this environment is talked "
                                                                   "about, besides channel")
    approvers: list[str] | None = Field(None, description="Slack user and user group IDs who may approve; replaces the "
                                                          "top-level approvers for this environment")
    viewers: list[str] | None = Field(None, description="who may read its SQL and audit trail in a DM besides its "
                                                        "approvers; replaces the top-level viewers")
    ignore: list[str] = Field(default_factory=_none, description="drift to leave out, as kind:glob patterns")
    pull_requests: Literal["github"] | None = Field(None, description="open catch-up migrations as pull requests")
    github_repo: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="the GitHub repository as owner/name, when the git URL does not say it")

    @field_validator("approvers", "viewers")
    @classmethod
    def _people(cls, value: list[str] | None) -> list[str] | None:
        return _check_people(value)

    @field_validator("database_url", "admin_url", "shadow_url")
    @classmethod
    def _pg_url(cls, value: str | None, info: Any) -> str | None:
        return _check_pg_url(value, info.field_name)

    @field_validator("ignore")
    @classmethod
    def _ignore(cls, value: list[str]) -> list[str]:
        for pattern in value:
            kind, sep, glob = pattern.partition(":")
            if not sep or not glob or kind not in IGNORABLE:
                raise ValueError(f"ignore pattern {pattern!r} is not kind:glob with kind one of {', '.join(IGNORABLE)}")
        return value

    @field_validator("prisma_version")
    @classmethod
    def _prisma_version(cls, value: str | None) -> str | None:
        if value is not None and not is_version(value):
            raise ValueError(f"prisma_version {value!r} is not a version such as \"7.9.1\"")
        return value

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        if not value or value.startswith("-") or any(c.isspace() or ord(c) < 32 for c in value) or ".." in value:
            raise ValueError(f"ref {value!r} is not a valid git ref")
        return value

    @model_validator(mode="after")
    def _source(self) -> "EnvironmentSettings":
        if self.migrations and self.git:
            raise ValueError("set either migrations (a folder) or git (a repository), not both")
        if not self.migrations and not self.git and not self.project:
            raise ValueError("migrations: set a migrations folder, a Prisma project folder (project = \"DIR\"), "
                             "or git = \"<repository>\"")
        if self.pull_requests and not self.git:
            raise ValueError("pull_requests needs a git migrations source (git, ref, path)")
        return self


class DigestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str = Field("0 9 * * 1-5", description="when the daily digest is posted (cron expression, in timezone)")
    timezone: str = Field("UTC", description="IANA time zone of cron (Europe/Berlin)")
    channels: list[str] = Field(default_factory=_none, description="channel IDs that get the digest of every "
                                                                   "environment; each environment's own channel also "
                                                                   "gets the digest of the environments posted there")


class Settings(BaseSettings):
    """Everything driftbot is configured with."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        env_ignore_empty=True,  # NAME= in an env file or an empty Secret key is the same as unset
    )

    environments: dict[str, EnvironmentSettings] = Field(default_factory=_nothing, description="the databases "
                                                         "driftbot watches, one [environments.NAME] table each")
    approvers: list[str] = Field(default_factory=_none, description="Slack user IDs (U..., W...) and user group IDs "
                                                                    "(S...) who may approve changes")
    viewers: list[str] = Field(default_factory=_none, description="who may also read SQL and the audit trail in a DM "
                                                                  "(user and user group IDs)")

    slack_bot_token: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"),
                                              description="the Slack app's bot token (xoxb-...)")
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"),
        description="the Slack app's signing secret; needed by web in HTTP mode",
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"),
                                              description="an app-level token (xapp-..., connections:write): web runs "
                                                          "in Socket Mode when it is set")
    slack_api_url: str | None = Field(None, description="the Slack Web API's base URL (tests point it at a stand-in); "
                                                        "default Slack's own")
    redis_url: str | None = Field(None, repr=False, validation_alias=AliasChoices("REDIS_URL", "DRIFTBOT_REDIS_URL", "redis_url"),
                                  description="Redis of the worker queue; needed by every process")
    state_url: str | None = Field(None, repr=False, description="PostgreSQL URL of driftbot's own state and audit "
                                                                "trail; needed by every process")
    port: int = Field(3000, validation_alias=AliasChoices("PORT", "DRIFTBOT_PORT", "port"),
                      description="the HTTP port of web (Slack requests at /slack/events, /healthz, /readyz, "
                                  "Prometheus metrics at /metrics)")
    worker_metrics_port: int | None = Field(None, ge=1, le=65535, description="the port where each worker answers "
                                            "Prometheus at /metrics (docs/metrics.md); unset: no listener")
    github_token: SecretStr | None = Field(None, validation_alias=AliasChoices("GITHUB_TOKEN", "github_token"),
                                           description="token that pushes driftbot/... branches and opens pull "
                                                       "requests (pull_requests = \"github\")")
    github_api_url: str = Field("https://api.github.com", description="GitHub's API (https://HOST/api/v3 for "
                                                                      "GitHub Enterprise Server)")
    audit_key: SecretStr | None = Field(None, description="HMAC key of the audit chain, at least 32 characters; "
                                                          "give every process the same one")
    audit_previous_keys: SecretStr | None = Field(None, description="retired audit keys, separated by spaces or "
                                                                    "commas, kept to verify older events")

    digest: DigestSettings = Field(default_factory=DigestSettings, description="the daily digest: [digest] table")
    compare: list[tuple[str, str]] = Field(default_factory=_none, description="pairs of environments the digest "
                                                                              "compares, [[FROM, TO], ...]")
    request_ttl_hours: float = Field(24.0, gt=0, le=24 * 30, description="hours after which an unapproved request expires")
    cache_dir: Path = Field(default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "driftbot",
                            description="where git sources, replayed schemas and memos are cached",
                            json_schema_extra={"default_text": "$XDG_CACHE_HOME/driftbot, else ~/.cache/driftbot"})
    connect_timeout_s: int = Field(5, ge=1, le=120, description="seconds to wait for a target database to answer")
    check_statement_timeout_ms: int = Field(30_000, ge=100, description="statement_timeout of a check's queries "
                                                                        "on the target")
    write_lock_timeout_ms: int = Field(5_000, ge=100, description="lock_timeout of an approved change: a held lock "
                                                                  "refuses rather than waits")
    write_statement_timeout_ms: int = Field(60_000, ge=100, description="statement_timeout of an approved change")
    queue_prefix: str = Field("", pattern=r"^[A-Za-z0-9_.:-]{0,40}$", description="prefix of every Redis key and "
                                                                                  "queue, to keep several deployments "
                                                                                  "apart on one Redis")
    check_job_timeout_s: int = Field(600, ge=5, description="a check job longer than this is stopped and reported")
    # bot/work/slots.py: the digest's 500 environments on a few servers do not open 500 connections.
    max_checks_per_server: int = Field(4, ge=1, le=100, description="checks at once against one target database "
                                                                    "server (host and port), across every worker")
    execute_job_timeout_s: int = Field(300, ge=5, description="an approved change's job longer than this is stopped "
                                                              "and reported")
    heartbeat_s: float = Field(10.0, gt=0, le=300, description="seconds between a running job's heartbeats; a job "
                                                               "three beats old is reported lost")
    sweep_interval_s: float = Field(15.0, gt=0, le=3600, description="seconds between the sweeper's rounds (lost "
                                                                     "jobs, expired requests, old scratch databases)")
    # The configuration file load_settings looked for and did not find (None: found, or not looked for).
    _file_not_found: Path | None = PrivateAttr(None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; the environment overrides them.
        return (env_settings, init_settings)

    @field_validator("environments")
    @classmethod
    def _names(cls, value: dict[str, EnvironmentSettings]) -> dict[str, EnvironmentSettings]:
        named = {}
        for name, env in value.items():
            if not ENV_NAME.match(name):
                raise ValueError(f"environment name {name!r} must be lowercase letters, digits, - or _")
            named[name] = env.model_copy(update={"name": name})
        return named

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, value: list[str]) -> list[str]:
        for who in value:
            if not APPROVER.match(who):
                raise ValueError(f"approver {who!r} must be a Slack user ID (U... or W...) or user group ID (S...)")
        return value

    @field_validator("viewers")
    @classmethod
    def _viewers(cls, value: list[str]) -> list[str]:
        return _check_people(value) or []

    @field_validator("compare")
    @classmethod
    def _pairs(cls, value: list[tuple[str, str]], info: Any) -> list[tuple[str, str]]:
        known = info.data.get("environments", {})
        for pair in value:
            unknown = [name for name in pair if name not in known]
            if unknown:
                raise ValueError(f"pair {list(pair)} names {unknown[0]!r}, which is not a configured environment")
        return value

    @field_validator("audit_key", "audit_previous_keys")
    @classmethod
    def _audit_keys(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        if value is None:
            return None
        for key in re.split(r"[\s,]+", value.get_secret_value().strip()):
            if len(key) < AUDIT_KEY_MIN:
                raise ValueError(f"every audit key must be at least {AUDIT_KEY_MIN} characters; make one with "
                                 "python3 -c 'import secrets; print(secrets.token_hex(32))'")
        return value

    @model_validator(mode="after")
    def _register_secrets(self) -> "Settings":
        # From here on every log line, Slack payload, upload, error text and audit event masks these values.
        for url in self.secret_urls():
            register_url(url)
        git_tokens = [env.git_token for env in self.environments.values()]
        for secret in (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.github_token,
                       self.audit_key, self.audit_previous_keys, *git_tokens):
            if secret is not None:
                for value in re.split(r"[\s,]+", secret.get_secret_value().strip()) + [secret.get_secret_value()]:
                    register_secret(value)
        return self

    def secret_urls(self) -> list[str]:
        """Every URL that may carry a password or token."""
        urls = [self.state_url, self.redis_url]
        for env in self.environments.values():
            urls += [env.database_url, env.admin_url, env.shadow_url, env.git]
        return [u for u in urls if u]

    def environment(self, name: str) -> EnvironmentSettings:
        """The environment called *name*, or ``UnknownEnvironment`` naming the known ones."""
        try:
            return self.environments[name]
        except KeyError:
            if not self.environments and self._file_not_found is not None:
                raise ConfigError(
                    f"No configuration file: {self._file_not_found} does not exist, and no "
                    "DRIFTBOT_ENVIRONMENTS__* variable names an environment. Write that file "
                    "(docs/getting-started.md), or give another path with --config or DRIFTBOT_CONFIG.") from None
            raise UnknownEnvironment(name, list(self.environments)) from None

    def approvers_for(self, env: EnvironmentSettings) -> list[str]:
        return list(env.approvers) if env.approvers is not None else list(self.approvers)

    def viewers_for(self, env: EnvironmentSettings) -> list[str]:
        return list(env.viewers) if env.viewers is not None else list(self.viewers)

    def channels_of(self, env: EnvironmentSettings) -> list[str]:
        """Where *env*'s checks, requests and approvals happen (empty: not tied to a channel)."""
        return list(dict.fromkeys(c for c in [env.channel, *env.channels] if c))

    def user_groups(self) -> list[str]:
        """Every user group named as approvers or viewers (kept warm by the sweeper)."""
        named = [*self.approvers, *self.viewers]
        for env in self.environments.values():
            named += [*(env.approvers or ()), *(env.viewers or ())]
        return sorted({w for w in named if w.startswith("S")})

    def public_view(self) -> dict[str, Any]:
        """The configuration without secrets, for the audit trail: every field of the settings model
        (derived, so a key added later is covered too); secrets as whether they are set, URLs as
        user@host/db (never a password)."""
        return _public(self)


# Names the audited view has always used for these fields (config_changed events compare by them).
_VIEW_NAMES = {"database_url": "database", "admin_url": "admin", "shadow_url": "shadow", "schema_path": "schema"}


# Where one process listens or caches differs between processes of one configuration: not audited, else
# every start of another kind of process would record a "change".
PROCESS_LOCAL = frozenset({"name", "port", "cache_dir"})


def _public(model: BaseModel) -> dict[str, Any]:
    return {_VIEW_NAMES.get(name, name): _public_value(name, getattr(model, name))
            for name in type(model).model_fields if name not in PROCESS_LOCAL}


def _public_value(name: str, value: Any) -> Any:
    if isinstance(value, SecretStr):
        return True
    if isinstance(value, BaseModel):
        return _public(value)
    if isinstance(value, dict):
        return {str(k): _public_value(name, v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_public_value(name, v) for v in value]
    if isinstance(value, str) and (name.endswith("_url") or name == "git"):
        return _where(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _where(url: str | None) -> str | None:
    """A URL reduced to what identifies the server and database: never a password."""
    if not url:
        return None
    parts = urlsplit(url)
    try:
        host = f"{parts.hostname or 'localhost'}:{parts.port}" if parts.port else (parts.hostname or "localhost")
    except ValueError:
        host = "?"
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{host}{parts.path}"


def config_path(explicit: str | None = None) -> Path:
    """``--config``, else ``DRIFTBOT_CONFIG``, else ``./driftbot.toml``."""
    return Path(explicit or os.environ.get("DRIFTBOT_CONFIG") or "driftbot.toml")


def _refuse_secrets(data: Any, where: str, path: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if _SECRET_KEYS.search(str(key)) and value not in (None, ""):
                raise ConfigError(f"{where}: `{here}` is a secret; set it in the environment, not in the file.")
            _refuse_secrets(value, where, here)
    elif isinstance(data, list):
        for item in data:
            _refuse_secrets(item, where, path)
    elif isinstance(data, str) and "://" in data:
        parts = urlsplit(data)
        try:
            has_password = bool(parts.password)
        except ValueError:
            has_password = False
        secret_params = [k for k, v in re.findall(r"[?&]([^=&#?]+)=([^&#]*)", data) if SECRET_PARAM.search(k) and v]
        if has_password or secret_params:
            env_var = "DRIFTBOT_" + path.upper().replace(".", "__")
            what = f"a `{secret_params[0]}=` parameter" if secret_params and not has_password else "a password"
            raise ConfigError(
                f"{where}: `{path}` contains {what}. Passwords belong in the environment "
                f"(for example {env_var}), not in the file."
            )


def _read_file(path: Path, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise ConfigError(f"Configuration file {path} does not exist.")
        return {}
    import tomllib  # a deliberate start-up saving: only a configuration file needs the TOML parser

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
    _refuse_secrets(data, str(path))
    return data


def _known_keys(loc: tuple) -> list[str]:
    """The keys accepted where *loc* points: top level, an environment's table or ``[digest]``."""
    model: type[BaseModel] = Settings
    if len(loc) >= 3 and loc[0] == "environments":
        model = EnvironmentSettings
    elif len(loc) >= 2 and loc[0] == "digest":
        model = DigestSettings
    return sorted({f.alias or name for name, f in model.model_fields.items() if name != "name"})


def _describe(exc: ValidationError) -> str:
    errors = exc.errors()
    # An unknown key first: a misspelt one (databse_url) also makes the real one "missing", and the
    # misspelling is what to fix.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = ".".join(str(p) for p in err["loc"] if p not in ("function-after",))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        env_var = "DRIFTBOT_" + loc.upper().replace(".", "__")
        return f"Setting `{loc}` is missing: set it in driftbot.toml or as {env_var}."
    if err["type"] == "extra_forbidden":
        import difflib

        key = str(err["loc"][-1])
        close = difflib.get_close_matches(key, _known_keys(err["loc"]), n=1)
        hint = f" Did you mean `{close[0]}`?" if close else " The configuration reference (docs/settings.md) lists every key."
        return f"Setting `{loc}` is not a known setting.{hint}"
    return f"Setting `{loc}` is invalid: {redact(msg)}"


_FILE_PATHS = ("migrations", "schema", "project")  # environment keys naming a file or folder


def _relative_to(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Paths written in the file are relative to the file's folder (the environment's, to the current one)."""
    for env in (data.get("environments") or {}).values():
        for key in _FILE_PATHS if isinstance(env, dict) else ():
            if key == "project" and env.get("git"):
                continue  # a folder inside the repository, not on this machine
            value = env.get(key)
            if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                env[key] = str(folder / value)
    if isinstance(data.get("cache_dir"), str) and not Path(data["cache_dir"]).expanduser().is_absolute():
        data["cache_dir"] = str(folder / data["cache_dir"])
    return data


def load_settings(config: str | None = None, **overrides: Any) -> Settings:
    """Build the one ``Settings`` object, or raise ``ConfigError`` with one clear line."""
    path = config_path(config)
    data = _relative_to(_read_file(path, required=bool(config or os.environ.get("DRIFTBOT_CONFIG"))),
                        path.absolute().parent)
    data.update(overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    if not path.exists():
        settings._file_not_found = path.absolute()
    return settings


def resolve_approvers(configured: Iterable[str], members_of: Callable[[str], Iterable[str]]) -> frozenset[str]:
    """Slack user IDs from the configured list; user groups (``S...``) expanded by *members_of*."""
    users: set[str] = set()
    for who in configured:
        if who.startswith("S"):
            users.update(members_of(who))
        else:
            users.add(who)
    return frozenset(users)
