"""Text in Slack's mrkdwn: every value that comes from users, databases or files goes through here.

Slack reads ``<...>`` as markup wherever it appears, code spans and blocks included: ``<!channel>``
pings a whole channel, ``<https://evil.example|VIDEO>`` is a link that reads "VIDEO". Its three
control characters are escaped (``&`` ``<`` ``>`` as ``&amp;`` ``&lt;`` ``&gt;``), and values are shown
in code spans so they read as data. The bot's own markup (``<@U…>`` mentions, ``<#C…>`` channel links,
``<!subteam^S…>``, ``<!date^…>``) is written around escaped values, never through them.
"""

from __future__ import annotations

# mrkdwn has no escape for a backtick inside a code span: one in a value would end the span and let
# the rest be read as markup. It is shown as U+02CB MODIFIER LETTER GRAVE ACCENT, which looks alike.
_BACKTICK = "\u02cb"


def escape(text: object) -> str:
    """*text* with ``&``, ``<`` and ``>`` escaped: it reads as itself, never as markup."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(value: object) -> str:
    """*value* as an inline code span, escaped; a backtick in it cannot close the span."""
    text = escape(value).replace("`", _BACKTICK).replace("\n", " ")
    return f"`{text}`" if text else "` `"


def block(text: object) -> str:
    """*text* as a code block (````` ```…``` `````), escaped; a ````` ``` ````` in it cannot close the block."""
    body = escape(text).replace("```", "``" + _BACKTICK)
    return f"```\n{body}\n```"


def checkpoint_line(mark: str) -> str:
    """The audit checkpoint ``N:HASH`` (as ``driftbot audit checkpoint`` prints it), as every message shows it:
    a copy of the chain's end kept in Slack, to check with ``/drift audit verify N:HASH``."""
    return f"Audit checkpoint {code(mark)}"


def error(exc: BaseException) -> str:
    """An error's text for Slack: escaped, unless the error carries mrkdwn of its own (``mrkdwn``)."""
    own = getattr(exc, "mrkdwn", None)
    return own if isinstance(own, str) else escape(str(exc))
