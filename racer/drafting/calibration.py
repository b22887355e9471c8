"""How likely is a drafted token to be accepted? Evidence per node, and a table that
turns evidence into a calibrated estimate and learns from every verified tree.

Every draft candidate carries ``Evidence``: what the logits cache said (rank, the
target's probability when it last processed the parent token, and how long ago that
was), what retrieval said
(the length of the match it continues, how often it followed that match, whether it
followed the latest occurrence), or what prompt lookup said. ``Calibration`` keeps,
per bucket of evidence, a decayed count of how often such a node was accepted given
that its parent was, on top of a starting estimate measured beforehand on other
prompts (``racer.measure.fit_prior``; the raw evidence where that has no data):

    estimate = (hits + PRIOR_WEIGHT * start) / (seen + PRIOR_WEIGHT)

Each verified tree is a batch of labelled examples: every node whose parent was
accepted was either accepted or rejected; nodes below a rejection say nothing.

Left out on purpose: any dependence on the token ids themselves (the table stays a
few dozen cells, learns within a few steps and costs nothing to look up).
"""
from __future__ import annotations

import ast
import json
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

# Measured acceptance per bucket on Spec-Bench prompts outside the benchmark's
# (``python -m racer.measure.fit_prior``); absent buckets start from the raw evidence alone.
FITTED = Path(__file__).resolve().parent.parent / "data" / "calibration_prior.json"

PRIOR_WEIGHT = 4.0   # the starting table counts as this many observations of each cell
DECAY = 0.99         # each new observation of a cell shrinks the old ones (memory ~100)
PROB_EDGES = (0.05, 0.15, 0.3, 0.5, 0.7, 0.9)     # 7 buckets of the cached probability
MATCH_EDGES = (2, 3, 5, 8)                        # matches of 1 (the root alone), 2, 3-4, 5-7, 8+ tokens
RATIO_EDGES = (0.34, 0.67, 0.999)                 # how often it followed: <1/3, <2/3, <1, always
AGE_EDGES = (2, 16, 64)   # a row written at the parent's own position is the most telling
# A match of m tokens, followed every time, is accepted about this often before any
# observation (a guess; the table replaces it within a few steps).
MATCH_PRIOR = {0: 0.15, 1: 0.3, 2: 0.45, 3: 0.6, 4: 0.75}


@dataclass(frozen=True)
class Evidence:
    """Why a node was drafted. Fields of a source that did not propose it are None."""
    rank: Optional[int] = None     # logits cache: 0 = the cached top-1
    prob: Optional[float] = None   # logits cache: the target's probability then
    age: Optional[int] = None      # logits cache: context tokens since that row was written
    match: Optional[int] = None    # retrieval / prompt lookup: tokens matched before it
    count: Optional[int] = None    # retrieval: times it followed the match
    total: Optional[int] = None    # retrieval: times the match occurred
    latest: bool = False           # retrieval: it followed the latest occurrence
    lookup: bool = False           # prompt lookup's chain (match = n-gram length)

    @property
    def from_logits(self) -> bool:
        return self.rank is not None

    @property
    def from_retrieval(self) -> bool:
        return self.count is not None

    def merged(self, other: "Evidence") -> "Evidence":
        """Both sources proposed the same token: keep each one's fields."""
        logits, retrieval = (self, other) if self.from_logits else (other, self)
        return Evidence(logits.rank, logits.prob, logits.age, retrieval.match, retrieval.count,
                        retrieval.total, retrieval.latest)

    def describe(self) -> str:
        """A short account for hover text.

        >>> Evidence(rank=0, prob=0.81, age=1, match=9, count=3, total=3).describe()
        'cached #1 at p=0.81 · followed a 9-token match 3 of 3 times'
        """
        parts = []
        if self.from_logits:
            parts.append(f"cached #{self.rank + 1} at p={self.prob:.2f}")
        if self.from_retrieval:
            parts.append(f"followed a {self.match}-token match {self.count} of {self.total} times"
                         + (" (the latest)" if self.latest and self.total > 1 else ""))
        if self.lookup:
            parts.append(f"copied after the latest {self.match}-token match")
        return " · ".join(parts)


def bucket_key(e: Evidence) -> tuple:
    """The table cell of a piece of evidence.

    >>> bucket_key(Evidence(rank=0, prob=0.95, age=1))
    ('logits', 0, 6, 0)
    >>> bucket_key(Evidence(match=9, count=3, total=3, latest=True))
    ('retrieval', 4, 3, True, True)
    """
    if e.lookup:
        return ("lookup", _bucket(e.match, MATCH_EDGES))
    if e.from_logits and e.from_retrieval:
        return ("both", _bucket(e.prob, PROB_EDGES), _bucket(e.match, MATCH_EDGES))
    if e.from_logits:
        return ("logits", min(e.rank, 3), _bucket(e.prob, PROB_EDGES), _bucket(e.age, AGE_EDGES))
    return ("retrieval", _bucket(e.match, MATCH_EDGES), _bucket(e.count / max(1, e.total), RATIO_EDGES),
            e.latest, e.total > 1)


def prior(e: Evidence) -> float:
    """What the raw evidence suggests before any observation, in (0, 1)."""
    p_retrieval = p_logits = 0.0
    if e.from_logits:
        p_logits = e.prob
    if e.from_retrieval or e.lookup:
        ratio = 1.0 if e.lookup else e.count / max(1, e.total)
        p_retrieval = MATCH_PRIOR[_bucket(e.match, MATCH_EDGES)] * ratio
    p = 1.0 - (1.0 - p_logits) * (1.0 - p_retrieval)   # either source may be right
    return min(0.98, max(0.01, p))


class Calibration:
    """A table {evidence bucket: (decayed hits, decayed observations)} learned during a
    generation, on top of a starting estimate per bucket."""

    def __init__(self, fitted: dict[tuple, tuple[int, int]] | None = None) -> None:
        """fitted: {bucket: (accepted, tested)} measured beforehand; default: the
        table shipped in racer/data (see ``racer.measure.fit_prior``)."""
        self._fitted = fitted_table() if fitted is None else fitted
        self._cells: dict[tuple, list[float]] = {}

    def start(self, e: Evidence, key: tuple | None = None) -> float:
        """The estimate before this generation observed anything: the measured rate of
        its bucket (``key``, if the caller has it), pulled towards what the raw evidence
        suggests when few were measured."""
        hits, tested = self._fitted.get(bucket_key(e) if key is None else key, (0, 0))
        return (hits + 2.0 * prior(e)) / (tested + 2.0)

    def estimate(self, e: Evidence) -> float:
        """P(accepted | parent accepted) for a node with evidence ``e``."""
        key = bucket_key(e)
        hits, seen = self._cells.get(key, (0.0, 0.0))
        return (hits + PRIOR_WEIGHT * self.start(e, key)) / (seen + PRIOR_WEIGHT)

    def observe(self, e: Evidence, accepted: bool) -> None:
        cell = self._cells.setdefault(bucket_key(e), [0.0, 0.0])
        cell[0] = DECAY * cell[0] + float(accepted)
        cell[1] = DECAY * cell[1] + 1.0

    def cells(self) -> dict[tuple, tuple[float, float]]:
        """A copy of the table: {bucket: (hits, observations)}."""
        return {k: (h, n) for k, (h, n) in self._cells.items()}


@lru_cache(maxsize=1)
def fitted_table() -> dict[tuple, tuple[int, int]]:
    """The shipped starting table; {} if the file is missing."""
    if not FITTED.exists():
        return {}
    cells = json.loads(FITTED.read_text())["cells"]
    return {ast.literal_eval(k): (int(h), int(n)) for k, (h, n) in cells.items()}


def _bucket(value: float, edges: tuple) -> int:
    return bisect_right(edges, value)


# -- how well the estimates held up over a run --------------------------------------

@dataclass(frozen=True)
class ReliabilityBin:
    """The tested nodes whose estimate fell in [low, high)."""
    low: float
    high: float
    tested: int        # nodes the target tested (their parent was accepted)
    estimated: float   # their mean estimate
    observed: float    # the share of them accepted


class Reliability:
    """Estimated against observed acceptance over a run: every node the target tested
    (``DraftTree.tested``), binned by its estimate. A well calibrated drafter's bins sit
    on the diagonal. Keeps three numbers per bin, however long the run.

    >>> r = Reliability(bins=2)
    >>> r.add(0.8, True); r.add(0.9, False); r.add(0.2, False)
    >>> [(b.tested, round(b.estimated, 2), b.observed) for b in r.bins()]
    [(1, 0.2, 0.0), (2, 0.85, 0.5)]
    """

    def __init__(self, bins: int = 10) -> None:
        self._sums = [[0.0, 0, 0] for _ in range(bins)]   # per bin: sum of estimates, accepted, tested

    def add(self, estimate: float, accepted: bool) -> None:
        cell = self._sums[min(len(self._sums) - 1, max(0, int(estimate * len(self._sums))))]
        cell[0] += estimate
        cell[1] += int(accepted)
        cell[2] += 1

    def add_step(self, tree, accepted) -> None:
        """Every tested node of one verified tree (a tree without estimates adds nothing)."""
        if tree is not None and tree.estimates:
            for i, hit in tree.tested(accepted):
                self.add(tree.estimates[i], hit)

    def bins(self) -> list[ReliabilityBin]:
        """The bins that hold at least one tested node, lowest estimates first."""
        n = len(self._sums)
        return [ReliabilityBin(k / n, (k + 1) / n, tested, total / tested, hits / tested)
                for k, (total, hits, tested) in enumerate(self._sums) if tested]
