"""Fixtures of the conformance suite: one Prisma install per session, fresh scenarios per test."""

from __future__ import annotations

import itertools
import warnings
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.conformance import prisma7_cli
from tests.conformance.prisma_cli import VERSION as PRISMA_6
from tests.conformance.prisma_cli import PrismaUnavailable
from tests.conformance.scenario import Scenario

# Every scenario runs against both majors; the rolled-back boundary adds 7.8.0 and 7.9.1.
PRISMA_VERSIONS = (PRISMA_6, prisma7_cli.LATEST)
_installs: dict[str, Future] = {}


def installed(version: str) -> prisma7_cli.Installed:
    """The real CLI of *version*, or a loud skip saying why it is unavailable.

    The first call starts every CLI's install at once (npm waits on the network, not on the CPU:
    about half the time of one after the other); each call then waits for its own."""
    if not _installs:
        pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="prisma-install")
        for v in (*PRISMA_VERSIONS, *prisma7_cli.BOUNDARY):
            _installs[v] = pool.submit(prisma7_cli.install, v)
        pool.shutdown(wait=False)
    try:
        return _installs[version].result() if version in _installs else prisma7_cli.install(version)
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
