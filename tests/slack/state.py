"""Helpers shared by the Slack-side tests: a state database and a runtime on it."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.settings import Settings
from bot.state.db import make_engine, sessions, upgrade


def make_runtime(settings: Settings) -> Runtime:
    engine = make_engine(settings.state_url)
    upgrade(engine)
    return Runtime(settings=settings, engine=engine, sessions=sessions(engine))
