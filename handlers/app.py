"""The Bolt app factory: one ``App`` with the listeners of ``handlers`` and the runtime in its context.
The web process (``driftbot.processes``) builds it; nothing below the door imports it."""

from __future__ import annotations

from slack_bolt import App, BoltContext

from driftbot import handlers
from driftbot.errors import ConfigError
from driftbot.ops import tracing
from driftbot.runtime import Runtime


def create_app(rt: Runtime) -> App:
    settings = rt.settings
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        raise ConfigError("Setting `slack_signing_secret` is missing: set SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode).")
    app = App(
        client=rt.slack,
        token=rt.slack.token,
        # Bolt verifies every request's signature and timestamp with it; never turned off.
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None,
        token_verification_enabled=False,  # no auth.test round trip at start; the first call checks the token
        process_before_response=False,
    )

    @app.middleware
    def _runtime(context: BoltContext, next) -> None:  # noqa: A002 - Bolt's argument name
        context["driftbot"] = rt
        next()

    handlers.register(app)
    tracing.enabled()  # decided now: the first command does not pay for the SDK's imports within Slack's 3 s
    return app
