"""driftbot: finds and fixes Prisma migration drift on PostgreSQL, from Slack."""

__version__ = "0.1.0"
