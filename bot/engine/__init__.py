"""The drift engine: pure logic plus psycopg and git. Never Slack, Redis or SQLAlchemy."""
