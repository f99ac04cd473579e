"""The daily digest: its content (pure), its schedule and clock, and its jobs on the worker queue."""
