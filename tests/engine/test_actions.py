"""The registry of executable actions: each kind's command lines are the ones driftbot itself reads
back, its plan SQL is what its writer shows, and nothing outside the registry is executable."""

from __future__ import annotations

import pytest

from driftbot.engine import actions
from driftbot.engine.result import ACTION_KINDS, Action
from driftbot.errors import InvalidName, Refused
from driftbot.handlers.intake.grammar import Command, parse

ARGS = {actions.RESOLVE_APPLIED: {"migration": "20250101000000_init"},
        actions.RESOLVE_ROLLED_BACK: {"migration": "20250101000000_init"},
        actions.ADD_ENUM_VALUE: {"enum": "MediaKind", "value": "VIDEO"}}


@pytest.mark.parametrize("kind", list(actions.REGISTRY))
def test_each_kinds_drift_command_parses_back_to_its_own_request(kind):
    record, args = actions.get(kind), ARGS[kind]
    line = record.drift_command("prod", args)
    assert line.startswith("/drift ") and record.cli_command("prod", args) == "driftbot " + line[len("/drift "):]
    got = parse(line[len("/drift "):])
    assert isinstance(got, Command) and got.environment == "prod"
    assert got.args["kind"] == kind and record.clean(got.args) == args


@pytest.mark.parametrize("kind", list(actions.REGISTRY))
def test_each_kind_checks_its_arguments_as_its_writer_does(kind):
    bad = {k: "a/../b\u200b" for k in actions.get(kind).fields}
    with pytest.raises(InvalidName):
        actions.get(kind).clean(bad)


def test_only_the_registrys_kinds_are_executable():
    assert {k for k in ACTION_KINDS if Action(k).executable} == set(actions.REGISTRY)
    with pytest.raises(Refused):
        actions.get("deploy")
    assert actions.executable("baseline") is None


def test_a_resolve_applied_plan_needs_the_local_checksum_and_shows_both_statements():
    record = actions.get(actions.RESOLVE_APPLIED)
    assert record.needs_checksum and not actions.get(actions.RESOLVE_ROLLED_BACK).needs_checksum
    with pytest.raises(Refused):
        record.sql(ARGS[actions.RESOLVE_APPLIED])
    sql = record.sql(ARGS[actions.RESOLVE_APPLIED], checksum="ab" * 32)
    assert "UPDATE" in sql and "INSERT INTO" in sql and "ab" * 32 in sql


def test_no_module_but_the_registry_spells_an_executable_kind():
    """Everything else asks the registry (#24): a kind compared as a string elsewhere is a second dispatch."""
    import re
    from pathlib import Path

    root = Path(actions.__file__).resolve().parents[2]
    spelled = re.compile("|".join(f'"{kind}"' for kind in actions.REGISTRY))
    found = sorted(str(p.relative_to(root)) for top in ("bot", "handlers") for p in (root / top).rglob("*.py")
                   if spelled.search(p.read_text()))
    assert found == ["bot/engine/actions.py"]


def test_each_kind_says_its_change_in_a_few_words_for_the_app_home():
    assert actions.get("resolve_applied").short({"migration": "20250101000000_x"}) == "resolve --applied 20250101000000_x"
    assert actions.get("resolve_rolled_back").short({"migration": "m"}) == "resolve --rolled-back m"
    assert actions.get("add_enum_value").short({"enum": "MediaKind", "value": "VIDEO"}) == "ADD VALUE 'VIDEO' to MediaKind"
