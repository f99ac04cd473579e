"""Operating driftbot: ``driftbot doctor`` (what each environment's roles and the process need, and have)."""

from bot.ops import doctor

__all__ = ["doctor"]
