"""Reading ``schema`` and ``migrations.path`` out of a prisma.config.ts without Node.

Real configs compute their paths (``path.join(__dirname, "prisma")``), so a plain
text search is not enough, and running the file needs Node and its imports. This
module evaluates the small part of JavaScript those paths are written in: string
and template literals, ``__dirname`` / ``import.meta.dirname``, ``path.join`` /
``path.resolve`` / ``path.dirname`` (however ``node:path`` was imported),
``fileURLToPath(import.meta.url)``, ``process.cwd()``, ``+`` and top-level
``const`` bindings. Anything else is ``Unevaluable``, naming its line.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<template>`(?:[^`\\]|\\.)*`)
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<number>\d[\d_]*(?:\.\d+)?)
  | (?P<punct>\.\.\.|===|!==|=>|\?\?|\|\||&&|\?\.|[{}()\[\];,.:=+\-*/!?<>&|@#%^~])
    """,
    re.S | re.X,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"', "`": "`"}


class Unevaluable(Exception):
    """A value driftbot cannot compute without running the file; ``line`` is 1-based."""

    def __init__(self, line: int, text: str) -> None:
        super().__init__(text)
        self.line, self.text = line, text


@dataclass(frozen=True)
class Tok:
    kind: str
    value: str
    line: int


def tokenize(source: str) -> list[Tok]:
    out, pos, line = [], 0, 1
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:  # a character this reader does not know (a regex literal, say): keep it as punctuation
            out.append(Tok("punct", source[pos], line))
            line += source[pos] == "\n"
            pos += 1
            continue
        kind = m.lastgroup
        if kind not in ("ws", "comment"):
            out.append(Tok(kind, m.group(), line))
        line += m.group().count("\n")
        pos = m.end()
    return out


def _unquote(text: str) -> str:
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _js_join(*parts: str) -> str:
    """Node's ``path.join``: every segment appended, then normalised."""
    joined = "/".join(p for p in parts if p)
    return posixpath.normpath(joined) if joined else "."


def _js_resolve(cwd: str, *parts: str) -> str:
    """Node's ``path.resolve``: right to left until an absolute path, against *cwd*."""
    out = cwd
    for p in parts:
        out = p if p.startswith("/") else posixpath.join(out, p)
    return posixpath.normpath(out)


_PATH_MODULES = ("path", "node:path", "path/posix", "node:path/posix")
_URL_MODULES = ("url", "node:url")


class ConfigReader:
    """One config file's tokens, its imports and its top-level ``const`` bindings."""

    def __init__(self, source: str, file: str, cwd: str) -> None:
        self.toks, self.file, self.cwd = tokenize(source), file, cwd
        self.lines = source.splitlines()
        self.path_names: set[str] = set()  # identifiers bound to node:path
        self.functions: dict[str, str] = {}  # identifier -> "join" | "resolve" | "dirname" | "fileURLToPath"
        self.consts: dict[str, int] = {}  # identifier -> token index of its initialiser
        self.base = self  # the reader whose tokens ``consts`` index (a template's reader points to its file's)
        self._scan()

    # --- the file's shape -------------------------------------------------------------
    def _scan(self) -> None:
        t = self.toks
        for i, tok in enumerate(t):
            if tok.value == "import" and i + 1 < len(t):
                self._import(i)
            elif tok.value in ("const", "let", "var") and i + 2 < len(t) and self._top_level(i):
                if t[i + 1].kind == "name" and t[i + 2].value == "=":
                    self._binding(t[i + 1].value, i + 3)
                elif t[i + 1].value == "{":
                    self._destructure(i + 1)

    def _top_level(self, i: int) -> bool:
        depth = 0
        for tok in self.toks[:i]:
            depth += tok.value in "({[" and tok.kind == "punct"
            depth -= tok.value in ")}]" and tok.kind == "punct"
        return depth == 0

    def _binding(self, name: str, start: int) -> None:
        t = self.toks
        if start + 3 < len(t) and t[start].value == "require" and t[start + 1].value == "(" and t[start + 2].kind == "string":
            module = _unquote(t[start + 2].value)
            if module in _PATH_MODULES:
                self.path_names.add(name)
            return
        self.consts[name] = start

    def _destructure(self, brace: int) -> None:
        """``const { join, resolve: r } = require("node:path")``."""
        t, end = self.toks, self._match(brace)
        if end + 4 < len(t) and t[end + 1].value == "=" and t[end + 2].value == "require" and t[end + 4].kind == "string":
            module = _unquote(t[end + 4].value)
            if module in _PATH_MODULES + _URL_MODULES:
                self._named(brace + 1, end, rename=":")

    def _import(self, i: int) -> None:
        t = self.toks
        j = i + 1
        end = next((k for k in range(j, len(t)) if t[k].value == "from" or t[k].value == ";"), None)
        if end is None or t[end].value != "from" or end + 1 >= len(t) or t[end + 1].kind != "string":
            return
        module = _unquote(t[end + 1].value)
        if module not in _PATH_MODULES + _URL_MODULES:
            return
        k = j
        while k < end:
            tok = t[k]
            if tok.value == "*" and k + 2 < end and t[k + 1].value == "as":
                self.path_names.add(t[k + 2].value)
                k += 3
            elif tok.value == "{":
                close = self._match(k)
                self._named(k + 1, close, rename="as")
                k = close + 1
            elif tok.kind == "name" and tok.value != "type":
                if module in _PATH_MODULES:
                    self.path_names.add(tok.value)  # the default import
                k += 1
            else:
                k += 1

    def _named(self, start: int, end: int, rename: str) -> None:
        t, k = self.toks, start
        while k < end:
            if t[k].kind == "name" and t[k].value != "type":
                imported, local = t[k].value, t[k].value
                if k + 2 < end and t[k + 1].value == rename and t[k + 2].kind == "name":
                    local = t[k + 2].value
                    k += 2
                if imported in ("join", "resolve", "dirname", "fileURLToPath"):
                    self.functions[local] = imported
                elif imported == "posix":
                    self.path_names.add(local)
            k += 1

    def _match(self, i: int) -> int:
        pairs = {"(": ")", "{": "}", "[": "]"}
        want, depth = pairs[self.toks[i].value], 0
        for k in range(i, len(self.toks)):
            v = self.toks[k].value
            if self.toks[k].kind != "punct":
                continue
            if v in pairs:
                depth += 1
            elif v in pairs.values():
                depth -= 1
                if depth == 0:
                    return k
        raise Unevaluable(self.toks[i].line, "unbalanced brackets")

    # --- the exported object ------------------------------------------------------------
    def config_object(self) -> int | None:
        """The token index of the ``{`` of the exported config object, or None."""
        t = self.toks
        for i, tok in enumerate(t):
            if tok.value == "default" and i > 0 and t[i - 1].value == "export":
                return self._object_at(i + 1)
            if (tok.value == "module" and i + 3 < len(t) and t[i + 1].value == "." and t[i + 2].value == "exports"
                    and t[i + 3].value == "="):
                return self._object_at(i + 4)
        return None

    def _object_at(self, i: int, seen: int = 0) -> int | None:
        t = self.toks
        if i >= len(t) or seen > 5:
            return None
        if t[i].value == "{":
            return i
        if t[i].value == "(":
            return self._object_at(i + 1, seen + 1)
        if t[i].kind == "name" and i + 1 < len(t) and t[i + 1].value == "(":  # defineConfig({...})
            return self._object_at(i + 2, seen + 1)
        if t[i].kind == "name" and t[i].value in self.consts:
            return self._object_at(self.consts[t[i].value], seen + 1)
        return None

    def properties(self, brace: int) -> dict[str, int]:
        """An object literal's keys -> the token index where each value starts."""
        t, out, k, end = self.toks, {}, brace + 1, self._match(brace)
        while k < end:
            tok = t[k]
            if tok.kind in ("name", "string") and k + 1 < end and t[k + 1].value == ":":
                out[_unquote(tok.value) if tok.kind == "string" else tok.value] = k + 2
                k = self._skip_value(k + 2, end)
            elif tok.kind == "name" and k + 1 <= end and t[k + 1].value in (",", "}"):  # shorthand {schema}
                if tok.value in self.consts:
                    out[tok.value] = self.consts[tok.value]
                k += 2
            else:
                k = self._skip_value(k, end)
        return out

    def _skip_value(self, k: int, end: int) -> int:
        while k < end and self.toks[k].value != ",":
            k = self._match(k) + 1 if self.toks[k].value in "({[" and self.toks[k].kind == "punct" else k + 1
        return k + 1

    # --- expressions ----------------------------------------------------------------------
    def value(self, k: int) -> str:
        """Evaluate the expression starting at token *k* to a string (a path)."""
        out, k = self._term(k)
        while k < len(self.toks) and self.toks[k].value == "+":
            more, k = self._term(k + 1)
            out += more
        if k < len(self.toks) and self.toks[k].value not in (",", "}", ")", ";", "as", "satisfies", "]"):
            raise Unevaluable(self.toks[k].line, self._snippet(k))
        return out

    def _snippet(self, k: int) -> str:
        line = self.toks[k].line
        text = self.base.lines[line - 1].strip() if 0 < line <= len(self.base.lines) else self.toks[k].value
        return text if len(text) <= 80 else text[:79] + "…"

    def _term(self, k: int) -> tuple[str, int]:
        t = self.toks
        if k >= len(t):
            raise Unevaluable(t[-1].line if t else 1, "the file ends here")
        tok = t[k]
        if tok.kind == "string":
            return _unquote(tok.value), k + 1
        if tok.kind == "template":
            return self._template(tok), k + 1
        if tok.value == "(":
            close = self._match(k)
            return self.value(k + 1), close + 1
        if tok.kind != "name":
            raise Unevaluable(tok.line, self._snippet(k))
        chain, j = [tok.value], k + 1
        while j + 1 < len(t) and t[j].value == "." and t[j + 1].kind == "name":
            chain.append(t[j + 1].value)
            j += 2
        if j < len(t) and t[j].value == "(":
            close = self._match(j)
            return self._call(chain, self._args(j, close), tok.line, k), close + 1
        return self._name(chain, tok.line, k), j

    def _args(self, open_: int, close: int) -> list[int]:
        starts, k = [], open_ + 1
        while k < close:
            starts.append(k)
            k = self._skip_value(k, close)
        return starts

    def _name(self, chain: list[str], line: int, k: int) -> str:
        dotted = ".".join(chain)
        if dotted in ("__dirname", "import.meta.dirname"):
            return posixpath.dirname(self.file)
        if dotted in ("__filename", "import.meta.filename"):
            return self.file
        base = self.base
        if len(chain) == 1 and chain[0] in base.consts:
            start = base.consts.pop(chain[0])  # a binding that refers to itself cannot loop
            try:
                return base.value(start)
            finally:
                base.consts[chain[0]] = start
        raise Unevaluable(line, self._snippet(k))

    def _call(self, chain: list[str], args: list[int], line: int, k: int) -> str:
        fn = None
        if len(chain) == 1:
            fn = self.functions.get(chain[0])
        elif chain[0] in self.path_names and len(chain) in (2, 3) and chain[-1] in ("join", "resolve", "dirname"):
            fn = chain[-1]  # path.join, path.posix.join
        elif chain == ["process", "cwd"]:
            return self.cwd
        if fn == "fileURLToPath" and len(args) == 1:
            sub = self.toks[args[0]: args[0] + 5]
            if [x.value for x in sub[:5]] == ["import", ".", "meta", ".", "url"]:
                return self.file
        values = [self.value(a) for a in args]
        if fn == "join":
            return _js_join(*values)
        if fn == "resolve":
            return _js_resolve(self.cwd, *values)
        if fn == "dirname" and len(values) == 1:
            return posixpath.dirname(values[0])
        raise Unevaluable(line, self._snippet(k))

    def _template(self, tok: Tok) -> str:
        body = tok.value[1:-1]
        parts = re.split(r"\$\{([^}]*)\}", body)
        out = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                out.append(_unquote('"' + part.replace('"', '\\"') + '"'))
            else:
                inner = ConfigReader.__new__(ConfigReader)
                inner.__dict__.update(self.__dict__)
                inner.toks = [Tok(x.kind, x.value, tok.line) for x in tokenize(part)]
                inner.base = self.base
                out.append(inner.value(0) if inner.toks else "")
        return "".join(out)


@dataclass(frozen=True)
class ConfigPaths:
    """What a config file sets, as absolute paths; a key it omits is None; a key it computes in a
    way driftbot cannot follow is an ``Unevaluable``."""

    schema: str | Unevaluable | None
    migrations: str | Unevaluable | None


def read_config(source: str, file: str) -> ConfigPaths:
    """The ``schema`` and ``migrations.path`` of the config file at absolute path *file*.

    Relative results are resolved against the config file's folder, as Prisma does.
    """
    here = posixpath.dirname(file)
    try:
        reader = ConfigReader(source, file, here)
        brace = reader.config_object()
    except Unevaluable as exc:
        return ConfigPaths(exc, exc)
    if brace is None:
        problem = Unevaluable(1, "no `export default` config object found")
        return ConfigPaths(problem, problem)
    props = reader.properties(brace)

    def get(start: int | None) -> str | Unevaluable | None:
        if start is None:
            return None
        try:
            return _js_resolve(here, reader.value(start))
        except Unevaluable as exc:
            return exc

    migrations: str | Unevaluable | None = None
    if "migrations" in props:
        start = props["migrations"]
        if reader.toks[start].value == "{":
            migrations = get(reader.properties(start).get("path"))
        else:
            migrations = Unevaluable(reader.toks[start].line, reader._snippet(start))
    return ConfigPaths(get(props.get("schema")), migrations)


# --- Prisma 8 ---------------------------------------------------------------------------

PRISMA8_MARKS = ("definePrismaConfig", "@prisma/cli-engine", "@prisma/orm-postgres")


def is_prisma8_config(source: str) -> bool:
    """A Prisma 8 config: ``definePrismaConfig`` (``@prisma/cli-engine``) around the PostgreSQL facade's
    ``defineConfig`` (``@prisma/orm-postgres/config``); Prisma 6 and 7 configs import ``prisma/config``."""
    return any(mark in source for mark in PRISMA8_MARKS)


@dataclass(frozen=True)
class Prisma8Paths:
    """What a Prisma 8 config sets (absolute paths; None where it relies on Prisma 8's default)."""

    contract: str | Unevaluable | None  # the contract source: contract.prisma / contract.ts / a Prisma 7 schema
    prisma7: bool  # the contract is a Prisma 7 schema read through ``prisma7Schema(...)``
    output: str | Unevaluable | None  # the folder ``contract emit`` writes contract.json to
    migrations: str | Unevaluable | None  # ``migrations.dir``


def read_prisma8_config(source: str, file: str) -> Prisma8Paths:
    """``orm: defineConfig({contract, output, migrations: {dir}})`` of a Prisma 8 config at absolute *file*;
    relative paths resolve against the config's folder, as every Prisma 8 command does."""
    here = posixpath.dirname(file)
    try:
        reader = ConfigReader(source, file, here)
        brace = reader.config_object()
        if brace is None:
            raise Unevaluable(1, "no `export default` config object found")
        orm_start = reader.properties(brace).get("orm")
        orm = reader._object_at(orm_start) if orm_start is not None else None
        if orm is None:
            raise Unevaluable(reader.toks[orm_start].line if orm_start is not None else 1,
                              "no `orm: defineConfig({...})` in the config")
    except Unevaluable as exc:
        return Prisma8Paths(exc, False, exc, exc)
    props = reader.properties(orm)

    def get(start: int | None) -> str | Unevaluable | None:
        if start is None:
            return None
        try:
            return _js_resolve(here, reader.value(start))
        except Unevaluable as exc:
            return exc

    contract, prisma7 = None, False
    start = props.get("contract")
    if start is not None:
        t = reader.toks
        if t[start].kind == "name" and start + 1 < len(t) and t[start + 1].value == "(" and t[start].value == "prisma7Schema":
            contract, prisma7 = get(start + 2), True
        else:
            contract = get(start)
    migrations = None
    if "migrations" in props:
        m = props["migrations"]
        migrations = (get(reader.properties(m).get("dir")) if reader.toks[m].value == "{"
                      else Unevaluable(reader.toks[m].line, reader._snippet(m)))
    return Prisma8Paths(contract, prisma7, get(props.get("output")), migrations)
