"""The numbers a run is judged by, each defined once, for the page, the comparison,
sweeps and the benchmark alike.

- MAT (mean accepted tokens): tokens out per target forward, prefill included. The
  benchmark also reports it as the authors count it (``mat_as_authors``) to compare
  with their paper.
- Speedup: plain decoding's seconds for the same tokens over the drafter's seconds,
  both summed from the engine's own step timings on the same machine, so UI time
  never counts. Above 1 the drafter was faster.
- A timeline: ``timeline[t]`` = engine seconds until t + 1 tokens were out; the
  speedup after T tokens compares two timelines at T.

Pure arithmetic on step records and numbers; running plain decoding to get a
timeline is ``racer.baseline``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    from .records import StepRecord


def mat(tokens: int, forwards: int) -> float:
    """Tokens per target forward; 0.0 before the first forward.

    >>> mat(9, 4), mat(0, 0)
    (2.25, 0.0)
    """
    return tokens / forwards if forwards else 0.0


def mat_as_authors(tokens: int, overshoot: int, forwards: int, prompts: int) -> float | None:
    """MAT as the authors' evaluation counts it: tokens the last step accepted beyond the
    limit (``overshoot``) count, the prefill forward of each of ``prompts`` runs does not.
    None without a verify forward.

    >>> mat_as_authors(tokens=10, overshoot=2, forwards=5, prompts=1)
    3.0
    """
    verifies = forwards - prompts
    return (tokens + overshoot) / verifies if verifies > 0 else None


def speedup(plain_s: float, seconds: float) -> float | None:
    """How many times faster than plain decoding, given the seconds each took for the
    same tokens; None when either time is unknown (not positive).

    >>> speedup(3.0, 1.5), speedup(3.0, 0.0)
    (2.0, None)
    """
    if plain_s <= 0 or seconds <= 0:
        return None
    return plain_s / seconds


def timeline_of(records: Iterable["StepRecord"]) -> list[float]:
    """timeline[t] = engine seconds until t + 1 tokens were out (a step that emits
    three tokens gives three equal entries)."""
    timeline, elapsed = [], 0.0
    for r in records:
        elapsed += r.timings.total_s
        timeline.extend([elapsed] * len(r.emitted))
    return timeline


def speedup_at(timeline: Sequence[float], tokens: int, seconds: float) -> float | None:
    """Speedup of a run that took ``seconds`` for its first ``tokens`` tokens, against
    the plain ``timeline``; None when plain decoding stopped earlier (EOS under
    sampling) or nothing was measured.

    >>> speedup_at([0.5, 1.0, 1.5], tokens=3, seconds=0.5), speedup_at([0.5], 2, 0.5)
    (3.0, None)
    """
    if tokens < 1 or tokens > len(timeline):
        return None
    return speedup(timeline[tokens - 1], seconds)
