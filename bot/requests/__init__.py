"""Requests: the approval-bound plan, the request state machine (every transition), proposal and execution."""
