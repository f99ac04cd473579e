"""What a running process holds: settings, the state database, Redis and the Slack client.

Built once per process from the one ``Settings`` object. RQ forks a work horse
per job; a forked process builds its own connections (database pools and
sockets must not be shared across a fork).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from functools import cached_property

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from driftbot.audit import keyring
from driftbot.errors import ConfigError
from driftbot.settings import EnvironmentSettings, Settings, load_settings, resolve_approvers
from driftbot.slack.client import GroupMembers, make_client
from driftbot.state.db import make_engine, sessions

_current: dict[int, "Runtime"] = {}


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    interactive: bool = False  # the web process: every state-database call must fit in Slack's 3 seconds

    @cached_property
    def redis(self) -> Redis:
        """Short timeouts: a command must be answered within Slack's 3 seconds even when Redis is down."""
        if not self.settings.redis_url:
            raise ConfigError("Setting `redis_url` is missing: set REDIS_URL.")
        return Redis.from_url(self.settings.redis_url, socket_connect_timeout=1.0, socket_timeout=2.0)

    @cached_property
    def slack(self):
        """The Web API client, or None without a bot token (``driftbot demo``: results stay in the state database).
        The web process's never waits long for Slack: its listeners must stay free."""
        if self.settings.slack_bot_token is None:
            return None
        return make_client(self.settings, patient=not self.interactive)

    @cached_property
    def group_members(self) -> GroupMembers:
        # The web process reads the shared copy only; workers fetch an old one again, with a client that
        # never sleeps for Retry-After (a 429 puts the work off instead: driftbot.slack.client.GroupsDeferred).
        client = self.slack if self.interactive or self.slack is None else make_client(self.settings, patient=False)
        return GroupMembers(client, self.redis, self.settings.queue_prefix, fetch=not self.interactive)

    def approvers(self, env: EnvironmentSettings) -> frozenset[str]:
        """The Slack user IDs allowed to approve on *env* (user groups resolved through Slack)."""
        return resolve_approvers(self.settings.approvers_for(env), self.group_members)

    def request_approvers(self, env: EnvironmentSettings, at_request: list[str] | None) -> frozenset[str]:
        """Who may approve a request now: the stricter of the list configured when it was asked
        (*at_request*) and the one configured now, each with its user groups' current members."""
        now = self.approvers(env)
        if at_request is None:  # a request from before approver lists were kept with it
            return now
        return now & resolve_approvers(at_request, self.group_members)

    def readers(self, env: EnvironmentSettings) -> frozenset[str]:
        """Who may read *env*'s SQL and audit trail in a DM: its approvers and viewers."""
        return resolve_approvers(self.settings.approvers_for(env) + self.settings.viewers_for(env), self.group_members)


def build(settings: Settings, interactive: bool = False) -> Runtime:
    kwargs = {}
    if interactive:
        # Fail fast, so the listener still answers within 3 s when the state database is away or stuck.
        kwargs["connect_args"] = {"connect_timeout": 1, "application_name": "driftbot-web",
                                  "options": "-c statement_timeout=1500 -c lock_timeout=1000"}
        kwargs["pool_timeout"] = 1
    engine = make_engine(settings.state_url or "", **kwargs)
    return Runtime(settings=settings, engine=engine, sessions=sessions(engine, audit_keys=keyring(settings)), interactive=interactive)


def current() -> Runtime:
    """This process's runtime (settings from driftbot.toml / the environment)."""
    pid = os.getpid()
    if pid not in _current:
        inherited = next(iter(_current.values()), None)
        interactive = False
        if inherited is not None:
            settings = inherited.settings  # a forked child: same settings, its own connections
            interactive = inherited.interactive
            inherited.engine.dispose(close=False)  # leave the parent's sockets to the parent
        else:
            settings = load_settings()
        _current.clear()
        _current[pid] = build(settings, interactive)
    return _current[pid]


def install(rt: Runtime) -> None:
    """Make *rt* this process's runtime (processes that built it themselves, tests)."""
    _current.clear()
    _current[os.getpid()] = rt
