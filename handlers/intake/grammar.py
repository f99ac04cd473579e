"""The ``/drift`` verbs: one table (``VERBS``) gives each verb's grammar, handler, place rule, usage and
help line; ``parse``, ``USAGE`` and ``HELP`` are read from it.

Parsing is pure: the text is split on whitespace and matched against the verb's grammar; it is never
passed to a shell or formatted into SQL. Anything else becomes a ``Usage`` with a short message for the
person who typed it. The handlers and place rules live in ``driftbot.handlers.intake.answers``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from driftbot.audit import parse_checkpoint
from driftbot.engine import actions
from driftbot.errors import DriftbotError
from driftbot.slack.mrkdwn import escape
from driftbot.handlers.intake import answers

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


@dataclass(frozen=True)
class Verb:
    """One ``/drift`` verb. *parse*: its words after the verb -> a Command or a Usage; *place*: why it is
    not answered where it was asked, or None; *handle*: the asker's answer; *usage*: its form in the
    usage line (None: said with another's); *help*: its line in ``/drift help``."""

    name: str
    parse: Callable[[list[str]], Command | Usage]
    place: Callable[..., str | None]
    handle: Callable[..., str]
    usage: str | None
    help: str


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("`", "'")
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _bare(verb: str, usage: str | None = None) -> Callable[[list[str]], Command | Usage]:
    def parse(rest: list[str]) -> Command | Usage:
        if rest:
            return Usage(usage or f"`{verb}` takes no arguments. " + USAGE)
        return Command(verb)
    return parse


def _one_environment(verb: str) -> Callable[[list[str]], Command | Usage]:
    def parse(rest: list[str]) -> Command | Usage:
        if len(rest) != 1:
            return Usage(f"Say which environment: `/drift {verb} ENV`.")
        return Command(verb, rest[0])
    return parse


def _resolve(rest: list[str]) -> Command | Usage:
    flags = actions.RESOLVE_FLAGS
    if len(rest) != 3 or rest[1] not in flags:
        return Usage("Write " + " or ".join(f"`/drift resolve ENV {flag} MIGRATION`" for flag in flags) + ".")
    return Command("resolve", rest[0], {"kind": flags[rest[1]].kind, "migration": rest[2]})


def _enum(rest: list[str]) -> Command | Usage:
    if len(rest) != 3:
        return Usage("Write `/drift enum ENV ENUM VALUE`, for example `/drift enum prod MediaKind VIDEO`.")
    return Command("enum", rest[0], {"kind": actions.ADD_ENUM_VALUE, "enum": rest[1], "value": rest[2]})


def _compare(rest: list[str]) -> Command | Usage:
    if len(rest) != 2:
        return Usage("Write `/drift compare FROM TO`, for example `/drift compare staging prod`.")
    return Command("compare", rest[0], {"to": rest[1]})


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


def _help(rt, cmd, user, channel, team) -> str:
    return HELP


_FLAGS = "|".join(actions.RESOLVE_FLAGS)

# In the order of the usage line and of `/drift help`. `audit verify` is parsed by `audit`'s grammar
# (the word after `audit`), and answered by its own row.
VERBS: dict[str, Verb] = {v.name: v for v in (
    Verb("status", _one_environment("status"), answers.env_channel, answers.check, "`/drift status ENV`",
         "`/drift status ENV`: check an environment; the result is posted in this channel."),
    Verb("diff", _one_environment("diff"), answers.env_or_reader_dm, answers.check, "`/drift diff ENV`",
         "`/drift diff ENV`: the same check, with the catch-up SQL as a snippet."),
    Verb("resolve", _resolve, answers.env_channel, answers.change, f"`/drift resolve ENV {_FLAGS} MIGRATION`",
         "`/drift resolve ENV --applied MIGRATION` or `--rolled-back MIGRATION`: request `prisma migrate resolve` "
         "(needs approvals)."),
    Verb("enum", _enum, answers.env_channel, answers.change, "`/drift enum ENV ENUM VALUE`",
         "`/drift enum ENV ENUM VALUE`: request `ALTER TYPE ... ADD VALUE` (needs approvals)."),
    Verb("compare", _compare, answers.both_environments, answers.compare, "`/drift compare FROM TO`",
         "`/drift compare FROM TO`: two environments side by side: the migrations between them, the schema "
         "difference, and whose drift it is (the SQL as a snippet, for review only)."),
    Verb("requests", _bare("requests"), answers.anywhere, answers.requests, "`/drift requests`",
         "`/drift requests`: open requests."),
    Verb("audit", _audit, answers.audit_scope, answers.audit, "`/drift audit [ENV] [--days N]`",
         "`/drift audit [ENV] [--days N]`: who asked, approved and ran what (CSV snippet)."),
    Verb("audit_verify", _verify, answers.whole_trail, answers.verify, "`/drift audit verify [N:HASH]`",
         "`/drift audit verify [N:HASH]`: check the audit chain (against a checkpoint `N:HASH` kept from an "
         "earlier message); the answer carries the newest checkpoint."),
    Verb("digest", _bare("digest", "`digest` takes no arguments: `/drift digest`."), answers.anywhere, answers.digest,
         "`/drift digest`", "`/drift digest`: the digest, now."),
    Verb("envs", _bare("envs"), answers.anywhere, answers.envs, "`/drift envs`", "`/drift envs`: configured environments."),
    Verb("help", _bare("help"), answers.anywhere, _help, "`/drift help`", "`/drift help`: this list."),
)}
_TYPED = {name for name in VERBS if name != "audit_verify"}  # what may follow `/drift`

USAGE = "Usage: " + " · ".join(v.usage for v in VERBS.values() if v.usage)
HELP = "\n".join(["*driftbot* finds and fixes Prisma migration drift."] + [v.help for v in VERBS.values()])


def parse(text: str) -> Command | Usage:
    """``/drift`` text -> a ``Command``, or a ``Usage`` explaining what is wrong."""
    if len(text or "") > _MAX_TEXT:
        return Usage("That command is too long. " + USAGE)
    words = (text or "").split()
    if not words or words[0].lower() == "help":
        return Command("help")
    verb, rest = words[0].lower(), words[1:]
    if verb not in _TYPED:
        return Usage(f"Unknown command `{_short(verb)}`. " + USAGE)
    return VERBS[verb].parse(rest)
