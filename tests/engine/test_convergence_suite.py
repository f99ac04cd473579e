"""The convergence property over every scenario the conformance suite builds.

The scenarios are not copied here: each test of tests/conformance that builds a ``Scenario`` is
found by name and run itself, up to its first question. Its ``Scenario`` is one whose Prisma
commands that build the database (``migrate deploy``, ``migrate resolve``) are done by the
engine, as the conformance suite shows they match the real CLI (replay.deploy row for row,
test_resolve_vs_prisma.py), and whose first question (Prisma's status, dev, diff or pull;
driftbot's verdict, check or status; the rows) stops the test: the database and the project
folder are then the scenario, as built. Each is checked, the plan carried out as a team would
(tests/engine/converge.py) and checked again: in sync, no step refused, none undoing another; or
stopped where a person is needed, saying why. A new conformance test is walked with no change here.

No real Prisma CLI runs: this is an engine test, on the conformance suite's own project folders.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from driftbot.engine import writers
from driftbot.errors import DriftbotError
from tests.conformance.conftest import PRISMA_VERSIONS
from tests.conformance.prisma7_cli import Installed
from tests.conformance.prisma_cli import Run
from tests.conformance.scenario import Scenario
from tests.engine.converge import Refused, Team, _deploy, carry_out
from tests.engine.generated.conftest import assert_invariant

# Every conformance scenario rebuilt, checked and converged: about a minute alone.
pytestmark = pytest.mark.slow

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"
BUILDERS = {"scenario", "make_scenario"}
# Why a plan may stop for a person: a failed migration to fix, a data check (duplicate rows too), a
# migration file that does not build a database (to fix in the file, or an extension the server
# lacks), a deploy the plan says would fail, a history row to repair by hand.
PEOPLE = ("failed migration", "data check", "needs a person: migration", "needs a person: Migration", "deploy would fail",
          "history repair by hand")
TALLY: Counter = Counter()
STOPS: dict[str, str] = {}


class Asked(BaseException):
    """The test asked its first question: its scenario is built. (A BaseException: no test's own
    ``except`` or ``pytest.raises`` catches it.)"""


class EngineCommands:
    """A conformance project whose building commands the engine carries out; any other command asks."""

    def __init__(self, project, scenario: "BuiltScenario") -> None:
        self._project, self._scenario = project, scenario

    def __getattr__(self, name):
        return getattr(self._project, name)

    def _ran(self, args: tuple[str, ...], code: int, said: str) -> Run:
        return Run(args, code, said + "\n", "")

    def deploy(self) -> Run:
        try:
            _deploy(self._scenario.team(None))
        except Refused as exc:
            return self._ran(("migrate", "deploy"), 1, str(exc))
        self._scenario.remember_applied()
        return self._ran(("migrate", "deploy"), 0, "All migrations have been successfully applied.")

    def resolve(self, flag: str, name: str) -> Run:
        try:
            if flag == "--applied":
                writers.resolve_applied(self._scenario.url, self._scenario.migrations, name)
            else:
                writers.resolve_rolled_back(self._scenario.url, name)
        except DriftbotError as exc:
            return self._ran(("migrate", "resolve", flag, name), 1, str(exc))
        self._scenario.remember_applied()
        return self._ran(("migrate", "resolve", flag, name), 0, f"Migration {name} marked as {flag[2:]}.")

    def remove(self, name: str) -> None:
        if name in self._scenario.applied_files:  # deployed, then gone from this branch: another branch holds it
            self._scenario.branches[name] = self._scenario.applied_files[name]
        self._project.remove(name)

    def _ask(self, *args, **kwargs):
        raise Asked()

    status = dev_create_only = pull = diff_migrations_to_models = run = _ask


class BuiltScenario(Scenario):
    """A conformance ``Scenario`` built by the engine, stopping at its first question."""

    def __init__(self, install: Installed, url: str, tmp: Path, server_url: str, scratch, **kwargs) -> None:
        super().__init__(install, url, tmp, server_url, **kwargs)
        self.prisma = EngineCommands(self.prisma, self)
        self.scratch = scratch
        self.applied_files: dict[str, bytes] = {}  # the team's git: each migration as it was applied
        self.branches: dict[str, str] = {}

    def remember_applied(self) -> None:
        with psycopg.connect(self.url) as conn:
            names = {r[0] for r in conn.execute('SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL')}
        for m in self.migrations.items:
            if m.name in names:
                self.applied_files.setdefault(m.name, (self.prisma.migrations / m.name / "migration.sql").read_bytes())

    def team(self, _) -> Team:
        originals = {n: b for n, b in self.applied_files.items() if (self.prisma.migrations / n).exists()}
        return Team(self.settings(), self.ENV, self.url, self.prisma.migrations, scratch=self.scratch,
                    originals=originals, branches=self.branches)

    def _ask(self, *args, **kwargs):
        raise Asked()

    status = verdict = check = cli_status = rows = _ask


def _fixture_function(module, name: str):
    fixture = getattr(module, name, None)
    return getattr(fixture, "__wrapped__", None) if type(fixture).__name__ == "FixtureFunctionDefinition" else None


def _needs(module, fn) -> set[str]:
    """Every fixture *fn* needs, through the module's own fixtures."""
    out = set()
    for p in inspect.signature(fn).parameters:
        out.add(p)
        inner = _fixture_function(module, p)
        if inner is not None:
            out |= _needs(module, inner)
    return out


def suite_tests():
    for path in sorted(CONFORMANCE.glob("test_*.py")):
        module = importlib.import_module(f"tests.conformance.{path.stem}")
        for name, fn in vars(module).items():
            if name.startswith("test_") and inspect.isfunction(fn) and BUILDERS & _needs(module, fn):
                yield pytest.param(module, fn, id=f"{path.stem}::{name}")


SUITE = list(suite_tests())


def _call(module, fn, given: dict):
    kwargs = {}
    for p in inspect.signature(fn).parameters:
        if p not in given:
            inner = _fixture_function(module, p)
            value = _call(module, inner, given)
            given[p] = next(value) if inspect.isgenerator(value) else value
        kwargs[p] = given[p]
    return fn(**kwargs)


@pytest.fixture(scope="module")
def tally():
    yield TALLY
    print(f"\nconvergence over the conformance suite's scenarios ({sum(TALLY.values())} databases "
          f"of {len(SUITE)} tests): {dict(TALLY)}")
    for test, why in sorted(STOPS.items()):
        print(f"  stopped for a person: {test}: {why[:160]}")


def test_every_conformance_test_that_builds_a_database_is_walked():
    names = {p.id for p in SUITE}
    assert len(names) >= 35 and "test_history_vs_prisma::test_pending" in names
    # the one conformance test without a Scenario drives the real CLI on a fixture project
    assert "test_project_vs_prisma::test_prisma7_config_project_read_as_prisma_reads_it" not in names


@pytest.mark.parametrize("module,fn", SUITE)
def test_the_suite_scenario_s_plan_converges(module, fn, databases, pg_url, tmp_path, tally):
    # The suite builds each scenario on Prisma 6 and 7 alike (only Prisma's own words differ): walked once,
    # in a Prisma 6 project folder.
    version = PRISMA_VERSIONS[0]
    install = Installed(version, tmp_path / "no-prisma-cli")
    (install.root / "node_modules").mkdir(parents=True)
    (install.root / ".installed").write_text(version)
    built: list[BuiltScenario] = []
    counter = itertools.count()

    def make_scenario(**kwargs) -> BuiltScenario:
        s = BuiltScenario(install, databases.create("suite"), tmp_path / f"s{next(counter)}", pg_url,
                          databases.create, **kwargs)
        built.append(s)
        return s

    given = {"make_scenario": make_scenario, "prisma_install": install, "databases": databases,
             "pg_url": pg_url, "tmp_path": tmp_path}
    if "scenario" in _needs(module, fn):
        given["scenario"] = make_scenario()
    try:
        _call(module, fn, given)
    except Asked:  # built; a test that asks nothing (it only builds and writes) is built at its end
        pass
    assert built
    for s in built:
        team = s.team(None)
        before = team.check()
        assert before.state != "error", before.error
        assert_invariant(before)
        if before.state == "in_sync":
            tally["in sync from the start"] += 1
            continue
        plan = "\nplan:\n  " + "\n  ".join(f"[{f.case}] {f.title} ({f.action.kind}): {f.detail[:300]}" for f in before.findings)
        try:
            outcome = carry_out(team, before)
        except AssertionError as exc:
            raise AssertionError(f"{exc}{plan}") from None
        if outcome.human is not None:
            assert outcome.human.startswith(PEOPLE), f"{outcome.human}\n{outcome.explain()}"
            tally["stopped: " + outcome.human.split(":")[0]] += 1
            STOPS[f"{module.__name__.rsplit('.', 1)[1]}::{fn.__name__}"] = outcome.human
            continue
        assert_invariant(outcome.after)
        assert outcome.converged, outcome.explain() + plan
        tally["converged"] += 1
