"""The hooks at the seams (driftbot.metrics): audit events counted once committed, Slack's every answer
(each 429 too) through the one client, and multiprocess mode's files across forked processes (#30)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest
from slack_sdk.errors import SlackApiError

from driftbot import audit
from driftbot.metrics import instruments
from driftbot.settings import Settings
from driftbot.slack.client import make_client
from tests.slack_stub import SlackStub
from tests.support import make_runtime


def counted(name: str, **labels) -> float:
    return instruments.REGISTRY.get_sample_value(name, labels) or 0.0


def test_audit_events_count_when_their_transaction_commits_never_when_it_rolls_back(databases):
    rt = make_runtime(Settings(state_url=databases.create_state()))
    kind = f"test_event_{uuid.uuid4().hex[:6]}"
    with pytest.raises(RuntimeError):
        with rt.sessions.begin() as s:
            audit.record(s, event=kind, actor="U1")
            raise RuntimeError("the change fails: its event goes with it")
    assert counted("driftbot_audit_events_total", kind=kind) == 0
    with rt.sessions.begin() as s:
        audit.record(s, event=kind, actor="U1")
        audit.record(s, event=kind, actor="U2")
        assert counted("driftbot_audit_events_total", kind=kind) == 0  # not yet committed
    assert counted("driftbot_audit_events_total", kind=kind) == 2
    rt.engine.dispose()


@pytest.fixture
def stub():
    s = SlackStub(token="xoxb-test").start()
    yield s
    s.stop()


def test_every_slack_answer_is_counted_by_method_and_result(stub):
    client = make_client(Settings(slack_bot_token="xoxb-test", slack_api_url=stub.base_url))
    before = {r: counted("driftbot_slack_api_calls_total", method="chat.postMessage", result=r)
              for r in ("ok", "ratelimited", "channel_not_found")}
    stub.fail("chat.postMessage", 429, 2, retry_after=0)
    client.chat_postMessage(channel="C1", text="after two 429s")  # retried past both
    stub.refuse("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="refused")
    after = {r: counted("driftbot_slack_api_calls_total", method="chat.postMessage", result=r) for r in before}
    assert {r: after[r] - before[r] for r in before} == {"ok": 1, "ratelimited": 2, "channel_not_found": 1}

    away = make_client(Settings(slack_bot_token="xoxb-test", slack_api_url="http://127.0.0.1:1/api/"), patient=False)
    unreachable = counted("driftbot_slack_api_calls_total", method="auth.test", result="unreachable")
    with pytest.raises(Exception):
        away.auth_test()
    assert counted("driftbot_slack_api_calls_total", method="auth.test", result="unreachable") == unreachable + 1


MULTIPROCESS = textwrap.dedent("""
    import json, os, sys
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from driftbot.metrics import instruments, multiproc
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    path = multiproc.prepare("test")
    instruments.process_started("worker")
    worker = os.getpid()
    for job in range(3):  # three work horses of this worker, one after the other
        pid = os.fork()
        if pid == 0:
            multiproc.work_horse(worker)
            instruments.checked("prod", "drifted", 0.5, {"replay": 0.2})
            os._exit(0)
        os.waitpid(pid, 0)
    pid = os.fork()
    if pid == 0:  # a gunicorn worker: counts under its own pid, then dies
        instruments.process_started("web")
        instruments.checked("prod", "in_sync", 0.1)
        os._exit(0)
    os.waitpid(pid, 0)
    print(json.dumps(sorted(os.listdir(path))))
    print(multiproc.forget_dead(path), pid)
    reg = CollectorRegistry()
    MultiProcessCollector(reg)
    sys.stdout.write(generate_latest(reg).decode())
""")


def test_forked_processes_add_up_and_work_horses_share_their_workers_files(tmp_path):
    out = subprocess.run([sys.executable, "-c", MULTIPROCESS], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    files, dead, text = out.stdout.split("\n", 2)
    names = json.loads(files)
    horse = sorted(n.split("_")[0] for n in names if n.endswith("h.db"))
    assert {"counter", "histogram"} <= set(horse) and len(horse) == len(set(horse))  # one file a kind, three horses
    gunicorn_pid = int(dead.split()[-1])
    assert f"gauge_livesum_{gunicorn_pid}.db" in names
    assert dead.startswith(f"[{gunicorn_pid}]")  # its live gauge was removed with it; its counts stay
    assert 'driftbot_checks_total{environment="prod",outcome="drifted"} 3.0' in text
    assert 'driftbot_checks_total{environment="prod",outcome="in_sync"} 1.0' in text
    assert 'driftbot_check_duration_seconds_count{phase="total"} 4.0' in text
    assert 'driftbot_check_duration_seconds_count{phase="replay"} 3.0' in text
    assert 'driftbot_processes{process="worker"} 1.0' in text
    assert 'process="web"' not in text
    assert not any(p.name.startswith("driftbot-test-metrics-") for p in tmp_path.iterdir())  # removed at exit


def test_a_killed_groups_directory_is_removed_by_the_next_group_a_live_ones_kept(tmp_path):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"driftbot-worker-metrics-{int(ended.stdout)}-abc"
    live = tmp_path / f"driftbot-web-metrics-{os.getpid()}-def"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"")
    started = subprocess.run([sys.executable, "-c", "from driftbot.metrics import multiproc; print(multiproc.prepare('worker'))"],
                             capture_output=True, text=True, timeout=60,
                             env={**{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
                                  "TMPDIR": str(tmp_path)})
    assert started.returncode == 0, started.stderr
    assert not dead.exists() and live.exists()
    assert not os.path.exists(started.stdout.strip())  # its own, removed as it exited
