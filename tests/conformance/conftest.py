"""Fixtures of the conformance suite: one Prisma install per session, fresh scenarios per test."""

from __future__ import annotations

import itertools
import warnings

import pytest

from tests.conformance.prisma_cli import PrismaUnavailable, ensure_installed
from tests.conformance.scenario import Scenario


@pytest.fixture(scope="session")
def prisma_install():
    try:
        return ensure_installed()
    except PrismaUnavailable as exc:
        reason = f"REAL PRISMA CLI UNAVAILABLE, conformance suite NOT RUN: {exc}"
        warnings.warn(reason, stacklevel=1)  # listed in the warnings summary as well as the skips
        pytest.skip(reason)


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
