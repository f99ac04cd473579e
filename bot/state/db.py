"""Engine, sessions and the schema upgrade for the state database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from driftbot.errors import ConfigError

# Several processes starting at once serialise their upgrades on this lock.
UPGRADE_LOCK = 0x64726966  # "drif"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """A ``postgresql://`` URL as SQLAlchemy's psycopg 3 dialect wants it."""
    if not url:
        raise ConfigError("Setting `state_url` is missing: set DRIFTBOT_STATE_URL to a PostgreSQL URL.")
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ConfigError("Setting `state_url` must be a postgresql:// URL.")


def make_engine(url: str, **kwargs) -> Engine:
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {"connect_timeout": 5, "application_name": "driftbot-state"})
    return create_engine(sqlalchemy_url(url), **kwargs)


def sessions(engine: Engine, audit_keys=None) -> sessionmaker[Session]:
    """Sessions on *engine*; *audit_keys* (a ``driftbot.audit.Keyring``) key the audit events they record."""
    return sessionmaker(engine, expire_on_commit=False, info={"audit_keys": audit_keys} if audit_keys else None)


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the state schema to *revision*; safe when several processes start at once."""
    from alembic import command

    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": UPGRADE_LOCK})
        try:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": UPGRADE_LOCK})
            conn.commit()
