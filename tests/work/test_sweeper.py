"""The sweeper's verdict on a check whose worker died, counted as the check's outcome 'lost' (#30)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from driftbot.metrics import instruments
from driftbot.settings import Settings
from driftbot.state.models import Check
from driftbot.work.sweeper import sweep
from tests.support import UNREACHABLE, make_runtime


def test_a_running_check_without_a_heartbeat_is_counted_lost_once(databases, redis_url, stub):
    env = f"lost{uuid.uuid4().hex[:6]}"
    rt = make_runtime(Settings(state_url=databases.create_state(), redis_url=redis_url, slack_bot_token=stub.token,
                               slack_api_url=stub.base_url, queue_prefix=f"t{uuid.uuid4().hex[:8]}:", heartbeat_s=0.2,
                               environments={env: {"database_url": UNREACHABLE, "migrations": "."}}))
    with rt.sessions.begin() as s:
        s.add(Check(environment=env, status="running", watchers=[], channel="C1", worker="gone",
                    started_at=datetime.now(timezone.utc) - timedelta(minutes=5)))
    assert sweep(rt)["lost_checks"]
    assert "lost_checks" not in sweep(rt)  # reported once
    assert instruments.REGISTRY.get_sample_value("driftbot_checks_total", {"environment": env, "outcome": "lost"}) == 1
    assert "interrupted" in stub.posts("C1")[0]["text"]
    rt.engine.dispose()
