"""Settings: driftbot.toml + environment, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftbot.errors import ConfigError, UnknownEnvironment
from driftbot.settings import load_settings

GOOD = """
approvers = ["U0AAA", "S0DBAS"]

[environments.prod]
database_url = "postgresql://driftbot_ro@db.internal:5432/app"
admin_url    = "postgresql://driftbot_admin@db.internal:5432/app"
migrations   = "prisma/migrations"
schema       = "prisma/schema.prisma"
channel      = "C0123DBOPS"

[environments.staging]
database_url = "postgresql://ro@staging:5432/app"
git = "https://example.com/app.git"
ref = "release"
protected = false
approvals_required = 1
approvers = ["U0BBB"]
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith(("DRIFTBOT_", "SLACK_")) or key in ("REDIS_URL", "PORT", "GITHUB_TOKEN"):
            monkeypatch.delenv(key)


def write(tmp_path, text):
    path = tmp_path / "driftbot.toml"
    path.write_text(text)
    return str(path)


def test_file_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", "postgresql://ro:s3cret@db:5432/app")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    s = load_settings(write(tmp_path, GOOD))
    prod, staging = s.environment("prod"), s.environment("staging")
    assert prod.database_url.endswith("s3cret@db:5432/app")  # the environment wins over the file
    assert prod.admin_url.startswith("postgresql://driftbot_admin")  # the file fills the rest
    assert prod.protected and prod.approvals_required == 2
    assert prod.schema_path == str(tmp_path / "prisma" / "schema.prisma")  # relative to the file's folder
    assert staging.git and staging.ref == "release" and not staging.protected
    assert s.approvers_for(prod) == ["U0AAA", "S0DBAS"] and s.approvers_for(staging) == ["U0BBB"]
    assert s.slack_bot_token.get_secret_value() == "xoxb-1" and s.redis_url.startswith("redis://")
    assert "s3cret" not in repr(s) and "s3cret" not in repr(prod)


def test_environment_only(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__DEV__DATABASE_URL", "postgresql://localhost/dev")
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__DEV__MIGRATIONS", "m")
    assert load_settings().environment("dev").migrations == "m"


def test_password_in_file_is_refused(tmp_path):
    text = GOOD.replace("driftbot_ro@", "driftbot_ro:hunter2@")
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    assert "password" in str(err.value) and "hunter2" not in str(err.value)
    assert "DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL" in str(err.value)


def test_token_in_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="secret"):
        load_settings(write(tmp_path, GOOD + '\nslack_bot_token = "xoxb-1"\n'))


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[environments.prod]\nmigrations = 'm'\n", "environments.prod.database_url` is missing"),
        ("[environments.prod]\ndatabase_url = 'mysql://x/y'\nmigrations='m'\n", "postgresql://"),
        ("[environments.prod]\ndatabase_url = 'postgresql://x/y'\n", "migrations"),
        ("[environments.Prod]\ndatabase_url = 'postgresql://x/y'\nmigrations='m'\n", "lowercase"),
        ("[environments.prod]\ndatabase_url = 'postgresql://x/y'\nmigrations='m'\ncolour='red'\n", "not a known setting"),
        ("approvers = ['bob']\n", "Slack user ID"),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_setting(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_explicit_config_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(str(tmp_path / "missing.toml"))


def test_unknown_environment_names_the_known_ones(tmp_path):
    s = load_settings(write(tmp_path, GOOD))
    with pytest.raises(UnknownEnvironment) as err:
        s.environment("prdo")
    assert str(err.value) == "Unknown environment `prdo`. Known: prod, staging. Try `status prod`."


PULLS = """
[environments.prod]
database_url = "postgresql://ro@db:5432/app"
git = "https://github.com/acme/app.git"
pull_requests = "github"
"""


def test_pull_requests_token_and_api_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "github_pat_secret")
    monkeypatch.setenv("DRIFTBOT_GITHUB_API_URL", "https://ghe.internal/api/v3")
    s = load_settings(write(tmp_path, PULLS + 'github_repo = "acme/app"\n'))
    prod = s.environment("prod")
    assert prod.pull_requests == "github" and prod.github_repo == "acme/app"
    assert s.github_token.get_secret_value() == "github_pat_secret" and s.github_api_url == "https://ghe.internal/api/v3"
    assert "github_pat_secret" not in repr(s) and "github_pat_secret" not in str(s.public_view())
    monkeypatch.delenv("DRIFTBOT_GITHUB_API_URL")
    assert load_settings(write(tmp_path, GOOD)).github_api_url == "https://api.github.com"  # GitHub's public API


@pytest.mark.parametrize("text, needle", [
    (PULLS + 'github_token = "ghp_x"\n', "is a secret"),
    (PULLS.replace('git = "https://github.com/acme/app.git"', 'migrations = "m"'), "pull_requests needs a git migrations source"),
    (PULLS.replace('"github"', '"gitlab"'), "pull_requests"),
    (PULLS + 'github_repo = "not a repo"\n', "github_repo"),
])
def test_bad_pull_request_settings_are_one_line(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_compare_pairs_name_configured_environments(tmp_path):
    s = load_settings(write(tmp_path, 'compare = [["staging", "prod"]]\n' + GOOD))
    assert s.compare == [("staging", "prod")]
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, 'compare = [["staging", "prd"]]\n' + GOOD))
    assert "'prd', which is not a configured environment" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="compare"):
        load_settings(write(tmp_path, 'compare = [["staging", "prod", "qa"]]\n' + GOOD))


def test_enterprise_grid_user_ids_are_approvers(tmp_path):
    s = load_settings(write(tmp_path, GOOD.replace('approvers = ["U0AAA", "S0DBAS"]', 'approvers = ["W0GRID1", "U0AAA", "S0DBAS"]')))
    assert s.approvers == ["W0GRID1", "U0AAA", "S0DBAS"]
    with pytest.raises(ConfigError, match=r"\(U\.\.\. or W\.\.\.\)"):
        load_settings(write(tmp_path, 'approvers = ["X0NOPE"]\n'))


def test_relative_paths_in_the_file_are_relative_to_its_folder_wherever_driftbot_runs(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "driftbot.toml"
    path.write_text('cache_dir = "cache"\n' + GOOD.replace('migrations   = "prisma/migrations"',
                                                          'migrations   = "../app/prisma/migrations"'))
    s = load_settings(str(path))
    prod = s.environment("prod")
    assert Path(prod.migrations) == tmp_path / "conf" / ".." / "app" / "prisma" / "migrations"
    assert Path(prod.schema_path) == tmp_path / "conf" / "prisma" / "schema.prisma"
    assert s.cache_dir == tmp_path / "conf" / "cache"
    # The environment's values are the process's: relative to the current folder.
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__MIGRATIONS", "m")
    assert load_settings(str(path)).environment("prod").migrations == "m"
