"""Text in Slack's mrkdwn: every value that comes from users, databases or files goes through here.

Slack reads ``<...>`` as markup wherever it appears, code spans and blocks included: ``<!channel>``
pings a whole channel, ``<https://evil.example|VIDEO>`` is a link that reads "VIDEO". Its three
control characters are escaped (``&`` ``<`` ``>`` as ``&amp;`` ``&lt;`` ``&gt;``), and values are shown
in code spans so they read as data. The bot's own markup (``<@U…>`` mentions, ``<#C…>`` channel links,
``<!subteam^S…>``, ``<!date^…>``) is written around escaped values, never through them.

Invisible characters from names in files or databases are shown, not obeyed: control characters
(but line breaks and tabs), format characters (bidi overrides and isolates such as U+202E that make
``a\u202egpj.exe`` read as ``aexe.jpg``, zero-width spaces and joiners) and line/paragraph separators
become ``[U+202E]``. The client applies ``visible`` to everything it sends (bot.slack.client).
"""

from __future__ import annotations

import re
import unicodedata

# mrkdwn has no escape for a backtick inside a code span: one in a value would end the span and let
# the rest be read as markup. It is shown as U+02CB MODIFIER LETTER GRAVE ACCENT, which looks alike.
_BACKTICK = "\u02cb"


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _shown(ch: str) -> str:
    return f"[U+{ord(ch):04X}]"


def visible(text: str) -> str:
    """*text* with every control, format and separator character (but ``\n``, ``\r``, ``\t``) shown as
    ``[U+XXXX]``: nothing invisible can reorder or hide what a post says."""
    if text.isascii():
        return _ASCII_CONTROL.sub(lambda m: _shown(m[0]), text)
    return "".join(_shown(c) if c not in "\n\r\t" and unicodedata.category(c) in _HIDDEN else c for c in text)


def escape(text: object) -> str:
    """*text* with ``&``, ``<`` and ``>`` escaped (it reads as itself, never as markup) and its invisible
    characters shown (``visible``)."""
    return visible(str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


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
