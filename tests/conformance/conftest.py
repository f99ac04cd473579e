"""Fixtures of the conformance suite: one Prisma install per session, fresh scenarios per test.

The installs (npm, minutes when the cache folder is new) start in the background as soon as this
process knows which tests it collected (``pytest_collection_finish``), not when the first
conformance test asks: the tests before it run meanwhile. Under pytest-xdist every worker that
collected conformance tests starts them; each install holds a file lock on its cache folder, so the
second worker waits for the first one's install instead of installing again.
"""

from __future__ import annotations

import itertools
import warnings
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.conformance import prisma7_cli, prisma8_cli
from tests.conformance.prisma_cli import VERSION as PRISMA_6
from tests.conformance.prisma_cli import PrismaUnavailable
from tests.conformance.scenario import Scenario

# Every scenario runs against both majors; the rolled-back boundary adds 7.8.0 and 7.9.1.
PRISMA_VERSIONS = (PRISMA_6, prisma7_cli.LATEST)
# The tests of the Prisma 8 CLI live in their own folder (tests/conformance/prisma8/).
PRISMA_8 = prisma8_cli.VERSION
_installs: dict[str, Future] = {}
_pool = ThreadPoolExecutor(max_workers=5, thread_name_prefix="prisma-install")


def start_installs(versions) -> None:
    """Start the install of each of *versions* not started yet (npm waits on the network more than
    on the CPU: they run at once, about half the time of one after the other)."""
    for version in versions:
        if version not in _installs:
            _installs[version] = (_pool.submit(prisma8_cli.install) if version == PRISMA_8
                                  else _pool.submit(prisma7_cli.install, version))


def pytest_collection_finish(session):
    conformance = [item for item in session.items if item.get_closest_marker("conformance")]
    needed = set()
    if any("prisma8" in item.path.parts for item in conformance):
        needed.add(PRISMA_8)
    if any("prisma8" not in item.path.parts for item in conformance):
        needed.update((*PRISMA_VERSIONS, *prisma7_cli.BOUNDARY))
    start_installs(sorted(needed, key=lambda v: v != PRISMA_8))  # the longest first


def installed(version: str):
    """The real CLI of *version* (``prisma7_cli.Installed``, or ``prisma8_cli.Installed8`` for Prisma 8),
    waited for if its install is under way; or a loud skip saying why it is unavailable."""
    start_installs((version,))
    try:
        return _installs[version].result()
    except PrismaUnavailable as exc:
        reason = f"REAL PRISMA CLI {version} UNAVAILABLE, conformance suite NOT RUN on it: {exc}"
        warnings.warn(reason, stacklevel=1)  # listed in the warnings summary as well as the skips
        pytest.skip(reason)


@pytest.fixture(scope="session", params=PRISMA_VERSIONS)
def prisma_install(request) -> prisma7_cli.Installed:
    return installed(request.param)


@pytest.fixture
def make_scenario(prisma_install, databases, tmp_path, pg_url):
    """Build a scenario on its own new database; call twice for twins judged side by side."""
    counter = itertools.count()

    def make(**kwargs) -> Scenario:
        return Scenario(prisma_install, databases.create("conf"), tmp_path / f"s{next(counter)}", pg_url, **kwargs)

    return make


@pytest.fixture
def scenario(make_scenario) -> Scenario:
    return make_scenario()
