"""Operations -> text: Prisma-style SQL (``render_sql``) and Prisma's drift summary (``render_summary``)."""

from bot.engine.render.sql import EMPTY, render_sql
from bot.engine.render.summary import render_summary

__all__ = ["render_sql", "render_summary", "EMPTY"]
