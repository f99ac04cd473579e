"""Parsing the text of ``/drift``: pure, no I/O.

The text is split on whitespace and matched against a small grammar; it is
never passed to a shell or formatted into SQL. Anything else becomes a
``Usage`` with a short message for the person who typed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.audit import parse_checkpoint
from bot.errors import DriftbotError
from bot.slack.mrkdwn import escape

USAGE = (
    "Usage: `/drift status ENV` · `/drift diff ENV` · `/drift resolve ENV --applied|--rolled-back MIGRATION` · "
    "`/drift enum ENV ENUM VALUE` · `/drift compare FROM TO` · `/drift requests` · `/drift audit [ENV] [--days N]` · "
    "`/drift audit verify [N:HASH]` · `/drift digest` · "
    "`/drift envs` · `/drift help`"
)
HELP = "\n".join([
    "*driftbot* finds and fixes Prisma migration drift.",
    "`/drift status ENV`: check an environment; the result is posted in this channel.",
    "`/drift diff ENV`: the same check, with the catch-up SQL as a snippet.",
    "`/drift resolve ENV --applied MIGRATION` or `--rolled-back MIGRATION`: request `prisma migrate resolve` (needs approvals).",
    "`/drift enum ENV ENUM VALUE`: request `ALTER TYPE ... ADD VALUE` (needs approvals).",
    "`/drift compare FROM TO`: two environments side by side: the migrations between them, the schema difference, and whose drift it is (the SQL as a snippet, for review only).",
    "`/drift requests`: open requests. `/drift envs`: configured environments.",
    "`/drift audit [ENV] [--days N]`: who asked, approved and ran what (CSV snippet). `/drift digest`: the digest, now.",
    "`/drift audit verify [N:HASH]`: check the audit chain (against a checkpoint `N:HASH` kept from an earlier message); "
    "the answer carries the newest checkpoint.",
])
_MAX_TEXT = 500
MAX_DAYS = 366  # `/drift audit --days`: a year, leap or not


@dataclass(frozen=True)
class Command:
    name: str
    environment: str | None = None
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """Input that is not a command: ``message`` says what is wrong and how to write it."""

    message: str


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("`", "'")
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def parse(text: str) -> Command | Usage:
    """``/drift`` text -> a ``Command``, or a ``Usage`` explaining what is wrong."""
    if len(text or "") > _MAX_TEXT:
        return Usage("That command is too long. " + USAGE)
    words = (text or "").split()
    if not words or words[0].lower() == "help":
        return Command("help")
    verb, rest = words[0].lower(), words[1:]
    if verb in ("requests", "envs"):
        return Command(verb) if not rest else Usage(f"`{verb}` takes no arguments. " + USAGE)
    if verb in ("status", "diff"):
        if len(rest) != 1:
            return Usage(f"Say which environment: `/drift {verb} ENV`.")
        return Command(verb, rest[0])
    if verb == "resolve":
        if len(rest) != 3 or rest[1] not in ("--applied", "--rolled-back"):
            return Usage("Write `/drift resolve ENV --applied MIGRATION` or `/drift resolve ENV --rolled-back MIGRATION`.")
        kind = "resolve_applied" if rest[1] == "--applied" else "resolve_rolled_back"
        return Command("resolve", rest[0], {"kind": kind, "migration": rest[2]})
    if verb == "enum":
        if len(rest) != 3:
            return Usage("Write `/drift enum ENV ENUM VALUE`, for example `/drift enum prod MediaKind VIDEO`.")
        return Command("enum", rest[0], {"kind": "add_enum_value", "enum": rest[1], "value": rest[2]})
    if verb == "compare":
        if len(rest) != 2:
            return Usage("Write `/drift compare FROM TO`, for example `/drift compare staging prod`.")
        return Command("compare", rest[0], {"to": rest[1]})
    if verb == "digest":
        return Command("digest") if not rest else Usage("`digest` takes no arguments: `/drift digest`.")
    if verb == "audit":
        return _audit(rest)
    return Usage(f"Unknown command `{_short(verb)}`. " + USAGE)


def _audit(rest: list[str]) -> Command | Usage:
    """``audit [ENV] [--days N]``, ``audit verify [N:HASH]``."""
    if rest[:1] == ["verify"]:
        return _verify(rest[1:])
    usage = Usage("Write `/drift audit [ENV] [--days N]`, for example `/drift audit prod --days 30`.")
    args: dict[str, str] = {}
    env = None
    words = list(rest)
    while words:
        word = words.pop(0)
        if word == "--days":
            # ASCII digits only: '²'.isdigit() is True, and int('²') raises.
            if not words or not (words[0].isascii() and words[0].isdigit()) or not 1 <= int(words[0]) <= MAX_DAYS:
                return Usage(f"`--days` takes a number of days from 1 to {MAX_DAYS}: `/drift audit prod --days 30`.")
            args["days"] = words.pop(0)
        elif word.startswith("-") or env is not None:
            return usage
        else:
            env = word
    return Command("audit", env, args)


def _verify(rest: list[str]) -> Command | Usage:
    """``audit verify [N:HASH]``: the checkpoint is checked here, so a bad one is answered at once."""
    if len(rest) > 1:
        return Usage("Write `/drift audit verify` or `/drift audit verify N:HASH` (a checkpoint from an earlier message).")
    if not rest:
        return Command("audit_verify")
    try:
        parse_checkpoint(rest[0])
    except DriftbotError as exc:
        return Usage(f"{escape(exc)} For example `/drift audit verify 981:3f9c…` with all 64 digits.")
    return Command("audit_verify", None, {"checkpoint": rest[0]})
