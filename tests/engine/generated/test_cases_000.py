"""Generated convergence cases 0 to 49 (conftest.py says what a case is)."""

from __future__ import annotations

import pytest

from tests.engine.generated.conftest import CHUNK, converges

# 50 generated histories, each replayed and converged: minutes.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("case", range(0, 0 + CHUNK))
def test_the_plan_carried_out_converges(world, pg_url, case):
    converges(world, pg_url, case)
