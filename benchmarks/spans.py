"""Where a ``driftbot status`` spends its time: the command run with a timer around each phase of the check.

    python -m benchmarks.spans OUT.json status ENV [--json]

Runs ``driftbot`` exactly as the console script does, with the engine's phases wrapped where they are
called (the imports of the engine, the template look-up and copy, the replay, the introspection of the
shadow and of the target, the diff, the findings, the deploy preview, the lint, the caches' writes), and
writes ``{phase: [seconds, calls]}`` and the whole process's time to OUT.json. A phase that runs in a
thread (the target's introspection overlaps the replay) is timed on its own clock, so the phases may
add up to more than the whole. ``bench_changes --spans`` runs every timed status through it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import sys
import threading
import time

STARTED = time.perf_counter()
_lock = threading.Lock()
SPANS: dict[str, list[float]] = {}


def _add(name: str, seconds: float) -> None:
    with _lock:
        row = SPANS.setdefault(name, [0.0, 0])
        row[0] += seconds
        row[1] += 1


def _timed(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(name, time.perf_counter() - t)
    return wrapper


def _timed_context(name: str, cm):
    """A context manager factory whose entering (and, apart, leaving) is timed."""
    @functools.wraps(cm)
    @contextlib.contextmanager
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        inner = cm(*args, **kwargs)
        value = inner.__enter__()
        _add(name, time.perf_counter() - t)
        try:
            yield value
        except BaseException:
            t = time.perf_counter()
            if not inner.__exit__(*sys.exc_info()):
                _add(name + " (leaving)", time.perf_counter() - t)
                raise
            _add(name + " (leaving)", time.perf_counter() - t)
        else:
            t = time.perf_counter()
            inner.__exit__(None, None, None)
            _add(name + " (leaving)", time.perf_counter() - t)
    return wrapper


def _patch(module, attr: str, name: str, context: bool = False) -> None:
    fn = getattr(module, attr, None)
    if fn is not None:
        setattr(module, attr, (_timed_context if context else _timed)(name, fn))


def install() -> None:
    t = time.perf_counter()
    from driftbot.cli import memo  # what every status imports (settings, psycopg), engine or not
    _add("imports of the command (every status, memoised or not)", time.perf_counter() - t)
    t = time.perf_counter()
    from driftbot.engine import check, diff, history, later, schema_check, shadow, sources, templates
    _add("imports of the engine", time.perf_counter() - t)
    t = time.perf_counter()
    from driftbot.engine import preview  # only a status with pending migrations imports it
    _add("imports of the deploy preview (where it runs)", time.perf_counter() - t)

    _patch(memo, "lookup", "status memo: look-up (catalog fingerprint, file stats)")
    _patch(memo, "store", "status memo: store")
    _patch(sources, "settle", "sources: settle")
    _patch(check.sources, "open_source", "sources: read the migrations")
    _patch(history, "read_rows", "history: _prisma_migrations rows")
    _patch(templates, "longest_prefix", "templates: look-up")
    _patch(templates, "touch", "templates: touch")
    _patch(templates, "keep", "templates: keep")
    _patch(shadow, "sweep_leftovers", "shadow: sweep leftovers")
    _patch(shadow, "shadow_server", "shadow: server")
    _patch(schema_check, "shadow_server", "shadow: server")
    _patch(shadow, "scratch_database", "shadow: create scratch (template copy)", context=True)
    _patch(shadow, "apply_in_order", "shadow: replay")
    _patch(shadow, "introspect", "shadow: introspection of the replay")
    _patch(schema_check, "live_schema", "target: introspection (or its cache)")
    _patch(diff, "diff", "diff")
    _patch(schema_check, "schema_findings", "findings")
    _patch(schema_check.hidden, "find_applied_by_hand", "findings: applied by hand")
    _patch(schema_check, "_pending_objects", "findings: pending objects")
    _patch(preview, "deploy_preview", "deploy preview")
    _patch(preview, "scratch_database", "deploy preview: create scratch", context=True)
    _patch(preview, "rebuild", "deploy preview: rebuild the live schema")
    _patch(preview, "apply_in_order", "deploy preview: apply the pending migrations")
    _patch(preview, "inexpressible_objects", "deploy preview: target queries")
    _patch(preview, "available_extensions", "deploy preview: target queries")
    _patch(check, "lint_pending", "lint of pending/failed migrations")
    _patch(check, "run_check", "run_check (whole)")
    _patch(later, "run", "housekeeping after the answer")


def main() -> int:
    out = sys.argv[1]
    sys.argv = ["driftbot", *sys.argv[2:]]
    install()
    from driftbot.cli import main as cli_main

    def dump():
        data = {"spans": SPANS, "whole_s": time.perf_counter() - STARTED}
        with open(out, "w", encoding="utf-8") as f:
            json.dump(data, f)

    atexit.register(dump)
    try:
        code = cli_main()
    except SystemExit as exc:
        code = exc.code
    dump()
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
