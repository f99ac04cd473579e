"""A check result survives the state database: ``CheckResult.from_json(result.to_record())`` is the same
result (what a refused post is reposted from, what a button under a result reads), and an unreachable
target is said by a typed kind, not by the words of its error."""

from __future__ import annotations

import json

from driftbot.engine.result import CheckResult
from tests.factory import INIT, POSTS, check_enum_value_only_in_schema, check_prod, deploy, write_migrations

M1, M2 = "20250101000000_init", "20250102000000_posts"


def _stored(result: CheckResult) -> dict:
    """As JSONB gives it back: JSON text, keys in another order."""
    return json.loads(json.dumps(result.to_record(), sort_keys=True, default=str))


def assert_read_back_whole(result: CheckResult) -> CheckResult:
    again = CheckResult.from_json(_stored(result))
    assert again.history == result.history
    # (JSONB keeps an action's arguments in an order of its own: the same arguments, as a dict)
    assert [f.to_json() for f in again.findings] == [f.to_json() for f in result.findings]
    assert again.schema == result.schema
    assert again.deploy_preview == result.deploy_preview and again.prisma == result.prisma
    assert again.fingerprint == result.fingerprint
    assert again.to_json() == json.loads(json.dumps(result.to_json(), default=str))
    if result.history is not None:
        assert again.history.prisma_status() == result.history.prisma_status()
    return again


def test_a_drifted_result_with_its_history_and_fixes_reads_back_whole(db, tmp_path):
    result = check_enum_value_only_in_schema(db, tmp_path)
    assert result.history is not None and result.findings
    again = assert_read_back_whole(result)
    assert again.findings[0].action.executable


def test_a_pending_result_with_its_deploy_preview_reads_back_whole(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    deploy(db, folder)
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS})
    result = check_prod(db, tmp_path, folder)
    assert result.state == "pending" and result.deploy_preview is not None
    assert_read_back_whole(result)


def test_an_unreachable_target_has_a_typed_kind_that_reads_back(tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    result = check_prod("postgresql://u:pw@127.0.0.1:1/x", tmp_path, folder)
    assert (result.state, result.error_kind) == ("error", "unreachable")
    assert assert_read_back_whole(result).error_kind == "unreachable"


def test_a_result_stored_before_records_were_kept_whole_reads_back_without_its_history(db, tmp_path):
    result = check_enum_value_only_in_schema(db, tmp_path)
    again = CheckResult.from_json(json.loads(json.dumps(result.to_json(), default=str)))
    assert again.history is None and [f.to_json() for f in again.findings] == [f.to_json() for f in result.findings]
