"""Bolt listeners, one module per Slack surface. Each exposes ``register(app)``."""

from slack_bolt import App

from driftbot.handlers import actions, commands, events


def register(app: App) -> None:
    commands.register(app)
    actions.register(app)
    events.register(app)
