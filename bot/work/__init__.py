"""The worker side: queue names and enqueueing, the RQ entry points, and the sweeper."""
