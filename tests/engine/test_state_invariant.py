"""The state invariant as a property: a result is ``in_sync`` exactly when no finding proposes an
action and there is no blind spot (issue 13). Hypothesis builds histories (any mix of pending,
failed, rolled back, edited, database-only and hand-run migrations, managed or not) and schema
reports with their findings; the findings of the history come from the engine itself.

The schema findings' side of the contract (drift in the summary always comes with a finding) is
checked on real results by tests/engine/generated/, before and after each plan.
"""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from driftbot.engine.findings import history_findings
from driftbot.engine.history import ByHand, FailedMigration, HistoryVerdict, ModifiedMigration
from driftbot.engine.result import Action, Finding, SchemaReport, blind_spots, decide_state

NAMES = [f"2025010{i}000000_m{i}" for i in range(1, 10)]
WHEN = datetime(2025, 1, 1, tzinfo=timezone.utc)


@st.composite
def verdicts(draw) -> HistoryVerdict:
    managed = draw(st.booleans()) or draw(st.booleans())
    local = tuple(sorted(draw(st.sets(st.sampled_from(NAMES), max_size=9))))
    if not managed:
        return HistoryVerdict(managed=False, local=local, applied=(), pending=local, prisma_unapplied=local)
    kinds = {n: draw(st.sampled_from(("applied", "applied", "pending", "failed", "rolled_back", "edited", "by_hand")))
             for n in local}
    applied = tuple(n for n, k in kinds.items() if k in ("applied", "edited"))
    failed = tuple(FailedMigration(n, draw(st.sampled_from((None, "ERROR: boom"))), WHEN, draw(st.sampled_from((None, True, False))))
                   for n, k in kinds.items() if k == "failed")
    rolled_back = tuple(n for n, k in kinds.items() if k == "rolled_back")
    by_hand = tuple(n for n, k in kinds.items() if k == "by_hand")
    pending = tuple(n for n, k in kinds.items() if k in ("pending", "rolled_back"))
    missing = tuple(draw(st.sets(st.sampled_from(("20991231000000_hotfix", "20991230000000_other")), max_size=2)))
    return HistoryVerdict(
        managed=True, local=local, applied=applied + tuple(missing), pending=pending, failed=failed,
        rolled_back_pending=rolled_back,
        modified=tuple(ModifiedMigration(n, "a" * 64, "b" * 64) for n, k in kinds.items() if k == "edited"),
        missing_locally=tuple(sorted(missing)), applied_by_hand=by_hand,
        by_hand=tuple(ByHand(n, ("Post",), ()) for n in by_hand),
    )


SCHEMA_FINDINGS = {
    "A": Finding("A", "The database has 1 object(s)...", "", Action("catch_up_migration", (("migration", "x"),), sql="--")),
    "B": Finding("B", "The database lacks 1 object(s)...", "", Action("deploy", (("migration", "y"),), sql="--")),
    "C": Finding("C", "Enum `E` lacks the value `V`", "", Action("add_enum_value", (("enum", "E"), ("value", "V")))),
    "index": Finding("B", "Index i on t is INVALID", "", Action("none", (("index", "i"),), sql="REINDEX ...")),
}


@st.composite
def schema_reports(draw) -> tuple[SchemaReport, list[Finding]]:
    checked = draw(st.booleans()) or draw(st.booleans())
    if not checked:
        return SchemaReport(checked=False, reason="schema drift was not asked for"), []
    found = [SCHEMA_FINDINGS[k] for k in draw(st.lists(st.sampled_from(sorted(SCHEMA_FINDINGS)), unique=True))]
    # Drift in the summary always comes with a finding; a finding may come without summary lines
    # (an enum value schema.prisma has: Prisma's summary compares the migrations with the database).
    summary = ("[+] Added tables", "  - staff") if found and draw(st.booleans()) else ()
    unseen = ("`prisma migrate dev` ... compare no functions ...",) if found and draw(st.booleans()) else ()
    return SchemaReport(checked=True, summary=summary, prisma_blind_spots=unseen), found


@settings(max_examples=500, deadline=None)
@given(verdicts(), schema_reports())
def test_in_sync_exactly_when_no_finding_and_no_blind_spot(verdict, schema):
    report, found = schema
    findings = history_findings(verdict) + found
    state = decide_state(verdict, report, findings=findings)
    quiet = not findings and not blind_spots(verdict, report)
    assert (state == "in_sync") == quiet, (state, [f.title for f in findings])
    assert (state == "in_sync") == (verdict.in_sync and not report.drifted and not found)


def test_the_property_can_fail_an_enum_finding_alone_is_drift():
    """The case that broke the invariant before: a clean history and summary, one [C] finding."""
    clean = HistoryVerdict(managed=True, local=(NAMES[0],), applied=(NAMES[0],))
    report = SchemaReport(checked=True)
    assert decide_state(clean, report, findings=[SCHEMA_FINDINGS["C"]]) == "drifted"
    assert decide_state(clean, report) == "in_sync"
