"""RACER speculative decoding, one step at a time (see README.md and docs/design.md).

The engine by concept: ``engine`` (settings, the draft tree, step records, verification,
the generation loop, the metrics), ``drafting`` (the automaton, the logits cache,
calibration, the adaptive budget, the drafters and their registry), ``model`` (loading,
the target model, precision and matrix-product backend, token text), ``inspect`` (what
the page explains of a step), ``measure`` (plain baselines, Compare, Tune's sweep) and
``bench`` (the benchmark). Importing the package does no work.
"""
from racer.errors import UserError

__all__ = ["UserError"]
