"""The ``/drift`` slash command: parse, authorise, enqueue, answer (ephemeral).

The answer is the ack itself, so the asker hears back within Slack's 3 seconds
whatever happens behind it; the work runs on a worker.
"""

from __future__ import annotations

from slack_bolt import Ack, App, BoltContext

from driftbot.errors import redact
from driftbot.handlers.intake.commands import on_command

COMMAND = "/drift"


def drift(ack: Ack, command: dict, context: BoltContext) -> None:
    text = on_command(context["driftbot"], command.get("text", ""), command["user_id"], command["channel_id"],
                      command.get("team_id"))
    # The ack is the HTTP answer itself, not a Web API call: masked here, as the client masks those.
    ack(response_type="ephemeral", text=redact(text))


def register(app: App) -> None:
    app.command(COMMAND)(drift)
