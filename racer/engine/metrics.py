"""The numbers a run is judged by, each defined once, for the page, the comparison,
sweeps and the benchmark alike.

- MAT (mean accepted tokens): tokens out per target forward, prefill included. The
  benchmark also reports it as the authors count it (``mat_as_authors``) to compare
  with their paper.
- Speedup: plain decoding's seconds for the same tokens over the drafter's seconds,
  both summed from the engine's own step timings on the same machine, so UI time
  never counts. Above 1 the drafter was faster.
- A timeline: ``timeline[t]`` = engine seconds until t + 1 tokens were out (``racer.engine.records.timeline_of``); the
  speedup after T tokens compares two timelines at T.

Pure arithmetic on step records and numbers; running plain decoding to get a
timeline is ``racer.measure.baseline``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


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


# -- telling signal from noise --------------------------------------------------------------

MAX_REPEATS = 5     # runs per setting at most (each costs a whole pass over the prompts)
DEFAULT_REPEATS = 3


def spread(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(mean, lowest, highest) of repeated measurements: the interval a page shows is the
    range of the runs, nothing fitted. None without a value.

    >>> spread([1.0, 1.2, 1.1])
    (1.1, 1.0, 1.2)
    """
    if not values:
        return None
    return round(sum(values) / len(values), 12), min(values), max(values)


def plain_speedups(plain_seconds: Sequence[float]) -> list[float]:
    """Plain decoding measured against itself: the mean of the plain runs' seconds over
    each run's seconds. Its spread is how far a run differs from another by noise alone.

    >>> plain_speedups([2.0, 2.0]), plain_speedups([1.0, 3.0])
    ([1.0, 1.0], [2.0, 0.6666666666666666])
    """
    mean = sum(plain_seconds) / len(plain_seconds) if plain_seconds else 0.0
    return [mean / s for s in plain_seconds if s > 0]


def unrewarded(mat_value: float) -> bool:
    """True when nothing drafted was accepted as far as a page shows MAT (1.00 at two
    decimals): such a setting cannot be faster than plain decoding except by noise.

    >>> unrewarded(1.004), unrewarded(1.006)
    (True, False)
    """
    return round(mat_value, 2) <= 1.0


@dataclass(frozen=True)
class Verdict:
    """Which candidate stood out, and if none, why not.

    ``reason``: "winner"; "one run" (no spread measured); "no speedup" (nothing timed);
    "mat one" (the fastest accepted nothing); "plain" (its interval overlaps plain
    decoding's); "overlap" (its slowest run is no faster than another candidate's
    fastest: the runner-up's or any other's).
    ``leader``: the candidate with the highest mean speedup (None when nothing was
    timed); ``winner``: the leader when reason is "winner", else None;
    ``runner_up``: the second-highest mean; ``rival``: of the other candidates, the one
    whose fastest run was the fastest (the one the leader had to beat; often, not
    always, the runner-up)."""
    reason: str
    leader: object = None
    runner_up: object = None
    rival: object = None

    @property
    def winner(self):
        return self.leader if self.reason == "winner" else None


def standout(candidates: Sequence[tuple[object, float, Sequence[float]]],
             plain: Sequence[float]) -> Verdict:
    """The rule for calling a candidate best, one for Tune and Compare. ``candidates``:
    (key, MAT, speedups of its repeated runs); ``plain``: plain decoding's own speedups
    (``plain_speedups``). The leader (highest mean speedup) wins only if it accepted
    something (MAT above 1.00), was run at least twice, and the lowest of its runs is
    above the highest run of plain decoding and the highest run of *every* other
    candidate (not only the runner-up by mean: a third with a wide spread can reach
    higher).

    >>> standout([("a", 1.5, [1.3, 1.4]), ("b", 1.5, [1.0, 1.1])], [0.95, 1.05]).winner
    'a'
    >>> standout([("a", 1.5, [1.3, 1.4]), ("b", 1.5, [1.0, 1.35])], [0.95, 1.05]).reason
    'overlap'
    >>> v = standout([("a", 1.5, [1.3, 1.4]), ("b", 1.5, [1.2, 1.25]), ("c", 1.2, [1.0, 1.32])], [1.0])
    >>> v.reason, v.runner_up, v.rival
    ('overlap', 'b', 'c')
    """
    timed = [(key, m, list(v)) for key, m, v in candidates if v]
    if not timed:
        return Verdict("no speedup")
    ranked = sorted(timed, key=lambda c: -spread(c[2])[0])
    (key, m, runs), rest = ranked[0], ranked[1:]
    runner_key = rest[0][0] if rest else None
    rival = max(rest, key=lambda c: max(c[2]), default=None)  # ties: the first by mean
    rival_key = rival[0] if rival else None
    if unrewarded(m):
        reason = "mat one"
    elif len(runs) < 2:
        reason = "one run"
    elif plain and min(runs) <= max(plain):
        reason = "plain"
    elif rival is not None and min(runs) <= max(rival[2]):
        reason = "overlap"
    else:
        reason = "winner"
    return Verdict(reason, key, runner_key, rival_key)
