"""A cheap fingerprint of a database's catalog: equal fingerprints, equal introspection.

Every catalog row PostgreSQL changes gets a new row version (a new ``xmin`` and
``ctid``); a dropped object's rows disappear. So a digest of (``ctid``, ``xmin``)
of every row of the catalogs the introspection reads (``bot/engine/inspect/queries``)
changes whenever anything it would read changes, and costs one query instead of
nine. The columns PostgreSQL may update in place (without a new row version) are
added to the digest explicitly (``pg_index``'s validity flags). Roles are read
through ``pg_roles`` (``pg_authid`` is not readable by a check role).

Light on purpose: psycopg only, so a warm ``driftbot status`` can ask it before
it imports the engine.
"""

from __future__ import annotations

import psycopg

# The catalogs the introspection queries read (tests/engine/test_catalog.py keeps the two lists in
# step), plus those behind the pg_get_*def functions they call: views' rules, collations, operator
# classes (in index definitions). For the large ones only the rows of objects made after initdb
# (oid >= 16384, FirstNormalObjectId) count: the schemas the introspection reads hold no others.
# The small ones are read whole (``public`` itself is an initdb object).
CATALOGS = {
    "pg_am": None, "pg_attrdef": "oid", "pg_attribute": "attrelid", "pg_class": "oid", "pg_constraint": "oid",
    "pg_depend": "objid", "pg_enum": "oid", "pg_extension": None, "pg_index": "indexrelid", "pg_language": None,
    "pg_namespace": None, "pg_policy": None, "pg_proc": "oid", "pg_sequence": "seqrelid", "pg_trigger": "oid",
    "pg_type": "oid", "pg_rewrite": "oid", "pg_collation": "oid", "pg_opclass": "oid",
}
_IN_PLACE = {"pg_index": " || indisvalid::text || indisready::text || indislive::text"}
# A table's system columns (ctid, xmin, ...: attnum < 0) come and go with its pg_class row.
_ALSO = {"pg_attribute": " AND attnum > 0"}

# Unordered: a seq scan reads the rows in the same order while nothing changes; another order
# (another plan) only costs a cache miss, never a wrong answer.
_PARTS = " UNION ALL ".join(
    f"SELECT '{name}' AS catalog, count(*)::text || md5(string_agg(ctid::text || xmin::text{_IN_PLACE.get(name, '')}, ','))"
    f" AS digest FROM pg_catalog.{name}" + (f" WHERE {oid} >= 16384" if oid else "") + _ALSO.get(name, "")
    for name, oid in CATALOGS.items()
)
QUERY = (
    "SELECT md5(concat_ws('|', current_setting('server_version_num'), current_database(),"
    " (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()),"
    " (SELECT md5(string_agg(oid::text || ':' || rolname, ',' ORDER BY oid)) FROM pg_catalog.pg_roles),"
    f" (SELECT string_agg(catalog || '=' || digest, '|' ORDER BY catalog) FROM ({_PARTS}) AS parts)))"
)


def fingerprint(conn: psycopg.Connection) -> str:
    """The catalog's fingerprint, read in one query on *conn*."""
    return conn.execute(QUERY).fetchone()[0]
