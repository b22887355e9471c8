"""Plain decoding of the same prompt, timed the same way, for honest speedups.

The speedup the app and the benchmark report is (time plain decoding needed for
the first T tokens) / (time the drafter needed for the same T tokens), both summed
from the engine's own step timings on the same machine, so UI time never counts.
"""
from __future__ import annotations

from typing import Sequence

from .generate import Generation
from .model import TargetModel
from .settings import Settings


def plain_timeline(target: TargetModel, prompt_ids: Sequence[int], settings: Settings) -> list[float]:
    """timeline[t] = engine seconds plain decoding took to emit its first t + 1 tokens
    (prefill included), with the same max_new_tokens, temperature and seed."""
    gen = Generation(target, prompt_ids, settings.with_changes(drafter="plain", adaptive_budget=False))
    timeline, elapsed = [], 0.0
    for record in gen.steps():
        elapsed += record.timings.total_s
        timeline.extend([elapsed] * len(record.emitted))
    return timeline


def speedup_at(timeline: list[float], tokens: int, seconds: float) -> float | None:
    """Plain time for ``tokens`` tokens over ``seconds``; None when unknown (plain
    decoding stopped earlier, e.g. at EOS under sampling, or nothing measured)."""
    if tokens < 1 or seconds <= 0 or tokens > len(timeline):
        return None
    return timeline[tokens - 1] / seconds
