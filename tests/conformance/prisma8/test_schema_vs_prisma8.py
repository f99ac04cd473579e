"""Prisma 8's schema cases side by side with the real 8.0.0-rc.19 CLI (conftest.py says how): a migrated
database changed by hand, one statement a case."""

from __future__ import annotations

import pytest

from tests.conformance.prisma8.conftest import side_by_side
from tests.factory import execute

pytestmark = pytest.mark.conformance

SCHEMA_CASES = {
    "column_added": ('ALTER TABLE "User" ADD COLUMN nickname text', ["[*] Changed the `User` table", "  [+] Added column `nickname`"]),
    "column_dropped": ('ALTER TABLE "Post" DROP COLUMN title', None),
    "column_type_changed": ('ALTER TABLE "Post" ALTER COLUMN title TYPE varchar(10)', None),
    "column_nullable": ('ALTER TABLE "Post" ALTER COLUMN title DROP NOT NULL', None),
    "default_added": ("ALTER TABLE \"Post\" ALTER COLUMN title SET DEFAULT 'x'", None),
    "table_dropped": ('DROP TABLE "Post"', None),
    "table_added": ("CREATE TABLE staff (id int PRIMARY KEY)", ["[+] Added tables", "  - staff"]),
    "index_added": ('CREATE INDEX post_title_idx ON "Post"(title)', None),
    "unique_dropped": ('ALTER TABLE "User" DROP CONSTRAINT "User_email_key"', None),
    "native_enum_value_added": ("ALTER TYPE \"Role\" ADD VALUE 'GUEST'", ["[*] Changed the `Role` enum", "  [+] Added variant `GUEST`"]),
    "native_enum_type_added": ("CREATE TYPE mood AS ENUM ('a')", None),
    "check_dropped": ('ALTER TABLE "Media" DROP CONSTRAINT "Media_kind_check_cb2cdfcd"', None),
    "check_added": ('ALTER TABLE "Media" ADD CONSTRAINT media_pos CHECK (id > 0)', None),
    "check_values_changed_same_name": (
        'ALTER TABLE "Media" DROP CONSTRAINT "Media_kind_check_cb2cdfcd"; ALTER TABLE "Media" ADD CONSTRAINT '
        "\"Media_kind_check_cb2cdfcd\" CHECK (kind IN ('image', 'video', 'audio'))", None),
}


@pytest.mark.parametrize("name", list(SCHEMA_CASES))
def test_schema_drift(cli, case, tmp_path, name):
    statement, summary = SCHEMA_CASES[name]
    project, url = case("full")
    execute(url, statement)
    body, ours, real = side_by_side(cli, project, url, tmp_path)
    assert body["state"] == "drifted", body["schema"]
    assert body["schema"]["summary"], "driftbot's own summary names the drift"
    if summary is not None:
        assert body["schema"]["summary"] == summary
    if name == "check_values_changed_same_name":  # Prisma 8 sees nothing; driftbot does
        assert all(code == 0 for code, _, _ in real.values()) and [f["case"] for f in body["findings"]] == ["C"]
