"""Operating driftbot: ``driftbot doctor`` (``doctor``: what each environment's roles and the process need,
and have) and traces (``tracing``: optional OpenTelemetry).

Nothing is imported here: the modules below are imported by name (``from driftbot.ops import tracing``), so
the listeners, jobs and the Slack client can import ``tracing`` without loading ``doctor`` (which imports the
processes, and through them the listeners and jobs again).
"""
