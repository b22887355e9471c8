"""The adaptive tree size: each step, the number of nodes that is expected to give
the most tokens per second, from this step's own estimates.

The drafter builds its tree best first up to the budget ceiling, each node with an
estimate of its chance of acceptance given its parent's (``racer.drafting.calibration``). A
tree of the first b created nodes then gets, in expectation, 1 + A(b) tokens, where
A(b) is the sum of those nodes' path probabilities (the product of the estimates from
the root down: the chance that the node is accepted). It costs c(b): the verify
forward measured for b nodes once per model (``TargetModel.verify_costs``), scaled by
how slow this run's forwards are against that measurement, plus this run's drafting
and bookkeeping time per step. The size chosen maximises (1 + A(b)) / c(b).

So a step whose context has a long, reliable match gets a deep tree, and a step with
no evidence decodes plainly (b = 1). Every EXPLORE_EVERY steps the size is doubled
(at least 2 nodes), so that a table that underrates some evidence still sees it
verified and recovers.
"""
from __future__ import annotations

from racer.engine.tree import DraftTree

EXPLORE_EVERY = 8   # one step in eight verifies a bigger tree than the estimates ask for
DECAY = 0.8         # weight of the past in the running means of time (~5 steps of memory)


class AdaptiveBudget:
    def __init__(self, costs: dict[int, float]) -> None:
        """costs: {tree size: seconds per verify forward} measured for a few sizes."""
        self._sizes = sorted(costs)
        self._costs = costs
        self._scale = 1.0      # observed / measured verify time
        self._overhead = 0.0   # seconds per step outside the verify forward
        self._steps = 0
        self.explored = False  # the last choice was an exploration step's bigger tree

    def cost(self, size: int) -> float:
        """Predicted seconds for a step with a tree of ``size`` nodes: the verify
        forward (linear interpolation of the measured curve, linear beyond its end)
        plus drafting and bookkeeping."""
        sizes, costs = self._sizes, self._costs
        if size <= sizes[0]:
            verify = costs[sizes[0]]
        elif size >= sizes[-1]:
            verify = costs[sizes[-1]] * size / sizes[-1]
        else:
            hi = next(i for i, s in enumerate(sizes) if s >= size)
            lo = hi - 1
            frac = (size - sizes[lo]) / (sizes[hi] - sizes[lo])
            verify = costs[sizes[lo]] + frac * (costs[sizes[hi]] - costs[sizes[lo]])
        return verify * self._scale + self._overhead

    def expected(self, tree: DraftTree) -> list[float]:
        """expected[b] = expected accepted drafts of the tree's first b created nodes
        (expected[1] = 0: the root alone)."""
        probs = tree.path_probs()
        by_creation = sorted(range(1, len(tree)), key=lambda i: tree.created[i])
        out = [0.0, 0.0]
        for i in by_creation:
            out.append(out[-1] + probs[i])
        return out

    def choose(self, tree: DraftTree) -> int:
        """How many of ``tree``'s nodes (in creation order) to verify this step."""
        self._steps += 1
        expected = self.expected(tree)
        best, best_rate = 1, 1.0 / self.cost(1)
        for b in range(2, len(tree) + 1):
            rate = (1.0 + expected[b]) / self.cost(b)
            if rate > best_rate:
                best, best_rate = b, rate
        explore = min(len(tree), max(2, 2 * best)) if self._steps % EXPLORE_EVERY == 0 else best
        self.explored = explore != best
        return explore

    def observe(self, size: int, verify_s: float, other_s: float) -> None:
        """One step's times: its verify forward of ``size`` nodes and the rest."""
        measured = self.cost(size) - self._overhead
        if measured > 0 and verify_s > 0:
            self._scale = DECAY * self._scale + (1 - DECAY) * self._scale * verify_s / measured
        self._overhead = DECAY * self._overhead + (1 - DECAY) * other_s
