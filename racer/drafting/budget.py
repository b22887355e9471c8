"""The adaptive tree size: each step, the number of nodes that is expected to give
the most tokens per second, from this step's own estimates, and never a tree where
plain decoding is expected to do as well.

The drafter builds its tree best first up to the budget ceiling, each node with an
estimate of its chance of acceptance given its parent's (``racer.drafting.calibration``). A
tree of the first b created nodes then gets, in expectation, 1 + A(b) tokens, where
A(b) is the sum of those nodes' path probabilities (the product of the estimates from
the root down: the chance that the node is accepted). It costs c(b). The size chosen
maximises (1 + A(b)) / c(b), and a tree is chosen over the root alone only when it is
expected to beat plain decoding by MARGIN.

Three things keep that expectation honest in practice:

- **Costs from live steps.** c(b) starts from the verify forward measured once per model
  (``TargetModel.verify_costs``), made monotone in b (a bigger tree never costs less:
  the measured curve's noise is pooled away), then follows this run's own steps:
  - every plain step's forward scales the curve by how slow forwards are now against
    the measurement, so load from other processes is seen;
  - each tree size learns from its own forwards how far it parts from the scaled curve.
    A 2-node forward that measured level with a 1-node one at start-up, but costs 1.3x
    it while decoding, stops being bought on that measurement. A run of trees alone
    moves no plain step's cost, so in doubt it falls back to plain steps, which move
    the scale again;
  - drafting and bookkeeping are added: what a plain step spends outside its forward,
    and what each further tree node adds to that, each learned from steps of its kind.
- **Estimates checked against outcomes.** Every step's proposal is judged by the
  model's own picks (``DraftTree.judged``: the nodes the forward tested, and those the
  budget cut whose parent the model's path reached), and the estimates of the judged
  nodes are weighed against how many were right. Each estimate is scaled down by that
  ratio when the drafter has been optimistic (``trust``, at most 1), so a node at depth
  d counts trust^d of its path probability: an overrated table stops buying deep trees
  on a chain of its guesses, and a plain step already teaches it.
- **Exploration paid for out of gains.** Every EXPLORE_EVERY steps the size is doubled
  (at least 2 nodes), so that guesses the table underrates still get checked, but only
  while the time this run has saved over plain decoding covers the extra cost.

Left out on purpose: the trees themselves (``racer.drafting.growth``), and any model of
how estimates interact within a tree beyond their product along a path.
"""
from __future__ import annotations

from typing import Sequence

from racer.drafting.growth import Enough
from racer.engine.tree import DraftTree

EXPLORE_EVERY = 8   # one step in eight may verify a bigger tree than the estimates ask for
DECAY = 0.8         # weight of the past in the running means of time (~5 steps of memory)
TRUST_DECAY = 0.95  # weight of the past in predicted vs accepted drafts (~20 trees)
TRUST_PRIOR = 2.0   # pseudo-drafts on both sides: no verdict on the drafter from one tree
MARGIN = 0.05       # a tree must be expected to beat plain decoding by 5%: in doubt, plain


def monotone(costs: dict[int, float]) -> dict[int, float]:
    """The measured cost curve made non-decreasing in the tree size (pool adjacent
    violators: a size that measured cheaper than a smaller one shares their mean).

    >>> monotone({1: 1.0, 2: 1.2, 4: 1.1, 8: 1.6})
    {1: 1.0, 2: 1.15, 4: 1.15, 8: 1.6}
    """
    blocks: list[list[float]] = []  # [sum, count] per pooled block, in size order
    for size in sorted(costs):
        blocks.append([costs[size], 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    values = [round(total / count, 12) for total, count in blocks for _ in range(count)]
    return dict(zip(sorted(costs), values))


class AdaptiveBudget:
    def __init__(self, costs: dict[int, float]) -> None:
        """costs: {tree size: seconds per verify forward} measured for a few sizes."""
        self._costs = monotone(costs)
        self._sizes = sorted(self._costs)
        self._scale = 1.0      # observed / measured verify time
        self._shape: dict[int, float] = {}  # per tree size (> 1): its forwards / the scaled curve
        self._overhead = 0.0   # seconds per plain step outside the verify forward
        self._node_overhead = 0.0  # and per extra tree node (drafting it, checking it, updating on it)
        self._curve: dict[int, float] = {}  # cost(size) as computed since the last observe
        self._steps = 0
        self._predicted = TRUST_PRIOR  # sum of the judged nodes' estimates, lately (decayed)
        self._accepted = TRUST_PRIOR   # and how many of them the model's picks bore out
        self.gained_s = 0.0    # seconds this run is estimated to have saved over plain decoding
        self.explored = False  # the last choice was an exploration step's bigger tree
        self.stopped = False   # this step's drafting stopped early (``enough_rule``)

    @property
    def trust(self) -> float:
        """Judged guesses borne out over their estimates, lately: how far to believe each
        estimate (at most 1: an underrated drafter is left to exploration)."""
        return min(1.0, self._accepted / self._predicted)

    def cost(self, size: int) -> float:
        """Predicted seconds for a step with a tree of ``size`` nodes: the verify
        forward scaled by this run's forwards, plus drafting and bookkeeping, which grow
        with the tree (a 16-node step's took 4-6 ms against 1 ms for a plain step's).
        Kept until the next ``observe``: a step reads the curve twice (``enough_rule``,
        then ``best``)."""
        cost = self._curve.get(size)
        if cost is None:
            cost = self._curve[size] = (self._verify(size) * self._scale * self._correction(size)
                                        + self._overhead + (size - 1) * self._node_overhead)
        return cost

    def _correction(self, size: int) -> float:
        """How far ``size``'s verify forwards part from the scaled curve in this run: its
        own ratio once verified, else that of the nearest size verified (the smaller on a
        tie), else 1. A plain step's is 1 by definition (the scale follows it)."""
        if size == 1 or not self._shape:
            return 1.0
        if size in self._shape:
            return self._shape[size]
        return self._shape[min(self._shape, key=lambda s: (abs(s - size), s))]

    def _verify(self, size: int) -> float:
        """The measured verify forward of ``size`` nodes: linear interpolation of the
        monotone curve, linear beyond its end."""
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
        return verify

    def break_even(self, size: int) -> float:
        """The expected accepted drafts at which a tree of ``size`` nodes is chosen over
        the root alone: (1 + MARGIN) c(size) / c(1) - 1, rising with the size.

        >>> round(AdaptiveBudget({1: 0.010, 4: 0.012, 16: 0.020}).break_even(4), 2)
        0.26
        """
        return (1.0 + MARGIN) * self.cost(size) / self.cost(1) - 1.0

    def expected(self, tree: DraftTree, trust: float = 1.0) -> list[float]:
        """expected[b] = expected accepted drafts of the tree's first b created nodes
        (expected[1] = 0: the root alone): their path probabilities, each estimate on a
        path scaled by ``trust`` (1: as the drafter's estimates say)."""
        probs = tree.path_probs()
        by_creation = sorted(range(1, len(tree)), key=lambda i: tree.created[i])
        out = [0.0, 0.0]
        for i in by_creation:
            out.append(out[-1] + probs[i] * trust ** tree.depths[i])
        return out

    def best(self, expected: list[float]) -> int:
        """The size with the most expected tokens per second, 1 unless a tree beats
        plain decoding by MARGIN (``expected`` as ``expected`` gives it, trust applied)."""
        plain_rate = 1.0 / self.cost(1)
        best, best_rate = 1, plain_rate * (1.0 + MARGIN)
        for b in range(2, len(expected)):
            rate = (1.0 + expected[b]) / self.cost(b)
            if rate > best_rate:
                best, best_rate = b, rate
        return best

    def enough_rule(self, ceiling: int) -> Enough | None:
        """For the drafter's growth (``racer.drafting.growth.grow``) this step: a rule that
        stops drafting once no bigger tree could be chosen, so a step headed for plain
        decoding drafts a node or two rather than ``ceiling``. None on a step that may
        explore (it needs the whole tree).

        Growth is best first, so no node still to come has a path probability above the
        next candidate's, p, and with trust t <= 1 none counts more than t p (a drafted
        node is at depth 1 or more): a tree of b + k nodes expects at most A(b) + k t p
        accepted drafts. Once that bound, at every size up to the ceiling, is no better
        than the best rate so far (plain decoding's with MARGIN included), ``best`` would
        pick among the nodes already drafted: the tree chosen is the one a full draft gives.
        """
        self.stopped = False
        if (self._steps + 1) % EXPLORE_EVERY == 0:
            return None
        trust = self.trust
        costs = [self.cost(b) for b in range(1, ceiling + 1)]
        best_rate = (1.0 + MARGIN) / costs[0]
        nodes, expected = 1, 0.0

        def enough(added: tuple[float, int] | None, next_prob: float) -> bool:
            nonlocal best_rate, nodes, expected
            if added is not None:
                path_prob, depth = added
                nodes, expected = nodes + 1, expected + path_prob * trust ** depth
                best_rate = max(best_rate, (1.0 + expected) / costs[nodes - 1])
            reach = trust * next_prob
            self.stopped = all((1.0 + expected + k * reach) / costs[nodes - 1 + k] <= best_rate
                               for k in range(1, ceiling - nodes + 1))
            return self.stopped

        return enough

    def choose(self, tree: DraftTree) -> int:
        """How many of ``tree``'s nodes (in creation order) to verify this step."""
        self._steps += 1
        best = self.best(self.expected(tree, self.trust))
        size = best
        if self._steps % EXPLORE_EVERY == 0:
            bigger = min(len(tree), max(2, 2 * best))
            if self.gained_s >= self.cost(bigger) - self.cost(best):  # paid for out of gains
                size = bigger
        self.explored = size != best
        return size

    def observe(self, size: int, verify_s: float, other_s: float, accepted: int | None = None,
                judged: Sequence[tuple[float, bool]] = ()) -> None:
        """One step's times (its verify forward of ``size`` nodes and the rest), how many
        drafts were accepted, and (estimate, borne out) for each judged node of the
        step's proposal (``DraftTree.judged``)."""
        plain_s = self.cost(1)  # what a plain step costs now, before this step's times move it
        measured = self._verify(size) * self._scale
        if measured > 0 and verify_s > 0:
            if size == 1:  # the load: plain steps move the whole curve
                self._scale = DECAY * self._scale + (1 - DECAY) * verify_s / self._verify(1)
            else:          # a tree's own departure from it (a tree-only run stays put on plain)
                self._shape[size] = DECAY * self._correction(size) + (1 - DECAY) * verify_s / measured
        if size == 1:
            self._overhead = DECAY * self._overhead + (1 - DECAY) * other_s
        else:
            per_node = max(0.0, other_s - self._overhead) / (size - 1)
            self._node_overhead = DECAY * self._node_overhead + (1 - DECAY) * per_node
        self._curve.clear()   # the times above moved it
        if judged:
            self._predicted = TRUST_DECAY * self._predicted + sum(e for e, _ in judged)
            self._accepted = TRUST_DECAY * self._accepted + sum(1 for _, hit in judged if hit)
        if accepted is not None:
            self.gained_s += (1 + accepted) * plain_s - (verify_s + other_s)
