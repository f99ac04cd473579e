"""The CLI tests' configuration: a driftbot.toml and environment variables, as an operator sets them."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def configure(tmp_path, monkeypatch):
    """``configure(toml, env)``: driftbot.toml in tmp_path with the text *toml* (DRIFTBOT_CONFIG),
    the variables of *env* set and no other DRIFTBOT_ENVIRONMENTS* one, the cache in tmp_path."""

    def apply(toml: str, env: dict[str, str]) -> None:
        config = tmp_path / "driftbot.toml"
        config.write_text(toml)
        for key in list(os.environ):
            if key.startswith("DRIFTBOT_ENVIRONMENTS"):
                monkeypatch.delenv(key)
        monkeypatch.setenv("DRIFTBOT_CONFIG", str(config))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("DRIFTBOT_CACHE_DIR", str(tmp_path / "cache"))

    return apply
