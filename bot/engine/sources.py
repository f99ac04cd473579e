"""Migrations sources: a local folder, or a git repository at a ref.

Both read the layout Prisma reads: one directory per migration, named by its
folder, holding ``migration.sql``; ``migration_lock.toml`` names the provider.
Entries that are not directories are ignored, as Prisma ignores them.
Migrations sort by their folder name in byte order, as Prisma sorts them.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from driftbot.engine import project as project_mod
from driftbot.engine.versions import PrismaVersion
from driftbot.errors import MigrationsSourceError, redact

LOCK_FILE = "migration_lock.toml"
SCRIPT = "migration.sql"


@dataclass(frozen=True)
class LocalMigration:
    """One migration folder: its name, script and Prisma checksum."""

    name: str
    script: str = field(repr=False)
    checksum: str

    @classmethod
    def from_bytes(cls, name: str, raw: bytes, where: str) -> "LocalMigration":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MigrationsSourceError(
                f"{where}/{name}/{SCRIPT} is not UTF-8 (byte {exc.start}); Prisma cannot read it either. "
                "Re-save the file as UTF-8."
            ) from None
        return cls(name=name, script=text, checksum=hashlib.sha256(raw).hexdigest())


@dataclass(frozen=True)
class Migrations:
    """The migrations a source holds, sorted as Prisma applies them."""

    items: tuple[LocalMigration, ...]
    provider: str | None
    origin: str
    revision: str | None = None  # the git commit, for a git source

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.items)

    def by_name(self) -> dict[str, LocalMigration]:
        return {m.name: m for m in self.items}

    @property
    def digest(self) -> str:
        """A hash of every migration's name and checksum: the replay cache key."""
        h = hashlib.sha256()
        for m in self.items:
            h.update(m.name.encode() + b"\0" + m.checksum.encode() + b"\n")
        return h.hexdigest()


def _check_provider(lock_text: str | None, where: str) -> str | None:
    if lock_text is None:
        return None
    try:
        provider = tomllib.loads(lock_text).get("provider")
    except tomllib.TOMLDecodeError as exc:
        raise MigrationsSourceError(f"{where}/{LOCK_FILE} is not valid TOML ({exc}).") from None
    if provider not in (None, "postgresql", "postgres"):
        raise MigrationsSourceError(
            f"{where}/{LOCK_FILE} says provider = {provider!r}; driftbot supports PostgreSQL only."
        )
    return provider


def _sorted(items: list[LocalMigration]) -> tuple[LocalMigration, ...]:
    return tuple(sorted(items, key=lambda m: m.name.encode("utf-8")))


def read_folder(folder: str | Path) -> Migrations:
    """Read a local migrations folder."""
    root = Path(folder)
    if not root.is_dir():
        raise MigrationsSourceError(f"Migrations folder {root} does not exist (setting `migrations`).")
    items = []
    for entry in root.iterdir():
        if not entry.is_dir():
            continue
        script = entry / SCRIPT
        if not script.is_file():
            raise MigrationsSourceError(
                f"Migration folder {root}/{entry.name} has no {SCRIPT}; Prisma cannot apply it either."
            )
        items.append(LocalMigration.from_bytes(entry.name, script.read_bytes(), str(root)))
    lock = root / LOCK_FILE
    provider = _check_provider(lock.read_text(encoding="utf-8", errors="replace") if lock.is_file() else None, str(root))
    return Migrations(_sorted(items), provider, str(root))


# --- git ---------------------------------------------------------------------------

_SAFE_REF = re.compile(r"^[A-Za-z0-9._/@{}^~+-]+$")


def public_url(url: str) -> str:
    """*url* without its credentials (``https://user:token@host/x`` -> ``https://host/x``)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return redact(url)


def _what_to_do(err: str) -> str:
    text = err.lower()
    if any(s in text for s in ("authentication failed", "could not read username", "could not read password",
                                "401", "403", "permission denied", "access denied")):
        return ("the repository wants credentials: set DRIFTBOT_ENVIRONMENTS__<ENV>__GIT_TOKEN to a token that "
                "may read it (never in the URL)")
    if any(s in text for s in ("not found", "does not appear to be a git repository", "404")):
        return "check the `git` URL, and that the token (if any) may read that repository"
    if any(s in text for s in ("could not resolve host", "connection refused", "timed out", "unable to access",
                                "network is unreachable")):
        return "check the host name in the `git` URL and that this machine can reach it"
    return "check the `git` URL and `ref`"


def _git(args: list[str], cwd: Path | None = None, timeout: int = 120, input: bytes | None = None,
         env: dict[str, str] | None = None, url: str | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            timeout=timeout,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent",
                 **(env or {})},
        )
    except FileNotFoundError:
        raise MigrationsSourceError("git is not installed; it is needed for a git migrations source.") from None
    except subprocess.TimeoutExpired:
        raise MigrationsSourceError(f"git {args[0]} took longer than {timeout} s.") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace")
        if url:  # git may echo the URL it was given, credentials and all
            err = err.replace(url, public_url(url))
        said = " / ".join(line.strip() for line in err.strip().splitlines() if line.strip()) or "no output"
        where = f" of {public_url(url)}" if url else ""
        raise MigrationsSourceError(f"git {args[0]}{where} failed: {redact(said)} ({_what_to_do(said)}).")
    return done.stdout


def auth_env(url: str, user: str, token: str | None) -> dict[str, str]:
    """The token as an HTTP basic-auth header for *url*'s host only, given to git through its environment
    (not its command line, which any local user can read, nor the URL, which git may echo)."""
    parts = urlsplit(url)
    if not token or parts.scheme not in ("http", "https"):
        return {}
    origin = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "/", "", ""))
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"http.{origin}.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"}


class GitSource:
    """A repository fetched into a bare cache folder; read at a ref without a work tree."""

    def __init__(self, url: str, ref: str, path: str, cache_dir: Path, token: str | None = None,
                 user: str = "x-access-token") -> None:
        if not _SAFE_REF.match(ref) or ref.startswith("-"):
            raise MigrationsSourceError(f"Git ref {ref!r} is not a valid ref name.")
        self.url, self.ref, self.path = url, ref, path.strip("/")
        self._auth = auth_env(url, user, token)
        key = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.repo = Path(cache_dir) / "git" / key

    @property
    def origin(self) -> str:
        return f"{public_url(self.url)}@{self.ref}:{self.path}"

    def fetch(self) -> None:
        if not (self.repo / "HEAD").exists():
            self.repo.parent.mkdir(parents=True, exist_ok=True)
            _git(["init", "--bare", "--quiet", str(self.repo)])
        _git(
            ["fetch", "--quiet", "--prune", "--force", "--", self.url,
             "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
            cwd=self.repo, env=self._auth, url=self.url,
        )

    def resolve(self) -> str:
        try:
            return _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{self.ref}^{{commit}}"], cwd=self.repo).decode().strip()
        except MigrationsSourceError:
            raise MigrationsSourceError(f"Git ref `{self.ref}` was not found in {public_url(self.url)}.") from None

    def read(self, fetch: bool = True) -> Migrations:
        if fetch:
            self.fetch()
        commit = self.resolve()
        listing = _git(["ls-tree", "-r", "-z", "--full-tree", commit, "--", self.path + "/"], cwd=self.repo)
        blobs: dict[str, str] = {}
        lock_blob = None
        for entry in filter(None, listing.split(b"\0")):
            meta, _, rel = entry.partition(b"\t")
            kind, sha = meta.split()[1].decode(), meta.split()[2].decode()
            rel_path = rel.decode("utf-8", "replace")[len(self.path) + 1 :]
            parts = rel_path.split("/")
            if kind != "blob":
                continue
            if parts == [LOCK_FILE]:
                lock_blob = sha
            elif len(parts) == 2 and parts[1] == SCRIPT:
                blobs[parts[0]] = sha
        if not blobs and lock_blob is None:
            raise MigrationsSourceError(f"No migrations at `{self.path}` in {public_url(self.url)}@{self.ref}.")
        contents = self._cat([*blobs.values(), *([lock_blob] if lock_blob else [])])
        items = [LocalMigration.from_bytes(name, contents[sha], self.origin) for name, sha in blobs.items()]
        lock_text = contents[lock_blob].decode("utf-8", "replace") if lock_blob else None
        provider = _check_provider(lock_text, self.origin)
        return Migrations(_sorted(items), provider, self.origin, revision=commit)

    def _cat(self, shas: list[str]) -> dict[str, bytes]:
        """Read many blobs in one ``git cat-file --batch`` process."""
        if not shas:
            return {}
        out = _git(["cat-file", "--batch"], cwd=self.repo, input=("\n".join(shas) + "\n").encode())
        result, pos = {}, 0
        while pos < len(out):
            header_end = out.index(b"\n", pos)
            sha, _kind, size = out[pos:header_end].decode().split()
            start = header_end + 1
            result[sha] = out[start : start + int(size)]
            pos = start + int(size) + 1
        return result

    def tree(self, commit: str) -> "GitTree":
        """The files of *commit*, for reading a project's config, package.json and lockfile."""
        return GitTree(self, commit)

    def refs_containing(self, migration: str) -> list[str]:
        """Branches and tags whose history holds a migration of this name (for diverged environments)."""
        target = f"{self.path}/{migration}/{SCRIPT}"
        out = _git(["log", "--all", "--format=%H", "--", target], cwd=self.repo).decode().split()
        if not out:
            return []
        refs = set()
        for commit in out[:20]:
            names = _git(["for-each-ref", "--format=%(refname:short)", "--contains", commit], cwd=self.repo)
            refs.update(names.decode().split())
        return sorted(refs)


class FolderSource:
    """A local migrations folder; it has no history to search."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = folder

    def read(self, fetch: bool = True) -> Migrations:
        return read_folder(self.folder)

    def refs_containing(self, migration: str) -> list[str] | None:
        return None


class GitTree:
    """One commit of a repository as a ``project.Tree``: the repository's root is ``/``."""

    root = "/"

    def __init__(self, source: GitSource, commit: str) -> None:
        self.source = source
        listing = _git(["ls-tree", "-r", "-z", "--full-tree", commit], cwd=source.repo)
        self.blobs: dict[str, str] = {}
        self.dirs: set[str] = {"/"}
        for entry in filter(None, listing.split(b"\0")):
            meta, _, rel = entry.partition(b"\t")
            kind, sha = meta.split()[1].decode(), meta.split()[2].decode()
            if kind != "blob":
                continue
            path = "/" + rel.decode("utf-8", "replace")
            self.blobs[path] = sha
            parent = posixpath.dirname(path)
            while parent not in self.dirs:
                self.dirs.add(parent)
                parent = posixpath.dirname(parent)

    def read_text(self, path: str) -> str | None:
        sha = self.blobs.get(posixpath.normpath(path))
        if sha is None:
            return None
        return self.source._cat([sha])[sha].decode("utf-8", "replace")

    def is_file(self, path: str) -> bool:
        return posixpath.normpath(path) in self.blobs

    def is_dir(self, path: str) -> bool:
        return posixpath.normpath(path) in self.dirs

    def show(self, path: str) -> str:
        return path.lstrip("/") or "."


def _extract_schema(tree: GitTree, schema: str, into: Path) -> str | None:
    """The schema file, or the ``*.prisma`` files of a schema folder, at the commit, copied under *into*
    (the schema check reads local files); None when the commit has none."""
    wanted = [p for p in tree.blobs if p == schema or (p.startswith(schema.rstrip("/") + "/") and p.endswith(".prisma"))]
    if not wanted:
        return None
    for path in wanted:
        target = into / path.lstrip("/")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(tree.read_text(path) or "", encoding="utf-8")
    return str(into / schema.lstrip("/"))


@dataclass(frozen=True)
class Settled:
    """An environment with its project read: ``env`` names the migrations (and schema) explicitly."""

    env: object
    prisma_version: PrismaVersion
    project: project_mod.Located | None = None
    fetched: bool = False  # a git source was fetched while settling


def settle(env, cache_dir: Path, fetch: bool = True) -> Settled:
    """Read the environment's ``project`` (its prisma.config.*, package.json and lockfile): the
    migrations and schema paths it names (explicit settings win) and the Prisma version it runs.
    Without ``project`` the version is still looked up, upward from the migrations folder."""
    setting = getattr(env, "prisma_version", None)
    folder = getattr(env, "project", None)
    if folder is None and setting:
        return Settled(env, PrismaVersion(setting, "setting"))
    if env.git:
        git = _git_source(env, cache_dir)
        if fetch:
            git.fetch()
        commit = git.resolve()
        tree = git.tree(commit)
        if folder is None:
            return Settled(env, project_mod.detect_version(tree, "/" + posixpath.dirname(env.path.strip("/")), setting), fetched=fetch)
        where = "/" + folder.strip("/")
        explicit = "/" + env.path.strip("/") if "path" in env.model_fields_set else None
        located = project_mod.locate(tree, where, migrations=explicit)
        version = project_mod.detect_version(tree, where, setting)
        update = {"path": located.migrations.lstrip("/"), "project": None}
        if not env.schema_path and located.schema:
            update["schema_path"] = _extract_schema(tree, located.schema, Path(cache_dir) / "projects" / commit[:16])
        return Settled(env.model_copy(update=update), version, located, fetched=fetch)
    tree = project_mod.LocalTree()
    if folder is None:
        start = str(Path(env.migrations).resolve().parent)
        return Settled(env, project_mod.detect_version(tree, start, setting))
    where = str(Path(folder).resolve())
    located = project_mod.locate(
        tree, where,
        schema=str(Path(env.schema_path).resolve()) if env.schema_path else None,
        migrations=str(Path(env.migrations).resolve()) if env.migrations else None,
    )
    update = {"migrations": env.migrations or located.migrations, "project": None,
              "schema_path": env.schema_path or located.schema}
    return Settled(env.model_copy(update=update), project_mod.detect_version(tree, where, setting), located)


def open_source(env, cache_dir: Path) -> GitSource | FolderSource:
    """The configured source of an environment (git repository or folder); a ``project`` is read first."""
    if getattr(env, "project", None):
        env = _not_prisma8(settle(env, cache_dir)).env
    if env.git:
        return _git_source(env, cache_dir)
    return FolderSource(env.migrations)


def _git_source(env, cache_dir: Path) -> GitSource:
    token = env.git_token.get_secret_value() if getattr(env, "git_token", None) else None
    return GitSource(env.git, env.ref, env.path, cache_dir, token=token, user=getattr(env, "git_user", "x-access-token"))


def load(env, cache_dir: Path, fetch: bool = True) -> Migrations:
    """The migrations of an environment's configured source."""
    if getattr(env, "project", None):
        env = _not_prisma8(settle(env, cache_dir, fetch=fetch)).env
    return open_source(env, cache_dir).read(fetch=fetch)


def _not_prisma8(settled: Settled) -> Settled:
    """Only a check (status, diff) reads a Prisma 8 project; the commands built on migration.sql files
    (compare, lint, resolve, pull requests) say so instead of failing on its folders."""
    if settled.project is not None and settled.project.prisma8:
        raise MigrationsSourceError(
            f"{settled.env.name} is a Prisma 8 project ({settled.project.config}): this command reads Prisma 6 and 7 "
            "migration folders only; `driftbot status` and `driftbot diff` read Prisma 8.")
    return settled
