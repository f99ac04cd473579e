"""Operations -> text: Prisma-style SQL (``render_sql``) and Prisma's drift summary (``render_summary``)."""

from driftbot.engine.render.sql import EMPTY, rebuild_index_sql, render_migration, render_sql, render_steps
from driftbot.engine.render.summary import render_summary

__all__ = ["render_sql", "render_migration", "render_steps", "render_summary", "rebuild_index_sql", "EMPTY"]
