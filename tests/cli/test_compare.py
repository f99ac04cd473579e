"""`driftbot compare FROM TO [--json]`: exit 0 equal, 1 different, 2 either cannot be read; bad
input one line each (an unknown environment, the same one twice, one unreachable)."""

from __future__ import annotations

import json

import pytest

from driftbot.cli import main
from tests.factory import INIT, POSTS, deploy, execute, write_migrations

M1, M2 = "20250101000000_init", "20250102000000_posts"
TOP = {"from", "to", "state", "headline", "errors", "history", "schema", "duration_ms"}
HISTORY = {"equal", "migrations", "from_managed", "to_managed", "from_applied", "to_applied",
           "applied_only_in_from", "applied_only_in_to", "failed_only_in_from", "failed_only_in_to",
           "rolled_back_only_in_from", "rolled_back_only_in_to", "checksum_differs"}
SCHEMA = {"equal", "changes", "summary", "sql", "explained", "unexplained"}


@pytest.fixture
def pair(tmp_path, databases, configure, pg_url):
    """staging (M1 applied) and prod (M1, M2), each from its own folder, configured in driftbot.toml."""
    old = write_migrations(tmp_path / "old", {M1: INIT})
    new = write_migrations(tmp_path / "new", {M1: INIT, M2: POSTS})
    staging, prod = databases.create("staging"), databases.create("prod")
    assert deploy(staging, old) is None and deploy(prod, new) is None
    configure(f'[environments.staging]\nmigrations = "{old}"\n\n[environments.prod]\nmigrations = "{new}"\n',
              {**{f"DRIFTBOT_ENVIRONMENTS__{env}__DATABASE_URL": url for env, url in (("STAGING", staging), ("PROD", prod))},
               **{f"DRIFTBOT_ENVIRONMENTS__{env}__SHADOW_URL": pg_url for env in ("STAGING", "PROD")}})
    return staging, prod


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_different_exits_1_with_every_json_key(pair, capsys):
    code, out, err = run(capsys, "compare", "staging", "prod", "--json")
    body = json.loads(out)
    assert code == 1 and err == "" and body["state"] == "different"
    assert TOP <= body.keys() and HISTORY <= body["history"].keys() and SCHEMA <= body["schema"].keys()
    assert body["history"]["applied_only_in_to"] == [M2]
    assert body["schema"]["explained"] == {"checked": True, "reason": None, "summary": ["[+] Added tables", "  - Post"]}
    assert body["schema"]["unexplained"] == [] and 'CREATE TABLE "Post"' in body["schema"]["sql"]


def test_text_names_the_gap_what_it_explains_and_whose_drift_the_rest_is(pair, capsys):
    staging, prod = pair
    execute(prod, 'ALTER TABLE "User" ADD COLUMN "nickname" TEXT')
    code, out, _ = run(capsys, "compare", "staging", "prod")
    assert code == 1
    assert out.splitlines()[0] == ("staging and prod differ by 1 migration and 2 schema changes, "
                                   "part explained by the history gap, part drift in prod.")
    assert "  applied in prod only: 20250102000000_posts" in out
    assert "Explained by the history gap (expected before a deploy):\n  [+] Added tables\n    - Post\n" in out
    assert "Drift in prod:\n  [*] Changed the `User` table\n    [+] Added column `nickname`\n" in out
    assert "for review only; driftbot never runs it" in out and 'ALTER TABLE "User" ADD COLUMN' in out


def test_equal_and_the_same_environment_twice_exit_0(pair, tmp_path, capsys):
    staging, _ = pair
    assert deploy(staging, write_migrations(tmp_path / "caught-up", {M1: INIT, M2: POSTS})) is None
    code, out, _ = run(capsys, "compare", "staging", "prod")
    assert (code, out) == (0, "staging and prod are equal: the same migrations applied, the same schema.\n")
    assert run(capsys, "compare", "prod", "prod") == (0, "prod and prod are the same environment: equal.\n", "")


def test_bad_input_is_one_line_each(pair, capsys, monkeypatch):
    code, out, err = run(capsys, "compare", "staging", "prdo")
    assert code == 2 and out == "" and err.count("\n") == 1 and "Unknown environment `prdo`" in err
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, out, _ = run(capsys, "compare", "staging", "prod")
    assert code == 2 and out.count("\n") == 1
    assert out.startswith("Cannot compare staging and prod: prod cannot be read (Cannot connect to the target database")
    code, out, _ = run(capsys, "compare", "staging", "prod", "--json")
    body = json.loads(out)
    assert code == 2 and body["state"] == "error" and body["history"] is None
    assert [e["environment"] for e in body["errors"]] == ["prod"]
    with pytest.raises(SystemExit) as usage:
        main(["compare", "staging"])
    assert usage.value.code == 2 and "TO" in capsys.readouterr().err
