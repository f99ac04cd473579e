"""The embedded servers (bot/embedded.py) never outlive the command that started them, and never
serve another installation: the demo's and the test suite's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from driftbot import embedded
from tests.support import default_signals

# Each test starts the demo or an embedded server (initdb included) as its own process.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DRIFTBOT = Path(sys.executable).parent / "driftbot"
# Lines that name a file the servers lock or leave while running.
LEFT_BEHIND = ("postmaster.pid", ".s.PGSQL.5432.lock", ".s.PGSQL.5432", "valkey.json")


def processes_of(*paths: Path) -> list[str]:
    """Live processes whose binary, working directory or command line lies in one of *paths*."""
    found = []
    needles = [str(p) for p in paths]
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid == os.getpid():
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            text = " ".join([proc.info["cmdline"] and " ".join(proc.info["cmdline"]) or "", _safe(proc.exe),
                             _safe(proc.cwd)])
        except psutil.Error:
            continue
        if any(n in text for n in needles):
            found.append(f"{proc.pid} {text}")
    return found


def _safe(getter) -> str:
    try:
        return getter()
    except psutil.Error:
        return ""


def left_behind(folder: Path) -> list[str]:
    """Lock, pid and socket files and holder files left under *folder*."""
    return sorted(str(p) for p in folder.rglob("*")
                  if p.name in LEFT_BEHIND or (p.parent.name == "holders" and p.is_file()))


def demo_env(cache: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DRIFTBOT_REDIS_URL", "DRIFTBOT_DEMO_DATABASE_URL")}
    return {**env, "XDG_CACHE_HOME": str(cache), **extra}


def start_demo(driftbot: Path, env: dict) -> subprocess.Popen:
    # Its own session and process group, as a terminal gives a command (Ctrl-C goes to the group),
    # and a terminal's signal dispositions, whatever the test run inherited (nohup, a background job).
    return subprocess.Popen([str(driftbot), "demo"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True, preexec_fn=default_signals)


def wait_until_ready(demo: subprocess.Popen) -> list[str]:
    """Read the demo's stderr until its embedded PostgreSQL is up; return the lines read."""
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = demo.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "Embedded PostgreSQL" in line and "ready" in line:
            return lines
    raise AssertionError("the demo never said its PostgreSQL was ready:\n" + "".join(lines))


@pytest.fixture(params=["as-a-terminal-starts-it", "under-nohup-in-the-background"])
def shell(request):
    """The signal dispositions the test run itself was started with: a terminal's defaults, or those
    of `nohup pytest ... &` (SIGHUP ignored by nohup, SIGINT by the shell for a background job). The
    demos these tests start must end the same way under both."""
    if request.param == "as-a-terminal-starts-it":
        yield request.param
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGHUP, signal.SIGINT)}
    try:
        yield request.param
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize("ending", ["success", "error", "ctrl-c", "sigterm", "sighup"])
def test_the_demo_leaves_no_server_and_no_lock_file_however_it_ends(tmp_path, ending, shell):
    extra = {"REDIS_URL": "redis://127.0.0.1:1/0"} if ending == "error" else {}
    demo = start_demo(DRIFTBOT, demo_env(tmp_path, **extra))
    said = wait_until_ready(demo)
    assert processes_of(tmp_path), "the demo's PostgreSQL should be running now"
    sig = {"ctrl-c": signal.SIGINT, "sigterm": signal.SIGTERM, "sighup": signal.SIGHUP}.get(ending)
    if sig is not None:
        os.killpg(demo.pid, sig)  # Ctrl-C and a hang-up reach the whole group; SIGTERM too here
    rest = demo.stderr.read()
    code = demo.wait(timeout=120)
    said = "".join(said) + rest
    expected = {"success": 0, "error": 2}.get(ending, 128 + (sig or 0))
    assert code == expected, said
    assert "Traceback" not in said
    if ending == "error":
        assert "does not answer" in said and "unset REDIS_URL" in said
    assert processes_of(tmp_path) == []
    assert left_behind(tmp_path) == []


def test_a_server_of_this_installation_left_by_a_killed_command_is_reused_then_stopped(tmp_path):
    """SIGKILL is the one ending no process can act on: its server is left running, and the next
    command of this installation takes it over (healthy, ours) and stops it when it ends."""
    script = "import sys, time; from pathlib import Path; from bot import embedded; " \
             "print(embedded.postgres(Path(sys.argv[1])), flush=True); time.sleep(600)"
    holder = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)
    url = holder.stdout.readline().strip()
    with psycopg.connect(url) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        postmaster = psutil.Process(pid).ppid()
    holder.kill()
    holder.wait()
    assert psutil.pid_exists(postmaster)
    if os.geteuid() == 0:  # root: PostgreSQL runs as uid 65534 of its own user namespace, no user added
        assert Path(f"/proc/{postmaster}/uid_map").read_text().split() == ["65534", "0", "1"]

    server = embedded.postgres_server(tmp_path)
    try:
        with psycopg.connect(server.url) as conn:
            assert psutil.Process(conn.execute("SELECT pg_backend_pid()").fetchone()[0]).ppid() == postmaster
    finally:
        server.release()
    assert not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE
    assert processes_of(tmp_path) == [] and left_behind(tmp_path) == []


def test_a_stale_postmaster_pid_is_not_a_server(tmp_path):
    server = embedded.postgres_server(tmp_path)
    server.release()
    # A crash leaves postmaster.pid naming a pid that is now some other process (here: this one).
    (server.data / "postmaster.pid").write_text(f"{os.getpid()}\n{server.data}\n0\n5432\n{server.folder}\n\n\nready\n")
    again = embedded.postgres_server(tmp_path)
    try:
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        again.release()
    assert left_behind(tmp_path) == []


def test_a_folder_of_another_installation_is_set_aside_never_used(tmp_path, capfd):
    server = embedded.postgres_server(tmp_path)
    server.release()
    marker = server.folder / "installation.json"
    mine = json.loads(marker.read_text())
    marker.write_text(json.dumps({**mine, "inode": mine["inode"] + 1, "binary": "/gone/bin/postgres"}))
    (server.data / "from-the-other-installation").write_text("x")

    again = embedded.postgres_server(tmp_path)
    again.release()
    err = capfd.readouterr().err
    assert f"set aside {server.folder}" in err and "another installation" in err
    assert len([line for line in err.splitlines() if "set aside" in line]) == 1
    assert not (again.data / "from-the-other-installation").exists()
    aside = [p for p in tmp_path.iterdir() if ".set-aside-" in p.name]
    assert len(aside) == 1 and (aside[0] / "data" / "from-the-other-installation").exists()


PROBE = """
import time

def test_probe(pg_url, redis_url):
    import psycopg, redis
    with psycopg.connect(pg_url) as conn:
        conn.execute("SELECT 1")
    assert redis.Redis.from_url(redis_url).ping()
    print("PROBE-READY", flush=True)
    time.sleep({sleep})
"""


@pytest.mark.parametrize("ending", ["success", "sigterm"])
def test_the_test_suites_embedded_servers_stop_with_the_session(tmp_path, ending):
    """With no server URL given, the suite's own PostgreSQL and Valkey (tests/conftest.py) stop when the
    pytest session ends, normally or on SIGTERM."""
    probe = tmp_path / "probe" / "test_probe.py"
    probe.parent.mkdir()
    probe.write_text(textwrap.dedent(PROBE.format(sleep=0 if ending == "success" else 300)))
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DRIFTBOT_TEST_PG_URL", "DRIFTBOT_TEST_REDIS_URL")}
    env.update(TMPDIR=str(temp), PYTHONPATH=str(ROOT))
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-s", "-p", "tests.conftest", "-p", "no:cacheprovider",
                            "--rootdir", str(probe.parent), str(probe)], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in run.stdout:
        out.append(line)
        if "PROBE-READY" in line:
            assert processes_of(temp), "the session's embedded servers should be running now"
            if ending == "sigterm":
                run.send_signal(signal.SIGTERM)
            break
    out.append(run.stdout.read())
    run.wait(timeout=120)
    assert "PROBE-READY" in "".join(out), "".join(out)
    if ending == "success":
        assert run.returncode == 0, "".join(out)
    assert processes_of(temp) == []
    assert left_behind(temp) == []


def install(venv: Path, wheel: Path) -> Path:
    """A fresh virtual environment with the wheel and its demo extra; returns its driftbot."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[demo]"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return venv / "bin" / "driftbot"


def test_two_installations_the_first_removed_the_second_wheel_demo_passes(tmp_path, wheel):
    """The issue's two steps, from wheels in fresh virtual environments sharing one cache: the first
    installation's demo, then (the old trap) one killed with SIGKILL while its PostgreSQL runs; the
    first installation removed; the second's demo passes and leaves no process of either behind."""
    import shutil

    cache = tmp_path / "cache"
    first, second = tmp_path / "venv-1", tmp_path / "venv-2"
    driftbot = install(first, wheel)
    done = subprocess.run([str(driftbot), "demo"], capture_output=True, text=True, timeout=300, env=demo_env(cache))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Through the worker queue" in done.stdout
    assert processes_of(first) == []
    version = subprocess.run([str(driftbot), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"driftbot {wheel.name.split('-')[1]}"

    killed = start_demo(driftbot, demo_env(cache))
    wait_until_ready(killed)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert processes_of(first), "a SIGKILLed demo leaves its PostgreSQL (nothing can stop it then)"
    shutil.rmtree(first)

    driftbot = install(second, wheel)
    done = subprocess.run([str(driftbot), "demo"], capture_output=True, text=True, timeout=300, env=demo_env(cache))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    for needle in ("prod has a FAILED migration", "[+] Added triggers\n    - case_ref_upper on Case",
                   "Through the worker queue"):
        assert needle in done.stdout, needle
    assert "an installation that is gone" in done.stderr  # the first one's folder, its server stopped
    assert processes_of(first, second) == []
    assert left_behind(cache) == []


def test_the_demo_says_where_its_data_lives_and_clean_removes_it(tmp_path):
    passwd = Path("/etc/passwd").read_text()
    done = subprocess.run([str(DRIFTBOT), "demo"], capture_output=True, text=True, timeout=300, env=demo_env(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    folder = tmp_path / "driftbot" / "demo"
    assert f"Demo data: {folder} (`driftbot demo --clean` removes it)." in done.stderr
    assert any(p.name.startswith("pg-") for p in folder.iterdir())
    assert Path("/etc/passwd").read_text() == passwd  # as root too: no system user added for PostgreSQL
    clean = subprocess.run([str(DRIFTBOT), "demo", "--clean"], capture_output=True, text=True, timeout=120,
                           env=demo_env(tmp_path))
    assert clean.returncode == 0 and clean.stdout == f"Removed the demo data ({folder}).\n"
    assert not folder.exists()
    again = subprocess.run([str(DRIFTBOT), "demo", "--clean"], capture_output=True, text=True, timeout=60,
                           env=demo_env(tmp_path))
    assert again.returncode == 0 and "Nothing to remove" in again.stdout
