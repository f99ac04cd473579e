"""The lists behind the test tiers name real files: a file renamed or split without its line in
tests/durations.txt (the order the xdist workers take the long files) or tests/slow.txt (tests
marked slow by name) would silently lose its place or its tier."""

from __future__ import annotations

from tests.conftest import FILE_ORDER, ROOT, SLOW_TESTS


def test_every_file_in_durations_txt_exists():
    assert FILE_ORDER, "tests/durations.txt lists no file"
    assert [path for path in FILE_ORDER if not (ROOT / path).is_file()] == []


def test_every_test_in_slow_txt_names_an_existing_file():
    assert [node for node in SLOW_TESTS if not (ROOT / node.split("::", 1)[0]).is_file()] == []
