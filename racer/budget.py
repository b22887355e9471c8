"""The adaptive draft budget: each step, pick the tree size that is expected to give
the most tokens per second on this machine.

For a candidate size b the expected gain per step is (1 + a(b)) tokens, where a(b)
is the number of drafted tokens a tree of b nodes would have got accepted, and the
cost is c(b) seconds. a(b) is learned from every verified tree without extra
forwards: a drafter creates nodes best first (``DraftTree.created``), so the tree a
budget b would have built is the first b created nodes, and its accepted length is
the accepted path cut at the first node created later than b. c(b) is a cost curve
measured once per model (``TargetModel.verify_costs``), scaled by the ratio of
observed to predicted step time, so it follows drift such as a growing context.

b = 1 (plain decoding) is always a candidate, so when drafts do not pay the engine
decodes plainly; every EXPLORE_EVERY steps it tries one size up to keep learning.
"""
from __future__ import annotations

from .tree import DraftTree

CANDIDATES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
EXPLORE_EVERY = 6   # one step in six probes a bigger tree
DECAY = 0.8         # weight of the past in the running averages (~5 steps of memory)


class AdaptiveBudget:
    def __init__(self, costs: dict[int, float]) -> None:
        """costs: {tree size: seconds per step} measured for a few sizes."""
        self._sizes = sorted(costs)
        self._costs = costs
        self._accepted: dict[int, float] = {}  # b -> running mean of a(b)
        self._scale = 1.0                      # observed / predicted step time
        self._steps = 0
        self._last = 1

    def cost(self, size: int) -> float:
        """Predicted seconds for a step with a tree of ``size`` nodes (linear
        interpolation of the measured curve, flat beyond its ends)."""
        sizes, costs = self._sizes, self._costs
        if size <= sizes[0]:
            return costs[sizes[0]] * self._scale
        for lo, hi in zip(sizes, sizes[1:]):
            if size <= hi:
                frac = (size - lo) / (hi - lo)
                return (costs[lo] + frac * (costs[hi] - costs[lo])) * self._scale
        return costs[sizes[-1]] * size / sizes[-1] * self._scale

    def choose(self, ceiling: int) -> int:
        """The budget for the next step, at most ``ceiling``."""
        self._steps += 1
        options = [b for b in CANDIDATES if b <= ceiling] or [1]
        if ceiling not in options and ceiling > 1:
            options.append(ceiling)
        # an untried size is assumed as good as the best tried size below it
        best, best_rate, known = 1, 1.0 / self.cost(1), 0.0
        for b in options:
            known = self._accepted.get(b, known)
            rate = (1.0 + known) / self.cost(b)
            if rate > best_rate:
                best, best_rate = b, rate
        if self._steps % EXPLORE_EVERY == 0:
            bigger = [b for b in options if b > best]
            if bigger:
                best = bigger[0]
        self._last = best
        return best

    def observe(self, tree: DraftTree, accepted: tuple[int, ...], budget: int, seconds: float) -> None:
        """Learns from one verified tree built under ``budget``: what every budget up
        to it would have accepted, and how long the step took."""
        size = len(tree)
        for b in CANDIDATES:
            if b > budget:
                break
            got = 0
            for node in accepted[1:]:
                if tree.created[node] >= b:
                    break
                got += 1
            old = self._accepted.get(b)
            self._accepted[b] = got if old is None else DECAY * old + (1 - DECAY) * got
        predicted = self.cost(size) / self._scale
        if predicted > 0 and seconds > 0:
            self._scale = DECAY * self._scale + (1 - DECAY) * (seconds / predicted)
