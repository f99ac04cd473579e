"""Intake of ``/drift``: what its listener hands the text to: parse, authorise, record, enqueue, answer.

Each verb's grammar, place rule and handler come from one table (``driftbot.handlers.intake.grammar.VERBS``).
The answer is the short text for the person who asked. Nothing here touches a target database: the
handlers read and write driftbot's state and the queue only, with short timeouts, so Slack gets its
answer within 3 seconds even when Redis or the state database is down (``driftbot.state.outages``).
"""

from __future__ import annotations

import logging

from driftbot import logs
from driftbot.errors import DriftbotError
from driftbot.ops import tracing
from driftbot.runtime import Runtime
from driftbot.slack.mrkdwn import error
from driftbot.state.outages import OUTAGES, outage_note
from driftbot.handlers.intake.grammar import VERBS, Usage, parse

log = logging.getLogger(__name__)


def on_command(rt: Runtime, text: str, user: str, channel: str, team: str | None = None) -> str:
    cmd = parse(text)
    if isinstance(cmd, Usage):
        return cmd.message
    verb = VERBS[cmd.name]
    known = cmd.environment if cmd.environment in rt.settings.environments else None  # a name typed is not one
    with logs.context(environment=known):  # every line logged about it names it
        try:
            with tracing.span(f"/drift {cmd.name}", verb=cmd.name, environment=known):
                return verb.place(rt, cmd, user, channel) or verb.handle(rt, cmd, user, channel, team)
        except DriftbotError as exc:
            return error(exc)
        except OUTAGES as exc:
            return outage_note(exc, "Cannot do that now")
        except Exception:  # the asker gets one line, the log gets the details
            log.exception("command failed")
            return "Something went wrong on driftbot's side; nothing was changed. The details are in its logs."
