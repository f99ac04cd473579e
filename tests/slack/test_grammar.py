"""Parsing ``/drift`` text: every command, and a short usage for everything else."""

from __future__ import annotations

import pytest

from driftbot.handlers.intake.grammar import Command, Usage, parse


@pytest.mark.parametrize("text, expected", [
    ("status prod", Command("status", "prod")),
    ("  diff   staging ", Command("diff", "staging")),
    ("resolve prod --applied 20250101_x", Command("resolve", "prod", {"kind": "resolve_applied", "migration": "20250101_x"})),
    ("resolve prod --rolled-back 2_y", Command("resolve", "prod", {"kind": "resolve_rolled_back", "migration": "2_y"})),
    ("enum prod MediaKind VIDEO", Command("enum", "prod", {"kind": "add_enum_value", "enum": "MediaKind", "value": "VIDEO"})),
    ("requests", Command("requests")),
    ("envs", Command("envs")),
    ("help", Command("help")),
    ("", Command("help")),
    ("audit", Command("audit", None, {})),
    ("audit prod", Command("audit", "prod", {})),
    ("audit prod --days 30", Command("audit", "prod", {"days": "30"})),
    ("audit --days 2", Command("audit", None, {"days": "2"})),
    ("digest", Command("digest")),
    ("compare staging prod", Command("compare", "staging", {"to": "prod"})),
])
def test_commands_parse(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text, says", [
    ("status", "Say which environment"),
    ("status prod staging", "Say which environment"),
    ("resolve prod --applid x", "--applied MIGRATION"),
    ("resolve prod x", "--applied MIGRATION"),
    ("enum prod MediaKind", "/drift enum ENV ENUM VALUE"),
    ("drop table users; --", "Unknown command `drop`"),
    ("$(rm -rf /)", "Unknown command `$(rm`"),
    ("audit prod staging", "/drift audit [ENV] [--days N]"),
    ("audit prod --days", "`--days` takes a number of days"),
    ("audit prod --days 0", "`--days` takes a number of days"),
    ("audit prod --days -3", "`--days` takes a number of days"),
    ("audit prod --weeks 2", "/drift audit [ENV] [--days N]"),
    ("digest now", "`digest` takes no arguments"),
    ("compare staging", "/drift compare FROM TO"),
    ("compare staging prod qa", "/drift compare FROM TO"),
    ("x" * 600, "too long"),
])
def test_wrong_input_gets_a_short_usage(text, says):
    got = parse(text)
    assert isinstance(got, Usage)
    assert says in got.message
    assert "Traceback" not in got.message and len(got.message) < 400
