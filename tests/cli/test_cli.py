"""The `driftbot` command: exit codes, JSON keys, and bad input (one clear line, nothing changed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from driftbot.cli import main
from tests.factory import ENUM, INIT, POSTS, SCHEMA_WITH_VIDEO, deploy, rows, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_posts", "20250103000000_media"
JSON_KEYS = {"environment", "state", "history", "schema", "findings"}
HISTORY_KEYS = {"local", "applied", "pending", "failed", "rolled_back_pending", "modified", "missing_locally", "applied_by_hand"}


@pytest.fixture
def project(tmp_path, db, configure):
    folder = write_migrations(tmp_path / "migrations", {M1: INIT, M2: POSTS, M3: ENUM})
    configure(f'[environments.prod]\nmigrations = "{folder}"\n',
              {"DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL": db, "DRIFTBOT_ENVIRONMENTS__PROD__ADMIN_URL": db})
    return folder


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_in_sync_exits_0_with_every_json_key(project, db, capsys):
    deploy(db, project)
    code, out, _ = run(capsys, "status", "prod", "--json")
    body = json.loads(out)
    assert code == 0 and body["state"] == "in_sync"
    assert JSON_KEYS <= body.keys() and HISTORY_KEYS <= body["history"].keys()
    assert {"checked", "reason", "summary", "sql"} <= body["schema"].keys()
    assert body["history"]["local"] == 3 and body["history"]["applied"] == 3


def test_status_pending_exits_1(project, db, tmp_path, capsys):
    deploy(db, write_migrations(tmp_path / "first", {M1: INIT}))
    code, out, _ = run(capsys, "status", "prod", "--json")
    body = json.loads(out)
    assert code == 1 and body["state"] == "pending" and body["history"]["pending"] == [M2, M3]
    assert [f["case"] for f in body["findings"]] == ["B"] and body["findings"][0]["action"]["kind"] == "deploy"


def test_status_text_says_what_prisma_hides(project, db, capsys):
    deploy(db, project)
    (project / M2 / "migration.sql").write_text(POSTS + "-- edited\n")
    code, out, _ = run(capsys, "status", "prod")
    assert code == 1
    assert "prod DRIFTED" in out and "edited after it was applied" in out
    assert "Database schema is up to date!" in out  # what Prisma would say, quoted as such


def test_unknown_command_and_environment(project, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
    code, out, err = run(capsys, "status", "prdo")
    assert code == 2 and out == ""
    assert err.strip() == "driftbot: Unknown environment `prdo`. Known: prod. Try `status prod`."


def test_unreachable_database_exits_2_with_one_line(project, monkeypatch, capsys):
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:1/app")
    code, out, _ = run(capsys, "status", "prod", "--json")
    body = json.loads(out)
    assert code == 2 and body["state"] == "error"
    assert "Cannot connect to the target database" in body["error"] and "hunter2" not in out
    code, out, _ = run(capsys, "status", "prod")
    assert code == 2 and "hunter2" not in out and len(out.strip().splitlines()) == 2


def test_missing_folder_and_non_utf8_file(project, capsys):
    (project / M2 / "migration.sql").write_bytes(b"SELECT '\xff';")
    code, out, _ = run(capsys, "status", "prod")
    assert code == 2 and "not UTF-8" in out
    os.environ["DRIFTBOT_ENVIRONMENTS__PROD__MIGRATIONS"] = str(project / "nope")
    try:
        code, out, _ = run(capsys, "status", "prod")
    finally:
        del os.environ["DRIFTBOT_ENVIRONMENTS__PROD__MIGRATIONS"]
    assert code == 2 and "does not exist" in out


def test_resolve_needs_confirmation_and_refuses_hostile_names(project, db, tmp_path, capsys, monkeypatch):
    deploy(db, write_migrations(tmp_path / "first", {M1: INIT}))
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    code, _, err = run(capsys, "resolve", "prod", "--applied", M2)
    assert code == 2 and "--yes" in err and len(rows(db)) == 1
    code, _, err = run(capsys, "resolve", "prod", "--applied", "../../etc/passwd", "--yes")
    assert code == 2 and "is not a migration name" in err and len(rows(db)) == 1
    code, out, _ = run(capsys, "resolve", "prod", "--applied", M2, "--yes")
    assert code == 0 and "marked as applied" in out
    code, _, err = run(capsys, "resolve", "prod", "--applied", M2, "--yes")
    assert code == 1 and "P3008" in err and len(rows(db)) == 2


def test_envs_lists_environments(project, capsys):
    code, out, _ = run(capsys, "envs")
    assert code == 0 and out.startswith("prod\tprotected\tapprovals 2")


@pytest.fixture(scope="module")
def scram_server():
    """A private embedded PostgreSQL that checks passwords (the shared test servers trust everyone)."""
    from driftbot.embedded import postgres_server

    base = Path(tempfile.mkdtemp(prefix="driftbot-scram-"))
    server = postgres_server(base)
    hba = server.data / "pg_hba.conf"
    hba.write_text("local all postgres trust\nlocal all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n")
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute("CREATE ROLE checker LOGIN PASSWORD 'right-password'")
        conn.execute("SELECT pg_reload_conf()")
    yield server.url
    server.release()
    shutil.rmtree(base, ignore_errors=True)


def test_wrong_password_is_one_clear_line_without_the_password(project, scram_server, monkeypatch, capsys):
    socket_dir = scram_server.split("host=")[1]
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL",
                       f"postgresql://checker:wrong-password@/postgres?host={socket_dir}")
    code, out, _ = run(capsys, "status", "prod")
    assert code == 2
    assert "password authentication failed" in out and "wrong-password" not in out
    assert "check the password" in out


def test_console_script_runs(project, db):
    deploy(db, project)
    done = subprocess.run([str(Path(sys.executable).parent / "driftbot"), "status", "prod", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "in_sync"


def test_a_role_that_does_not_exist_gets_the_user_name_hint(project, db, monkeypatch, capsys):
    parts = urlsplit(db)
    netloc = "no_such_role_x@" + parts.netloc.rpartition("@")[2]
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", urlunsplit(parts._replace(netloc=netloc)))
    code, out, err = run(capsys, "status", "prod")
    assert code == 2
    said = out + err
    assert 'role "no_such_role_x" does not exist' in said
    assert "check the user name in the URL" in said and "database name" not in said


def test_envs_says_how_many_approvals_a_request_needs_as_slack_does(project, capsys, monkeypatch):
    # An unprotected environment still needs one approval, whatever approvals_required says:
    # the terminal and `/drift envs` apply the same rule.
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__PROTECTED", "false")
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__APPROVALS_REQUIRED", "3")
    code, out, _ = run(capsys, "envs")
    assert code == 0 and out.split("\t")[:3] == ["prod", "unprotected", "approvals 1"]


# --- issue 13, case 5: `driftbot enum`, with resolve's safety; terminal advice names terminal commands ---

def test_enum_adds_a_value_with_the_safety_of_resolve(project, db, capsys, monkeypatch):
    deploy(db, project)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))

    def labels():
        with psycopg.connect(db) as conn:
            return [r[0] for r in conn.execute(
                "SELECT enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'MediaKind' "
                "ORDER BY enumsortorder")]

    code, _, err = run(capsys, "enum", "prod", "MediaKind", "VIDEO")
    assert code == 2 and "--yes" in err and labels() == ["IMAGE", "AUDIO"]
    code, _, err = run(capsys, "enum", "prod", "M" * 64, "VIDEO", "--yes")
    assert code == 2 and err.count("\n") == 1 and "1 to 63 bytes" in err and labels() == ["IMAGE", "AUDIO"]
    code, out, err = run(capsys, "enum", "prod", "MediaKind", "VIDEO", "--before", "AUDIO", "--yes")
    assert code == 0 and "Added value 'VIDEO'" in out and labels() == ["IMAGE", "VIDEO", "AUDIO"]
    assert "not in the audit trail" in err  # no state database configured here: said, not hidden
    code, _, err = run(capsys, "enum", "prod", "MediaKind", "VIDEO", "--yes")
    assert code == 1 and "already has the value" in err and labels() == ["IMAGE", "VIDEO", "AUDIO"]
    monkeypatch.delenv("DRIFTBOT_ENVIRONMENTS__PROD__ADMIN_URL")
    code, _, err = run(capsys, "enum", "prod", "MediaKind", "PHOTO", "--yes")
    assert code == 2 and "no admin_url" in err and "PHOTO" not in labels()


def test_a_terminal_change_is_in_the_audit_trail(project, db, databases, capsys, monkeypatch):
    from sqlalchemy import select

    from driftbot.state.db import make_engine, sessions, upgrade
    from driftbot.state.models import AuditEvent

    deploy(db, project)
    state = databases.create_state()
    engine = make_engine(state)
    upgrade(engine)
    monkeypatch.setenv("DRIFTBOT_STATE_URL", state)
    code, _, err = run(capsys, "enum", "prod", "MediaKind", "VIDEO", "--yes")
    assert code == 0 and "audit" not in err
    code, _, _ = run(capsys, "resolve", "prod", "--rolled-back", M1, "--yes")
    assert code == 1
    with sessions(engine)() as s:
        events = [(e.event, e.environment, e.data["kind"]) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    engine.dispose()
    assert events == [("execution_started", "prod", "add_enum_value"), ("execution_finished", "prod", "add_enum_value"),
                      ("execution_started", "prod", "resolve_rolled_back"), ("execution_refused", "prod", "resolve_rolled_back")]


def test_terminal_advice_says_terminal_commands_and_slack_says_drift_commands(project, db, tmp_path, capsys, monkeypatch):
    from driftbot.engine.check import run_check
    from driftbot.settings import load_settings
    from driftbot.slack.views import finding_lines

    deploy(db, project)
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA_WITH_VIDEO)
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__SCHEMA", str(schema))
    code, out, _ = run(capsys, "status", "prod")
    assert code == 1 and "prod DRIFTED" in out  # case 1: a finding is never "in sync"
    assert "fix: driftbot enum prod MediaKind VIDEO" in out and "/drift enum" not in out
    settings = load_settings(None)
    lines = finding_lines(run_check(settings, settings.environment("prod")))
    assert "`/drift enum prod MediaKind VIDEO`" in lines and "driftbot enum" not in lines


def test_the_prisma_line_shows_at_most_ten_names(project, db, tmp_path, capsys, monkeypatch):
    names = [f"202501{d:02d}000000_m{d}" for d in range(1, 14)]
    folder = write_migrations(tmp_path / "many", {n: f'CREATE TABLE "t{n[-2:]}" ("id" INTEGER);\n' for n in names})
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__MIGRATIONS", str(folder))
    code, out, _ = run(capsys, "status", "prod")  # a new, empty database: case B, not a baseline
    assert code == 1 and "prod has pending migrations" in out
    (line,) = [ln for ln in out.splitlines() if ln.startswith("Prisma `migrate status` would say")]
    assert ", ".join(names[:10]) + " and 3 more (exit 1)" in line
    code, out, _ = run(capsys, "status", "prod", "--json")
    assert json.loads(out)["history"]["pending"] == names


def test_a_look_alike_migration_name_is_refused_in_one_line(project, capsys):
    code, out, err = run(capsys, "resolve", "prod", "--applied", M2 + "\u200b", "--yes")
    assert code == 2 and out == ""
    assert err.strip().startswith("driftbot: The migration name ") and "U+200B ZERO WIDTH SPACE" in err
    assert len(err.strip().splitlines()) == 1


def test_a_terminal_change_works_on_a_keyed_trail(project, db, databases, capsys, monkeypatch):
    """Issue #26, item 10: with DRIFTBOT_AUDIT_KEY set, `driftbot enum` and `resolve` write keyed events."""
    from sqlalchemy import select

    from driftbot import audit
    from driftbot.state.db import make_engine, sessions, upgrade
    from driftbot.state.models import AuditEvent

    key = "terminal-key-0123456789abcdef0123456789"
    deploy(db, project)
    state = databases.create("state")
    engine = make_engine(state)
    upgrade(engine)
    with sessions(engine, audit_keys=audit.Keyring(key.encode()))() as s, s.begin():
        audit.record(s, event="check_requested", actor="U1", environment="prod")  # a keyed trail
    monkeypatch.setenv("DRIFTBOT_STATE_URL", state)
    monkeypatch.setenv("DRIFTBOT_AUDIT_KEY", key)
    code, out, err = run(capsys, "enum", "prod", "MediaKind", "VIDEO", "--yes")
    assert code == 0 and "Added value 'VIDEO'" in out, err
    code, _, err = run(capsys, "resolve", "prod", "--rolled-back", M1, "--yes")
    assert code == 1 and "DRIFTBOT_AUDIT_KEY" not in err
    with sessions(engine)() as s:
        rows_ = list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        assert [e.event for e in rows_][1:] == ["execution_started", "execution_finished",
                                                "execution_started", "execution_refused"]
        assert {e.key_id for e in rows_} == {audit.key_id(key.encode())}
        assert audit.verify(s, keys=audit.Keyring(key.encode())).ok
    engine.dispose()
