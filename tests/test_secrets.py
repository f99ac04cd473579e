"""Secrets by value (issue #14, case 4): every configured secret is masked wherever its text appears.

A password with an unencoded ``%`` is echoed by libpq (``invalid percent-encoded token:
"50%off-Secr3t"``); one with ``@`` in pieces (``failed to resolve host 'ss@w0rd-x@...'``). Each
awkward password below goes through each sink's one choke point: error texts (the driver's, converted
at the edge), log records (bot/logs.py), Slack payloads and uploaded files (the Web API client,
against the stand-in), and audit rows (``audit.record``, on a real state database).
"""

from __future__ import annotations

import json
from urllib.parse import unquote

import psycopg
import pytest
from sqlalchemy import text

from driftbot import audit
from driftbot.engine.check import run_check
from driftbot.errors import ConfigError
from driftbot.settings import load_settings
from driftbot.slack import notify
from driftbot.slack.client import make_client
from driftbot.state.db import make_engine, sessions, upgrade
from tests.slack_stub import SlackStub
from tests.support import captured_log

PASSWORDS = {
    "percent": "50%off-Secr3t",
    "space": "my pass w0rd",
    "at": "p@ss@w0rd-x",
    "quotes": "q\"uo'te-pw",
    "non-ascii": "pässwörd-€x",
}
TOKEN = "xoxb-secret-test-token-42"
SIGNING = "5f0c0ffee5f0c0ffee5f0c0ffee5f0c0"
GITHUB = "ghp_S3cr3tGitHubT0kenForTests0001"
AUDIT_KEY = "a1" * 32
IDS = list(PASSWORDS)


def forms(secret: str) -> set[str]:
    """How a secret may show up in a payload: as itself, decoded, JSON-escaped."""
    out = {secret, unquote(secret), json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    return {f for f in out if len(f) >= 4}


def assert_clean(blob: str, *secrets: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in blob, f"{form!r} leaked in {blob[:300]!r}"


@pytest.fixture
def configured(monkeypatch, tmp_path, project_dir):
    """Settings from the environment, as the processes get them: the password in the check URL, a
    ``password=`` parameter in the admin URL, Slack tokens, GITHUB_TOKEN and the audit key."""
    def make(password: str, port: int = 5432):
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("DRIFTBOT_CONFIG", raising=False)
        monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL",
                           f"postgresql://driftbot_ro:{password}@127.0.0.1:{port}/app")
        monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__ADMIN_URL",
                           f"postgresql://driftbot_admin@127.0.0.1:{port}/app?sslmode=disable&password={password}")
        monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__MIGRATIONS", str(project_dir))
        monkeypatch.setenv("DRIFTBOT_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING)
        monkeypatch.setenv("GITHUB_TOKEN", GITHUB)
        monkeypatch.setenv("DRIFTBOT_AUDIT_KEY", AUDIT_KEY)
        return load_settings()
    return make


@pytest.fixture
def project_dir(tmp_path):
    from tests import factory

    return factory.write_migrations(tmp_path / "migrations", {"20250101000000_init": factory.INIT})


def driver_error(url: str) -> str:
    """What libpq says about *url*, as a traceback would carry it."""
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.Error as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("kind", IDS)
def test_the_check_error_never_carries_the_password(configured, kind):
    password = PASSWORDS[kind]
    settings = configured(password)
    result = run_check(settings, settings.environment("prod"))
    assert result.state == "error"
    stored = json.dumps(result.to_json(), ensure_ascii=False)  # what the checks table and --json get
    assert_clean(result.error + stored, password)
    assert "prod" in result.error


@pytest.mark.parametrize("kind", IDS)
def test_log_records_mask_every_secret(configured, kind):
    password = PASSWORDS[kind]
    settings = configured(password)
    with captured_log("driftbot.test.secrets") as (logger, stream):
        echoed = driver_error(settings.environment("prod").database_url)
        logger.warning("check of %s failed: %s", "prod", echoed)
        logger.info("tokens %s %s %s key %s", TOKEN, SIGNING, GITHUB, AUDIT_KEY)
        logger.info(f"plain text with {password} in it and {json.dumps(password)}")
        try:
            raise RuntimeError(f"while connecting with {password!r}: {echoed}")
        except RuntimeError:
            logger.exception("the check crashed")
    out = stream.getvalue()
    assert "Traceback" in out and "***" in out
    assert_clean(out, password, TOKEN, SIGNING, GITHUB, AUDIT_KEY)


@pytest.fixture
def stub():
    s = SlackStub(token=TOKEN).start()
    yield s
    s.stop()
    s.assert_clean()


@pytest.mark.parametrize("kind", IDS)
def test_slack_payloads_and_uploads_mask_every_secret(configured, stub, monkeypatch, kind):
    password = PASSWORDS[kind]
    monkeypatch.setenv("DRIFTBOT_SLACK_API_URL", stub.base_url)
    settings = configured(password)
    client = make_client(settings)
    echoed = driver_error(settings.environment("prod").database_url) or f"could not connect using {password}"
    secrets = f"{password} / {TOKEN} / {SIGNING} / {GITHUB} / {AUDIT_KEY}"
    block = {"type": "section", "text": {"type": "mrkdwn", "text": f"*prod* {echoed} {secrets}"}}
    ts = notify.post(client, "C0DBOPS", f"Check failed: {echoed}", [block])
    notify.update(client, "C0DBOPS", ts, f"Still failing: {secrets}", [block])
    notify.post(client, "C0DBOPS", f"in the thread: {secrets}", thread_ts=ts)
    notify.ephemeral(client, "C0DBOPS", "UANA", f"No request was created: {echoed} {secrets}")
    notify.snippet(client, "C0DBOPS", ts, "errors.txt", f"{echoed}\n{secrets}\n", f"Errors with {password}",
                   comment=f"see {password}")
    sent = [c for c in stub.calls if c.method != "auth.test"]
    assert {c.method for c in sent} >= {"chat.postMessage", "chat.update", "chat.postEphemeral",
                                         "files.getUploadURLExternal", "files.completeUploadExternal"}
    assert all(c.status == 200 for c in sent)  # still authenticated: the token is masked in content only
    payloads = json.dumps([c.params for c in sent], ensure_ascii=False)
    uploads = json.dumps(list(stub.files.values()), ensure_ascii=False)
    assert_clean(payloads + uploads, password, TOKEN, SIGNING, GITHUB, AUDIT_KEY)
    (upload,) = stub.files.values()
    assert upload["content"].count("***") >= 5 and upload["length"] == len(upload["content"].encode())
    assert stub.posts("C0DBOPS")[0]["text"].startswith("Still failing: ***")


@pytest.mark.parametrize("kind", IDS)
def test_audit_rows_mask_every_secret(configured, db, monkeypatch, kind):
    password = PASSWORDS[kind]
    monkeypatch.setenv("DRIFTBOT_STATE_URL", db)
    settings = configured(password)
    engine = make_engine(db)
    upgrade(engine)
    state = sessions(engine, audit_keys=audit.keyring(settings))
    echoed = driver_error(settings.environment("prod").database_url) or f"could not connect using {password}"
    with state.begin() as s:
        audit.record(s, event="check_finished", environment="prod",
                     data={"state": "error", "error": echoed, "nested": [{"why": f"pw {password}"}],
                           password: "as a key", "tokens": [TOKEN, SIGNING, GITHUB, AUDIT_KEY]})
        audit.record(s, event="approved", actor=f"U1 {password}", environment="prod")
    with state() as s:
        rows = s.execute(text("SELECT actor, data::text AS data, hash FROM audit_events")).all()
        report = audit.verify(s)
    engine.dispose()
    assert_clean(json.dumps([list(r) for r in rows], ensure_ascii=False), password, TOKEN, SIGNING, GITHUB, AUDIT_KEY)
    assert report.ok and report.key_ids  # masked before hashing: the chain holds what was stored


@pytest.mark.parametrize("url", [
    "postgresql://driftbot_ro@db.internal:5432/app?password=hunter22",
    "postgresql://driftbot_ro@db.internal:5432/app?sslmode=require&password=hunter22",
    "postgresql://driftbot_ro@db.internal:5432/app?sslpassword=hunter22",
])
def test_a_password_parameter_in_the_file_is_refused(tmp_path, monkeypatch, url):
    monkeypatch.delenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", raising=False)
    path = tmp_path / "driftbot.toml"
    path.write_text(f'[environments.prod]\ndatabase_url = "{url}"\nmigrations = "prisma/migrations"\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(str(path))
    message = str(exc.value)
    assert "environments.prod.database_url" in message and "password" in message
    assert "DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL" in message and "hunter22" not in message
    assert len(message.splitlines()) == 1


def test_an_at_sign_in_a_password_parameter_does_not_make_the_host_a_secret():
    from driftbot.errors import redact, register_url

    register_url("postgresql://driftbot_admin@db7.internal:6543/orders?sslmode=disable&password=x@y@z-secret")
    assert redact("connecting to db7.internal:6543/orders as driftbot_admin") == \
        "connecting to db7.internal:6543/orders as driftbot_admin"
    assert redact("password x@y@z-secret and its piece y@z-secret") == "password *** and its piece ***"
