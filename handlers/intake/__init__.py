"""Intake: what the listeners hand their payloads to. Parse, authorise, record in the state database,
enqueue for a worker, and answer the asker within Slack's 3 seconds; never a target database."""
