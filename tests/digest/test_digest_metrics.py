"""The digest's checks in the metrics (#30): each environment's check counted by its outcome and timed,
then the drift gauges and the digest's last success as a scrape reads them from the state database."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from driftbot.digest.jobs import start_digest
from driftbot.metrics import instruments
from driftbot.state.models import DigestRun
from driftbot.work import scrape
from tests.support import build_environments, run_worker, runtime_on


def counted(name: str, **labels) -> float:
    return instruments.REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_digests_checks_are_counted_and_its_success_is_read_at_scrape(databases, redis_url, slack, tmp_path):
    envs = build_environments(databases, tmp_path / "envs", {"prod": "drifted", "staging": "in_sync",
                                                             "analytics": "unreachable"})
    rt = runtime_on(state_url=databases.create_state(), redis_url=redis_url, slack_url=slack.url, environments=envs,
                    cache_dir=tmp_path / "cache")
    outcomes = {"prod": "drifted", "staging": "in_sync", "analytics": "error"}
    before = {env: counted("driftbot_checks_total", environment=env, outcome=o) for env, o in outcomes.items()}
    timed = counted("driftbot_check_duration_seconds_count", phase="total")
    start_digest(rt, requested_by="U1")
    run_worker(rt)
    assert {env: counted("driftbot_checks_total", environment=env, outcome=o) - before[env]
            for env, o in outcomes.items()} == {"prod": 1, "staging": 1, "analytics": 1}
    assert counted("driftbot_check_duration_seconds_count", phase="total") - timed == 3

    class Fixed:
        def collect(self):
            return list(scrape.StateCollector(rt.settings).collect())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(generate_latest(registry).decode()) for s in family.samples}
    assert {env: found[("driftbot_drift_state", (("environment", env),))] for env in outcomes} == \
        {"prod": 1, "staging": 0, "analytics": 2}
    with rt.sessions() as s:
        posted = s.execute(select(DigestRun.finished_at).where(DigestRun.status == "posted")).scalar_one()
    assert found[("driftbot_digest_last_success_timestamp_seconds", ())] == pytest.approx(posted.timestamp())
    rt.engine.dispose()
