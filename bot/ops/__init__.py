"""Operating driftbot: ``driftbot doctor`` (what each environment's roles and the process need, and have)."""

from driftbot.ops import doctor

__all__ = ["doctor"]
