"""Text in Slack's mrkdwn: every value that comes from users, databases or files goes through here.

Slack reads ``<...>`` as markup wherever it appears, code spans and blocks included: ``<!channel>``
pings a whole channel, ``<https://evil.example|VIDEO>`` is a link that reads "VIDEO". Its three
control characters are escaped (``&`` ``<`` ``>`` as ``&amp;`` ``&lt;`` ``&gt;``), and values are shown
in code spans so they read as data. The bot's own markup (``<@U…>`` mentions, ``<#C…>`` channel links,
``<!subteam^S…>``, ``<!date^…>``) is written around escaped values, never through them.

Invisible characters from names in files or databases are shown, not obeyed: control characters
(but line breaks and tabs), format characters (bidi overrides and isolates such as U+202E that make
``a\u202egpj.exe`` read as ``aexe.jpg``, zero-width spaces and joiners) and line/paragraph separators
become ``[U+202E]``. The client applies ``visible`` to everything it sends (driftbot.slack.client).
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


def clip(text: str, limit: int, more: str = "…") -> str:
    """*text* within *limit* characters: cut at the last line end that fits when there is one in its
    second half, else mid-line, and marked with *more*. Never used on a code block (see ``block_within``)."""
    if len(text) <= limit:
        return text
    room = max(0, limit - len(more))
    cut = text.rfind("\n", 0, room + 1)
    head = text[:cut] if cut > room // 2 else text[:room]
    return head + more


def block_within(text: object, limit: int, more: str = "…") -> tuple[str, bool]:
    """*text* as a code block of at most *limit* characters (escaping included), cut at a line end with
    *more* on its last line when it is longer; ``(block, cut)``."""
    whole = block(text)
    if len(whole) <= limit:
        return whole, False
    raw = str(text)
    low, high = 0, len(raw)
    while low < high:  # the longest prefix whose block fits (escaping lengthens text unevenly)
        mid = (low + high + 1) // 2
        if len(block(raw[:mid] + "\n" + more)) <= limit:
            low = mid
        else:
            high = mid - 1
    head = raw[:low]
    cut = head.rfind("\n")
    head = head[:cut] if cut > low // 2 else head
    return block(head + "\n" + more), True


def lines_within(lines: list[str], budget: int, more) -> list[str]:
    """The first of *lines* that fit in *budget* characters (newlines counted), then ``more(n)`` for the
    *n* left out; each line is clipped to the budget on its own. All of them when they fit."""
    if sum(len(line) + 1 for line in lines) <= budget + 1:
        return list(lines)
    out: list[str] = []
    used = 0
    reserve = len(more(len(lines))) + 1
    for i, line in enumerate(lines):
        line = clip(line, max(80, (budget - reserve) // 4))
        if used + len(line) + 1 > budget - reserve:
            return out + [more(len(lines) - i)]
        out.append(line)
        used += len(line) + 1
    return out


def middle(text: str, limit: int) -> str:
    """*text* within *limit* characters, shortened in the middle (``20260818120100_add…ternal_id_ind``):
    its start and its end, which tell names apart, both stay."""
    if len(text) <= limit:
        return text
    keep = max(2, limit - 1)
    head = (keep + 1) // 2
    return text[:head] + "…" + text[len(text) - (keep - head):]
