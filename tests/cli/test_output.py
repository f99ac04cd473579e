"""The terminal leads: findings as numbered steps in the order to carry them out, the recommended way
first and the other said to be the alternative, the case labels explained once, the SQL of every
proposed migration one command away; and the mistakes a newcomer makes answered in one line that
names the mistake."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from driftbot.cli import main
from tests.factory import ENUM, INIT, deploy, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_media", "20250103000000_email_unique"
FAILING = 'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");\n'


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def broken(tmp_path, db, configure):
    """A failed migration (B') and a table made by hand (A)."""
    folder = write_migrations(tmp_path / "migrations", {M1: INIT, M2: ENUM, M3: FAILING})
    deploy(db, write_migrations(tmp_path / "first", {M1: INIT, M2: ENUM}))
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("""INSERT INTO "User" (email) VALUES ('ana@example.com'), ('ana@example.com')""")
    assert deploy(db, folder) is not None
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute('CREATE TABLE "staff" ("id" SERIAL PRIMARY KEY, "name" TEXT NOT NULL)')
    configure(f'[environments.prod]\nmigrations = "{folder}"\n', {"DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL": db})
    return folder


def test_status_numbers_the_steps_recommends_one_and_names_the_alternative(broken, capsys):
    code, out, _ = run(capsys, "status", "prod")
    assert code == 1
    steps = re.findall(r"^  (\d+)\. \[([^\]]+)\] (.*)$", out, re.M)
    assert [(n, case) for n, case, _ in steps][:2] == [("1", "B'"), ("2", "A")], out
    first = out.split("  1. ", 1)[1].split("  2. ", 1)[0]
    assert f"prisma migrate resolve --rolled-back {M3}" in first and "(recommended)" in first
    assert re.search(rf"Alternative to step 1: .*record it as applied", first), first
    assert f"prisma migrate resolve --applied {M3}" in first
    # The labels explained once, after the steps.
    assert out.count("[B'] a failed") == 1 and out.count("[A] ") >= 2
    assert "docs/runbook.md" in out


def test_status_points_to_the_sql_of_each_proposed_migration(broken, capsys):
    code, out, _ = run(capsys, "status", "prod", "--json")
    catch_up = next(f["action"] for f in json.loads(out)["findings"] if f["action"]["kind"] == "catch_up_migration")
    name = catch_up["migration"]
    code, out, _ = run(capsys, "status", "prod")
    # The folder as the project names it (#26: findings never carry the machine's absolute paths).
    assert f"driftbot diff prod --migration {name} > {broken.name}/{name}/migration.sql" in out, out
    assert str(broken) not in out
    code, out, err = run(capsys, "diff", "prod", "--migration", name)
    assert code == 1 and out == catch_up["sql"].rstrip("\n") + "\n", err
    code, out, err = run(capsys, "diff", "prod", "--migration", "20990101000000_nothing")
    assert code == 2 and out == "" and name in err and "20990101000000_nothing" in err


def test_an_unknown_key_is_named_even_when_it_hides_a_required_one(tmp_path, configure, db, capsys):
    configure('[environments.prod]\ndatabse_url = "postgresql://ro@db.internal/app"\nmigrations = "m"\n', {})
    code, _, err = run(capsys, "status", "prod")
    assert code == 2 and err.count("\n") == 1
    assert "`environments.prod.databse_url` is not a known setting" in err and "database_url" in err.split("databse_url", 2)[-1]


def test_no_configuration_file_says_so(tmp_path, monkeypatch, capsys):
    for key in list(os.environ):
        if key.startswith("DRIFTBOT_ENVIRONMENTS") or key == "DRIFTBOT_CONFIG":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "status", "prod")
    assert code == 2 and err.count("\n") == 1
    assert "driftbot.toml" in err and "no configuration file" in err.lower() and "DRIFTBOT_CONFIG" in err


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_the_demo_with_a_server_that_does_not_answer_says_so(tmp_path):
    # Its own process: the demo takes SIGTERM and SIGHUP for its embedded servers.
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres"
    done = subprocess.run([str(Path(sys.executable).parent / "driftbot"), "demo", "--database-url", url],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    code, err = done.returncode, done.stderr
    assert code == 2 and "unexpected error" not in err
    assert url.split('@')[1].split('/')[0] in err
    assert "--database-url" in err and "does not answer" in err


def test_a_state_database_that_does_not_exist_is_named(pg_url, redis_url, monkeypatch, capsys):
    from urllib.parse import urlsplit, urlunsplit

    missing = urlunsplit(urlsplit(pg_url)._replace(path="/driftbot_no_such_state_db"))
    monkeypatch.setenv("DRIFTBOT_STATE_URL", missing)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DRIFTBOT_CONFIG", os.devnull)
    code, out, err = run(capsys, "check-ready")
    assert code == 1 and 'state database: database "driftbot_no_such_state_db" does not exist' in out + err
    assert "does not answer" not in out + err
    code, _, err = run(capsys, "worker")
    assert code == 2 and "driftbot_no_such_state_db" in err and "does not exist" in err and "does not answer" not in err
