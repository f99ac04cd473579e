"""The documentation: the site builds with strict link checking, the configuration reference is
generated from the settings model and complete, and the README stays short and true to CI."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def gen_settings():
    spec = importlib.util.spec_from_file_location("gen_settings", ROOT / "docs" / "gen_settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(docs_root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site),
                           "--config-file", str(docs_root / "mkdocs.yml")],
                          cwd=docs_root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def test_the_site_builds_with_strict_link_checking(tmp_path):
    run = build(ROOT, tmp_path / "site")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "site" / "settings" / "index.html").exists()
    assert (tmp_path / "site" / "roles" / "index.html").exists()


@pytest.mark.slow  # two more builds of the site: the strict build above is the everyday check
def test_a_broken_link_or_anchor_fails_the_build(tmp_path):
    """The strict build is what catches them: shown on a copy of the docs."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    page = copy / "docs" / "operating.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    run = build(copy, tmp_path / "site1")
    assert run.returncode != 0 and "no-such-page.md" in run.stderr
    page.write_text(page.read_text().replace("[the missing page](no-such-page.md)", "[a missing anchor](#no-such-anchor)"))
    run = build(copy, tmp_path / "site2")
    assert run.returncode != 0 and "no-such-anchor" in run.stderr


def test_every_setting_has_its_description():
    missing = gen_settings().missing_descriptions()
    assert not missing, f"settings without a description (Field(description=...)) in bot/settings.py: {missing}"


def test_the_configuration_reference_is_generated_from_the_settings_model_and_current():
    gen = gen_settings()
    page = (ROOT / "docs" / "settings.md").read_text()
    assert page == gen.render(), "docs/settings.md is stale: run python3 docs/gen_settings.py"
    from driftbot.settings import DigestSettings, EnvironmentSettings, Settings

    for model in (Settings, EnvironmentSettings, DigestSettings):
        for name, field in model.model_fields.items():
            if name in ("environments", "digest", "name"):
                continue
            assert f"| `{field.alias or name}` |" in page, name
    for variable in ("DRIFTBOT_ENVIRONMENTS__<ENV>__DATABASE_URL", "SLACK_BOT_TOKEN", "DRIFTBOT_AUDIT_KEY",
                     "DRIFTBOT_QUEUE_PREFIX", "DRIFTBOT_DIGEST__TIMEZONE"):
        assert f"`{variable}`" in page


def test_a_setting_without_description_is_caught(monkeypatch):
    from driftbot.settings import Settings

    gen = gen_settings()
    field = Settings.model_fields["heartbeat_s"]
    monkeypatch.setattr(field, "description", None)
    assert gen.missing_descriptions() == ["heartbeat_s"]


def test_the_readme_is_short_and_its_test_command_is_the_one_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^    (python3 -m venv .*)$", readme, re.M)
    assert len(commands) == 2, commands
    demo, tests = commands
    assert "driftbot demo" in demo
    assert tests in ci, "the README's test command is not the one .ci/run runs"
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme):
        assert (ROOT / image).is_file(), f"the README shows {image}, which is not a file"


def test_the_configurations_the_docs_show_are_accepted(tmp_path, monkeypatch):
    """Every driftbot.toml block of the README and the docs loads (URLs with passwords come from the
    environment, as the pages say)."""
    from driftbot.settings import load_settings

    for name in list(os.environ):
        if name.startswith("DRIFTBOT_"):
            monkeypatch.delenv(name)
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    blocks = [(page, block) for page in pages
              for block in re.findall(r"```toml\n(.*?)```", page.read_text(), re.S)
              if "[environments." in block]
    assert len(blocks) >= 3
    for n, (page, block) in enumerate(blocks):
        config = tmp_path / f"{n}.toml"
        config.write_text(block)
        if "[environments.prod]" in block:  # a page showing part of it: the URL is in the environment
            monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", "postgresql://driftbot_ro:pw@db.internal/app")
        else:
            monkeypatch.delenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", raising=False)
        assert load_settings(str(config)).environments, page.name
