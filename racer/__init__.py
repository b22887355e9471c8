"""RACER speculative decoding, one step at a time (see README.md and docs/design.md).

The engine by concept: ``engine`` (settings, the draft tree, step records, verification,
the generation loop, the metrics), ``drafting`` (the automaton, the logits cache,
calibration, the adaptive budget, the drafters and their registry), ``model`` (loading,
the target model, precision and matrix-product backend, token text), ``inspect`` (what
the page explains of a step), ``measure`` (plain baselines, Compare, Tune's sweep) and
``bench`` (the benchmark). Importing the package does no work but set how idle threads wait (below).
"""
import os

# Thread pools that wait by spinning (OpenMP's: torch's intra-op pool) fall
# apart when anything else wants the same cores: with a test suite beside it, a one-token
# forward of SmolLM2-135M took 660-720 ms spinning and 84-112 ms waiting passively (2
# cores, docs/results.md). A browser drawing the page on the same machine is such a
# neighbour. It is read when the library loads, so before anything imports torch; a value
# set by the caller wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# OpenBLAS's workers spin for 2^28 cycles (about 0.1 s) after each product before they
# sleep. The lean forward (racer.model.lean) multiplies one row with OpenBLAS and more rows
# with torch, and spinning OpenBLAS workers then take a core from torch's: a 16-node verify
# right after a one-token step took 113 ms, and 78 ms with 2^18 cycles (about 0.1 ms; a
# one-token step 32 against 36 ms; docs/results.md). Read when numpy loads.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "18")

from racer.errors import UserError  # noqa: E402

__all__ = ["UserError"]
