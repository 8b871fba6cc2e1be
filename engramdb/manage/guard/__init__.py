"""A-MemGuard without a model: trust from provenance, screening at write, consensus at
consolidation, lessons from feedback, prompt hygiene (docs/guard.md)."""

from engramdb.manage.guard.guard import Guard, annotate, flags_of, rank_factor

__all__ = ["Guard", "annotate", "flags_of", "rank_factor"]
