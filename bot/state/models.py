"""SQLAlchemy models of the state database. One module per concept would be
overkill while the tables are few; split when it grows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AuditEvent(Base):
    """One append-only audit event; ``hash`` chains it to the previous event."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str | None] = mapped_column(String(64))
    environment: Mapped[str | None] = mapped_column(String(64), index=True)
    request_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    key_id: Mapped[str | None] = mapped_column(String(16))  # which audit key made ``hash``; None: unkeyed


class Check(Base):
    """One run of the drift check for an environment, requested from Slack.

    At most one check per environment is queued or running (partial unique
    index): a second ``/drift status prod`` joins the running one (``watchers``).
    """

    __tablename__ = "checks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")  # queued|running|finished|lost
    requested_by: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    watchers: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, default=list)
    job_id: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(128))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(16))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # NULL once posted (or nothing to post); "failed" when Slack would not take it: the sweeper retries.
    post_state: Mapped[str | None] = mapped_column(String(16))
    post_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")

    __table_args__ = (
        Index("uq_checks_one_active", "environment", unique=True,
              postgresql_where=text("status IN ('queued', 'running')")),
        # an environment's finished checks, newest first: every result's trend and the digest
        Index("ix_checks_finished", "environment", text("finished_at DESC"),
              postgresql_where=text("status = 'finished'")),
    )


class Request(Base):
    """A proposed change waiting for (or past) approval. ``status`` moves only by compare-and-set:
    requested -> approved -> executing -> succeeded | failed; or rejected, cancelled, expired."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    sql: Mapped[str] = mapped_column(Text, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    plan_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="requested", index=True)
    requester: Mapped[str] = mapped_column(String(64), nullable=False)
    approvals_required: Mapped[int] = mapped_column(Integer, nullable=False)
    check_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str | None] = mapped_column(String(64))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    team_id: Mapped[str | None] = mapped_column(String(32))  # the workspace it was asked in
    approvers: Mapped[list[str] | None] = mapped_column(JSONB)  # the approver list configured when asked


class Approval(Base):
    """One approver's approval of one exact plan. Unique per (request, approver, plan): a second
    click counts once; approvals of an older plan no longer count once the plan changed."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, index=True)
    approver: Mapped[str] = mapped_column(String(64), nullable=False)
    plan_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (UniqueConstraint("request_id", "approver", "plan_hash", name="uq_approvals_once"),)


class Click(Base):
    """One delivered click (Slack's ``trigger_id`` and ``action_ts``): a second delivery, or a
    replay of the same signed request, finds the row and counts for nothing."""

    __tablename__ = "clicks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    trigger_id: Mapped[str] = mapped_column(String(64), nullable=False)
    action_ts: Mapped[str] = mapped_column(String(32), nullable=False)
    request_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    __table_args__ = (UniqueConstraint("trigger_id", "action_ts", name="uq_clicks_once"),)


class Execution(Base):
    """The one execution of a request: unique per request, so the database itself refuses a second."""

    __tablename__ = "executions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, unique=True)
    plan_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    worker: Mapped[str | None] = mapped_column(String(128))
    job_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(16))  # succeeded|failed|interrupted
    statements: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, default=list)
    message: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DigestRun(Base):
    """One digest: its claim (a scheduled digest is unique per period), the states it
    reported (compared by the next digest: "what changed") and the messages posted."""

    __tablename__ = "digest_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # scheduled|manual
    period: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="checking")  # checking|posted|failed
    environments: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    posts: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("period", name="uq_digest_runs_period"),)


class AckedWork(Base):
    """A job someone was told is on its way ("Preparing the request…"), recorded before it is queued:
    Redis may lose the job, this row not (driftbot.work.acked)."""

    __tablename__ = "acked_work"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64), nullable=False)  # the entry point's name in driftbot.work.jobs
    queue: Mapped[str] = mapped_column(String(16), nullable=False)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    asker: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_acked_work_open", "created_at", postgresql_where=text("status = 'queued'")),)
