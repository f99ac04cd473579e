"""Shared fixtures: real PostgreSQL and Redis; the test tiers.

The servers named by ``DRIFTBOT_TEST_PG_URL`` (a superuser URL) and
``DRIFTBOT_TEST_REDIS_URL`` are used when given; otherwise embedded ones start.
Each test that asks for ``db`` gets its own fresh database, dropped afterwards; ``state``
is one with driftbot's state schema on it, copied from a template migrated once per session.

Tiers: ``pytest -m "not slow and not conformance"`` is the everyday run. ``conformance`` marks the
tests that run the real Prisma CLIs; ``slow`` those that start long-running processes or servers,
replay hundreds of migrations or take more than a few seconds alone. A test using one of
``SLOW_FIXTURES``, or listed in tests/slow.txt (measured), is marked ``slow`` here, so a new test
using those fixtures joins its tier by itself.
The whole suite runs in parallel (pytest-xdist, ``-n``): nothing here is shared between test
processes but the servers, and every name created on them is unique to its test.
"""

from __future__ import annotations

import os
import queue
import signal
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from driftbot.embedded import postgres_server, valkey_server
from driftbot.engine import replay
from driftbot.engine.sources import read_folder
from driftbot.state.db import make_engine, sessions, upgrade
from tests import factory
from tests.slack_stub import SlackStub
from tests.support import SlackStandIn, child_pids

ROOT = Path(__file__).resolve().parent.parent

FAILING = 'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");\n'
MIGRATIONS = {
    "20250101000000_init": factory.INIT,
    "20250102000000_media": factory.ENUM,
    "20250103000000_email_unique": FAILING,
}


# Fixtures that start processes or servers (the Slack flows' web and worker, a wheel build and its
# virtual environments, a private embedded PostgreSQL): the tests using them are `slow`.
SLOW_FIXTURES = {"bot_env", "pulls_bot", "wheel", "scram_server"}


def pytest_configure(config):
    # With -n (pytest-xdist), each file's tests run in one worker, in their order ("loadfile"), files
    # in parallel: some files count what is on the whole server (the replay templates') or share a
    # module's database. Unless another distribution was asked for.
    if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "dist", None) == "load":
        config.option.dist = "loadfile"
    if getattr(config.option, "dist", None) == "loadfile":  # in the workers too, which collect
        config.option.loadscopereorder = False  # the files go out in the order of FILE_ORDER, below
        config.pluginmanager.register(LongestFirst(), "driftbot-longest-first")


# The order in which the workers take the long test files (tests/durations.txt says why and how it was
# measured): longest first, so that no long file is taken last and keeps one worker busy alone at the end.
FILE_ORDER = {line.split()[1]: n for n, line in enumerate(
    line for line in (Path(__file__).parent / "durations.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#"))}


class LongestFirst:
    """The collected tests ordered by their file's place in ``FILE_ORDER`` (a stable sort: each file keeps
    its own order; files not listed follow, in collection order): the order in which loadfile hands out
    the files."""

    @pytest.hookimpl(trylast=True)  # after -m and after pytest's own reordering by parametrized fixtures
    def pytest_collection_modifyitems(self, items):
        items.sort(key=lambda item: FILE_ORDER.get(item.nodeid.split("::", 1)[0], len(FILE_ORDER)))


# Tests measured slow in an everyday run (tests/slow.txt says when and how).
SLOW_TESTS = {line.strip() for line in (Path(__file__).parent / "slow.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())) or item.nodeid in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@pytest.fixture(autouse=True)
def _signal_handlers_put_back():
    """A command run inside this process (``main([...])``, the demo's worker) may install its own
    signal handlers (driftbot.embedded: SIGTERM and SIGHUP raise); they are put back after the test, so
    pytest's own keep working and no test inherits another's."""
    saved = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    yield
    for sig, handler in saved.items():
        if handler is not None and signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)


class ZombieWarning(UserWarning):
    """A test left a child process that exited and was never waited for."""


def _zombie_children() -> set[int]:
    zombies = set()
    for pid in child_pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            zombies.add(pid)
    return zombies


@pytest.fixture(autouse=True)
def _no_zombies_left():
    """Warn (by test) about children a test leaves unwaited: they pile up over a full run."""
    if not Path("/proc/self/task").exists():
        yield
        return
    before = _zombie_children()
    yield
    left = _zombie_children() - before
    if left:
        warnings.warn(ZombieWarning(f"{len(left)} exited child process(es) never waited for"), stacklevel=1)


def _with_db(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


@pytest.fixture(scope="session")
def pg_url():
    """A superuser URL of a PostgreSQL server (from the environment, else embedded)."""
    yield from _with_test_databases_dropped(_given_or_embedded("DRIFTBOT_TEST_PG_URL", postgres_server, "pg"))


def _given_or_embedded(variable: str, server_of, name: str):
    """The URL in the environment variable *variable* when set, else that of the embedded server
    ``server_of(EMBEDDED / name)`` for the test session."""
    url = os.environ.get(variable)
    if url:
        yield url
        return
    yield from _embedded(server_of, name)


def _embedded(server_of, name: str):
    """This installation's embedded server for the test session; it stops when the session ends
    (bot/embedded.py: reused only while another session of this installation holds it)."""
    server = server_of(EMBEDDED / name)
    yield server.url
    server.release()


def _with_test_databases_dropped(servers):
    """*servers* (a generator yielding one PostgreSQL URL), whose test databases and state templates
    are dropped before it is released (an embedded server is stopped then)."""
    url = next(servers)
    yield url
    _DROPPER.wait()
    Databases.drop_state_templates(url)
    next(servers, None)


# Per installation and version below this folder (bot/embedded.py), so the suites of several
# checkouts on one machine never share a server.
EMBEDDED = Path(tempfile.gettempdir()) / "driftbot-tests"


@pytest.fixture(scope="session")
def other_pg_url(pg_url):
    """A superuser URL of a SECOND PostgreSQL server, for shadow-on-another-server tests.

    With ``DRIFTBOT_TEST_PG_URL`` given (CI: the machine's PostgreSQL) it is the embedded
    server, which runs another major version. Without it ``pg_url`` is already embedded,
    so this is a second embedded data folder: another server, but the same major version
    (tests that need two majors check ``server_major`` and skip, saying so).
    """
    yield from _with_test_databases_dropped(
        _embedded(postgres_server, "pg-other" if os.environ.get("DRIFTBOT_TEST_PG_URL") else "pg-second"))


def available_extensions(url: str) -> set[str]:
    """Extensions the server at *url* can install (the embedded wheel lacks pgcrypto and uuid-ossp)."""
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM pg_catalog.pg_available_extensions")}


def server_major(url: str) -> int:
    """The major version of the PostgreSQL server at *url* (15 for 15.20)."""
    with psycopg.connect(url) as conn:
        return conn.info.server_version // 10000


@pytest.fixture(scope="session")
def redis_url():
    """A Redis URL (from the environment, else an embedded Valkey)."""
    yield from _given_or_embedded("DRIFTBOT_TEST_REDIS_URL", valkey_server, "valkey")


class Databases:
    """Creates throw-away databases on the test server and drops them at the end."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.created: list[str] = []

    # Per server: this test process's state database at the current Alembic revision, the template of
    # every ``create_state`` (a copy takes a tenth of the upgrade); dropped when the session ends.
    state_templates: dict[str, str] = {}

    def create(self, prefix: str = "t", template: str | None = None) -> str:
        name = f"drifttest_{prefix}_{uuid.uuid4().hex[:10]}"
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(create)
        self.created.append(name)
        return _with_db(self.server_url, name)

    def create_state(self, prefix: str = "state") -> str:
        """A new state database at the current Alembic revision: a copy of the session's template.
        (Tests of the revisions themselves upgrade a database of ``create`` instead.)"""
        return self.create(prefix, template=self._state_template())

    def _state_template(self) -> str:
        name = self.state_templates.get(self.server_url)
        if name is None:
            name = f"drifttest_statetpl_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(self.server_url, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            engine = make_engine(_with_db(self.server_url, name))
            try:
                upgrade(engine)
            finally:
                engine.dispose()  # a template is copied only while no one is connected to it
            self.state_templates[self.server_url] = name
        return name

    @classmethod
    def drop_state_templates(cls, server_url: str | None = None) -> None:
        """Drop the state templates (of the server at *server_url* only, when given)."""
        for url in [u for u in cls.state_templates if server_url in (None, u)]:
            name = cls.state_templates.pop(url)
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            except psycopg.Error as exc:
                warnings.warn(f"state template {name} not dropped: {exc}", stacklevel=1)

    def drop_all(self) -> None:
        """Drop the databases created here, now."""
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.created.clear()

    def drop_later(self) -> None:
        """Hand the databases created here to the dropper: a test's teardown does not wait for them."""
        for name in self.created:
            _DROPPER.drop(self.server_url, name)
        self.created.clear()


class _Dropper:
    """Drops databases on threads of their own. Each DROP DATABASE makes the server checkpoint (0.5-1 s
    on a busy machine, most of a small test's time); the next test runs meanwhile, and drops made at
    the same time share one checkpoint (hence several threads). ``wait`` at the end."""

    THREADS = 4

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self.failed: list[str] = []

    def drop(self, server_url: str, name: str) -> None:
        if not self._threads:
            self._threads = [threading.Thread(target=self._run, name=f"drop-test-databases-{n}", daemon=True)
                             for n in range(self.THREADS)]
            for thread in self._threads:
                thread.start()
        self._queue.put((server_url, name))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            server_url, name = item
            try:
                with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            except psycopg.Error as exc:
                self.failed.append(f"{name}: {exc}")

    def wait(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []


_DROPPER = _Dropper()


def pytest_sessionfinish(session, exitstatus):
    _DROPPER.wait()
    Databases.drop_state_templates()
    if _DROPPER.failed:
        warnings.warn(f"test databases not dropped: {'; '.join(_DROPPER.failed[:5])}", stacklevel=1)


def pytest_terminal_summary(terminalreporter):
    if Path("/proc/self/task").exists() and (left := _zombie_children()):
        terminalreporter.write_line(f"zombies: {len(left)} exited child process(es) of this run never waited for "
                                    "(see the ZombieWarning lines for the tests that left them)")


@pytest.fixture
def databases(pg_url):
    dbs = Databases(pg_url)
    yield dbs
    dbs.drop_later()


@pytest.fixture
def other_databases(other_pg_url):
    """``databases`` on the second server (``other_pg_url``)."""
    dbs = Databases(other_pg_url)
    yield dbs
    dbs.drop_later()


@pytest.fixture
def db(databases) -> str:
    """The URL of a fresh, empty database for this test."""
    return databases.create()


@pytest.fixture
def project(tmp_path, db):
    """A target database whose last migration failed on real rows (case B')."""
    folder = factory.write_migrations(tmp_path / "migrations", MIGRATIONS)
    items = read_folder(folder).items
    with psycopg.connect(db, autocommit=True) as conn:
        replay.deploy(conn, items[:2])
        conn.execute("""INSERT INTO "User" (email) VALUES ('ana@example.com'), ('ana@example.com')""")
        assert replay.deploy(conn, items) is not None  # the unique index fails on the duplicate
    return folder


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def state_url(databases) -> str:
    """The URL of a fresh state database at the current Alembic revision."""
    return databases.create_state()


@pytest.fixture
def state(state_url):
    """Sessions on the ``state_url`` database."""
    engine = make_engine(state_url)
    yield sessions(engine)
    engine.dispose()


@pytest.fixture
def slack():
    """The digest and audit tests' Slack Web API stand-in (tests/support.py), closed afterwards."""
    standin = SlackStandIn()
    yield standin
    standin.close()
    standin.stub.assert_clean()


@pytest.fixture
def stub():
    """The Slack Web API stand-in of the request tests (tests/slack_stub.py), accepting ``stub.token``;
    stopped afterwards. tests/slack has its own, with user groups."""
    s = SlackStub().start()
    yield s
    s.stop()
    s.assert_clean()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """driftbot built as a wheel, as `pip install .` or an index would give it."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    return next(out.glob("driftbot-*.whl"))


@pytest.fixture
def unsubscribe_read_first(monkeypatch):
    """Force the race behind the 60-second stall of a stopping RQ worker: its pub/sub thread reads the
    UNSUBSCRIBE reply before the worker tells it to stop. The thread then waits for a subscription
    again, for as long as its poll lasts (RQ's: 60 s), and the worker's teardown joins it.
    Yields the seconds each worker's teardown took (whatever the load, the check before it aside)."""
    import threading

    from redis.client import PubSubWorkerThread
    from rq.worker.base import BaseWorker

    original_stop, original_teardown = PubSubWorkerThread.stop, BaseWorker.teardown
    teardowns: list[float] = []

    def stop(self, timeout=None):
        if threading.current_thread() is not self:
            deadline = time.monotonic() + 5
            while self.pubsub.subscribed and time.monotonic() < deadline:
                time.sleep(0.01)  # the reply is read by the thread (it clears the subscribed flag)
            time.sleep(0.1)  # and the thread is back in its wait for a subscription
        return original_stop(self, timeout)

    def teardown(self):
        started = time.monotonic()
        try:
            return original_teardown(self)
        finally:
            teardowns.append(time.monotonic() - started)

    monkeypatch.setattr(PubSubWorkerThread, "stop", stop)
    monkeypatch.setattr(BaseWorker, "teardown", teardown)
    yield teardowns

