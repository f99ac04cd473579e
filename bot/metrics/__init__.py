"""Prometheus metrics: what driftbot counts and times where it happens (``instruments``: the one call each
seam makes), and how the processes of a group add their counts up (``multiproc``). What is read at scrape
time (queues, approvals, drift state) and the ``/metrics`` answer live in ``driftbot.work.scrape``.

This room imports nothing of driftbot's: every layer may call it, and it calls none of them."""

import os

# prometheus_client turns multiprocess mode on when the variable exists, even empty (an env file's
# `PROMETHEUS_MULTIPROC_DIR=`, which driftbot reads as unset everywhere): empty is unset here too.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") == "":
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]
