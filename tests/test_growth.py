"""Best-first trees, calibrated estimates and the tree size per step (issue 8):
retrieval drafts at every budget, no node is created before a likelier candidate,
the table converges to known acceptance rates, and the size follows the evidence.
"""
from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from racer.drafting.budget import EXPLORE_EVERY, AdaptiveBudget
from racer.drafting.calibration import DECAY, Calibration, Evidence, bucket_key, prior
from racer.drafting.drafters import RacerDrafter, learn
from racer.drafting.growth import Candidate, grow
from racer.drafting.logits_cache import TopK
from racer.engine.settings import Settings
from racer.engine.tree import LOGITS, RETRIEVAL, TreeBuilder

PHRASE = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22]


def no_logits(n: int, width: int = 8) -> TopK:
    """Prefill rows that leave the logits cache empty-handed (all ids -1)."""
    return TopK(np.full((n, width), -1), np.zeros((n, width), dtype=np.float32))


def repeat_drafter(settings: Settings, use_logits: bool = True) -> RacerDrafter:
    """The phrase, noise, then the phrase's first 6 tokens again: with root 17 the
    context has a 6-token match (11..16) followed by 17 earlier, and the phrase goes
    on 18, 19, ... after it."""
    context = PHRASE + [1, 2, 3, 4, 5] + PHRASE[:6]
    d = RacerDrafter(vocab_size=64, use_logits=use_logits)
    d.reset(context, no_logits(len(context)), settings)
    return d


@pytest.mark.parametrize("budget", [2, 3, 4])
def test_a_long_match_drafts_its_continuation_at_small_budgets(budget):
    """The authors' pool counts the borders (here 6 of them) against the budget, so a
    budget of 2-4 drafted nothing; borders now cost nothing."""
    s = Settings(budget=budget, window=10)
    for use_logits in (True, False):
        tree, view = repeat_drafter(s, use_logits).propose(17, s, budget)
        assert view.matched == (11, 12, 13, 14, 15, 16)
        assert tree.tokens == (17,) + tuple(PHRASE[7:7 + budget - 1])
        assert set(tree.sources[1:]) == {RETRIEVAL}


def test_the_continuation_reaches_the_depth_cap():
    s = Settings(budget=16, depth=5, window=10)
    tree, _ = repeat_drafter(s).propose(17, s, 16)
    assert tree.tokens[:6] == (17, 18, 19, 20, 21, 22) and tree.max_depth == 5


# ------------------------------------------------------------------ best first


@pytest.mark.parametrize("seed", range(40))
def test_no_node_is_created_before_a_likelier_candidate(seed):
    """Random candidates and estimates; the queue is replayed from a log of every
    offer: each node, when created, has the highest path probability among all the
    candidates offered so far and not yet created."""
    rng = random.Random(seed)
    handles = itertools.count(1)
    offers: dict[int, list[tuple[int, int, float]]] = {}   # parent handle -> [(token, handle, path prob)]
    prob_of = {0: 1.0}

    def expand(token, handle):
        parent = handle[0]
        out = []
        for tok in rng.sample(range(50), rng.randint(0, 4)):
            h, est = next(handles), rng.random()
            prob_of[h] = prob_of[parent] * est
            offers.setdefault(parent, []).append((tok, h, prob_of[h]))
            out.append((Candidate(tok, LOGITS, Evidence(rank=0, prob=est, age=1), (h,)), est))
        return out

    budget, depth = rng.randint(2, 30), rng.randint(1, 5)
    tree = grow(0, (0,), budget, depth, expand)
    assert len(tree) <= budget and tree.max_depth <= depth
    handle_of = {0: 0}
    pending = {h: p for _, h, p in offers.get(0, [])}
    for i in sorted(range(1, len(tree)), key=lambda i: tree.created[i]):
        h = next(h for tok, h, _ in offers[handle_of[tree.parents[i]]] if tok == tree.tokens[i])
        handle_of[i] = h
        assert pending.pop(h) >= max(pending.values(), default=0.0) - 1e-12, "a likelier candidate waited"
        assert tree.path_probs()[i] == pytest.approx(prob_of[h])
        pending.update({c: p for _, c, p in offers.get(h, [])})
    if len(tree) < budget:   # stopped early: nothing was left to offer
        assert not pending


# ------------------------------------------------------------------ calibration


def test_calibration_converges_to_known_acceptance_rates():
    """A synthetic stream: logits-cache nodes whose true acceptance rate is 0.9 at
    cached probability 0.95 and 0.2 at probability 0.35 (a prior of 0.95 and 0.35),
    and retrieval nodes of 9-token matches accepted 0.6 of the time. After 2,000
    examples each estimate is within 0.08 of its true rate (the table forgets with
    a memory of about 100 examples, so its noise is about sqrt(.25 / 100) = 0.05)."""
    rng = random.Random(0)
    cal = Calibration(fitted={})   # start from the raw evidence
    cases = [(Evidence(rank=0, prob=0.95, age=1), 0.9), (Evidence(rank=1, prob=0.35, age=30), 0.2),
             (Evidence(match=9, count=3, total=3, latest=True), 0.6)]
    assert abs(cal.estimate(cases[1][0]) - 0.2) > 0.1   # the prior is off at first
    for _ in range(2000):
        evidence, rate = rng.choice(cases)
        cal.observe(evidence, rng.random() < rate)
    for evidence, rate in cases:
        assert abs(cal.estimate(evidence) - rate) < 0.08, (bucket_key(evidence), cal.estimate(evidence))


def test_learning_takes_only_nodes_whose_parent_was_accepted():
    """root 0 -> 1 -> 2, and 0 -> 3; accepted path 0, 1: node 1 is a hit, node 3 a
    miss, node 2 (below the accepted 1, rejected) a miss; nothing below a rejection."""
    b = TreeBuilder(root=0, max_nodes=10, max_depth=3)
    hit, miss = Evidence(rank=0, prob=0.5, age=3), Evidence(rank=1, prob=0.5, age=3)
    b.add_child(0, 1, LOGITS, 0.5, hit)
    b.add_child(0, 3, LOGITS, 0.5, miss)
    b.add_child(1, 2, LOGITS, 0.5, miss)
    b.add_child(2, 4, LOGITS, 0.5, hit)   # below the rejected 2: never tested
    tree = b.build()
    cal = Calibration()
    learn(cal, tree, accepted=(0, tree.tokens.index(1)))
    # two misses: the first one decayed once by the second
    assert cal.cells() == {bucket_key(hit): (1.0, 1.0), bucket_key(miss): (0.0, pytest.approx(1 + DECAY))}


def test_prior_reads_the_evidence():
    assert prior(Evidence(rank=0, prob=0.8, age=1)) == pytest.approx(0.8)
    assert prior(Evidence(match=9, count=1, total=2)) == pytest.approx(0.75 * 0.5)
    both = Evidence(rank=0, prob=0.5, age=1).merged(Evidence(match=2, count=1, total=1))
    assert prior(both) == pytest.approx(1 - 0.5 * 0.7)


def test_the_start_is_the_measured_rate_pulled_to_the_raw_evidence():
    """A bucket measured 30 of 100 times starts at (30 + 2 x raw) / 102; a bucket never
    measured starts at the raw evidence; observations then move it."""
    e = Evidence(rank=0, prob=0.95, age=1)
    cal = Calibration(fitted={bucket_key(e): (30, 100)})
    assert cal.start(e) == pytest.approx((30 + 2 * 0.95) / 102)
    assert cal.estimate(e) == pytest.approx(cal.start(e))
    other = Evidence(rank=1, prob=0.2, age=1)
    assert cal.start(other) == pytest.approx(0.2)
    for _ in range(50):
        cal.observe(e, True)
    assert cal.estimate(e) > 0.9


# ------------------------------------------------------------------ tree size


def chain(estimates: list[float]):
    b = TreeBuilder(root=0, max_nodes=len(estimates) + 1, max_depth=len(estimates))
    node = 0
    for k, e in enumerate(estimates, start=1):
        node = b.add_child(node, k, RETRIEVAL, e, Evidence(match=9, count=3, total=3))
    return b.build()


def star(estimates: list[float]):
    b = TreeBuilder(root=0, max_nodes=len(estimates) + 1, max_depth=1)
    for k, e in enumerate(estimates, start=1):
        b.add_child(0, k, LOGITS, e, Evidence(rank=k - 1, prob=e, age=1))
    return b.build()


COSTS = {1: 1.0, 2: 1.03, 4: 1.15, 8: 1.45, 16: 2.0, 32: 3.0, 64: 5.0}  # 16 nodes: 2x one


def test_a_long_reliable_match_gets_a_deep_tree_and_no_evidence_a_small_one():
    sizer = AdaptiveBudget(COSTS)
    deep = sizer.choose(chain([0.95] * 15))
    weak = sizer.choose(star([0.02] * 15))
    assert deep >= 12 and weak == 1
    # a 2-node tree costs 3% more than plain decoding, and must beat it by MARGIN (5%):
    # 1.05 x 1.03 - 1 = 8.15% is the break-even chance; 8% does not pay, 9% does
    assert sizer.choose(star([0.08])) == 1
    assert sizer.choose(star([0.09])) == 2
    # expected accepted drafts of the chosen deep tree: 0.95 + 0.95^2 + ...
    assert sizer.expected(chain([0.95] * 15))[3] == pytest.approx(0.95 + 0.95 ** 2)


def test_the_size_stops_where_the_next_node_costs_more_than_it_brings():
    """Chain of estimates 0.9 then 0.1: the second node adds 0.09 expected tokens
    for 0.03 more time on 1.93 tokens -> not worth it (1.93/1.03 > 2.02/1.09...)."""
    sizer = AdaptiveBudget({1: 1.0, 2: 1.03, 3: 1.09, 16: 2.0})
    assert sizer.choose(chain([0.9, 0.1])) == 2


def test_exploration_doubles_the_size_now_and_then_when_gains_pay_for_it():
    sizer = AdaptiveBudget(COSTS)
    choices = [sizer.choose(star([0.02] * 15)) for _ in range(EXPLORE_EVERY)]
    assert choices == [1] * EXPLORE_EVERY  # nothing gained yet: no exploration
    sizer.observe(8, verify_s=1.45, other_s=0.0, accepted=4)  # 5 tokens for 1.45 s: 3.55 s gained
    assert sizer.gained_s == pytest.approx(5 * 1.0 - 1.45)
    choices = [sizer.choose(star([0.02] * 15)) for _ in range(EXPLORE_EVERY)]
    assert choices[:-1] == [1] * (EXPLORE_EVERY - 1) and choices[-1] == 2 and sizer.explored


def test_an_optimistic_drafter_loses_trust_and_then_its_trees():
    """Trees expected to bring 3 drafts that bring none: after a few, the same evidence
    buys plain steps; the trust comes back as its guesses are borne out again, on plain
    steps too (the proposal the budget cut is judged by the model's picks)."""
    sizer = AdaptiveBudget(COSTS)
    tree = chain([0.8] * 15)
    assert sizer.choose(tree) > 4 and sizer.trust == 1.0
    sizes = []
    for _ in range(20):
        sizes.append(sizer.choose(tree))
        sizer.observe(sizes[-1], verify_s=sizer.cost(sizes[-1]), other_s=0.0, accepted=0,
                      judged=[(0.8, False)])   # the first guess, wrong
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1 and sizer.trust < 0.1
    for _ in range(40):
        sizer._steps = 1  # no exploration: only the trust moves
        size = sizer.choose(tree)
        sizer.observe(size, verify_s=sizer.cost(size), other_s=0.0, accepted=0,
                      judged=[(0.8, True), (0.8, True)])   # a plain step: the first two guesses right
    assert sizer.trust == 1.0 and sizer.choose(tree) > 4


def test_trust_counts_per_estimate_so_deep_guesses_fall_faster():
    """At trust 0.5 a node at depth d counts 0.5^d of its path probability: a chain of
    0.9 guesses expects 0.45 + 0.2 + ... rather than half of 0.9 + 0.81 + ..."""
    sizer = AdaptiveBudget(COSTS)
    sizer._predicted, sizer._accepted = 4.0, 2.0
    expected = sizer.expected(chain([0.9] * 3), sizer.trust)
    assert expected[2:] == pytest.approx([0.45, 0.45 + 0.45 ** 2, 0.45 + 0.45 ** 2 + 0.45 ** 3])


def test_the_cost_curve_is_monotone_in_the_tree_size():
    """A measured curve where 8 nodes came out cheaper than 4 (noise) is pooled, so the
    break-even chances the page shows rise with the tree size."""
    sizer = AdaptiveBudget({1: 1.0, 2: 1.3, 4: 1.6, 8: 1.2, 16: 2.0})
    costs = [sizer.cost(b) for b in range(1, 17)]
    assert costs == sorted(costs) and sizer.cost(4) == sizer.cost(8) == pytest.approx(1.4)


def test_cost_curve_interpolates_and_follows_observed_times():
    sizer = AdaptiveBudget({1: 1.0, 9: 2.0})
    assert sizer.cost(5) == 1.5
    assert sizer.cost(18) == 4.0  # linear beyond the last measured size
    for _ in range(50):           # this run's forwards take twice as long, plus 0.5 s of drafting
        sizer.observe(5, verify_s=3.0, other_s=0.5)
    assert sizer.cost(5) == pytest.approx(3.0 + 0.5, rel=0.01)


def test_drafting_and_bookkeeping_are_learned_per_node():
    """Plain steps spend 1 ms outside the forward, 16-node steps 6 ms: a tree's cost grows by
    what its nodes add, and a plain step's stays what plain steps spend."""
    sizer = AdaptiveBudget({1: 0.030, 16: 0.070})
    for _ in range(60):
        sizer.observe(1, verify_s=0.030, other_s=0.001)
        sizer.observe(16, verify_s=0.070, other_s=0.006, accepted=1)
    assert sizer.cost(1) == pytest.approx(0.031, rel=0.01)
    assert sizer.cost(16) == pytest.approx(0.076, rel=0.01)
    assert sizer.cost(6) == pytest.approx(sizer._verify(6) + 0.001 + 5 * 0.005 / 15, rel=0.01)


def test_a_tree_size_learns_its_own_cost_from_its_forwards():
    """Start-up measured a 2-node forward level with a 1-node one, so a 20% guess buys it;
    while decoding it costs 1.3x a plain step's. After a few such forwards the same guess
    no longer buys the tree, and plain steps' cost has not moved."""
    sizer = AdaptiveBudget({1: 1.0, 2: 1.0, 16: 2.0})
    guess = star([0.2])
    assert sizer.choose(guess) == 2
    for _ in range(10):
        sizer.observe(2, verify_s=1.3, other_s=0.0, accepted=0)
    assert sizer.cost(1) == pytest.approx(1.0)
    assert sizer.cost(2) == pytest.approx(1.3, rel=0.05)
    assert sizer.choose(guess) == 1
    # a size never verified takes the nearest verified size's correction
    assert sizer.cost(3) / sizer._verify(3) == pytest.approx(sizer.cost(2) / sizer._verify(2))


def test_load_seen_by_plain_steps_moves_every_size():
    sizer = AdaptiveBudget({1: 1.0, 2: 1.2, 16: 2.0})
    sizer.observe(2, verify_s=1.2, other_s=0.0)    # as measured: no correction
    for _ in range(40):
        sizer.observe(1, verify_s=2.0, other_s=0.0)  # another process halves our speed
    assert sizer.cost(1) == pytest.approx(2.0, rel=0.01)
    assert sizer.cost(2) == pytest.approx(2.4, rel=0.01) and sizer.cost(16) == pytest.approx(4.0, rel=0.01)


# ------------------------------------------------- drafting only as far as the budget buys


def random_expand(seed: int):
    """A deterministic random candidate generator: the same (token, handle) always
    gives the same candidates and estimates, so two growths can be compared."""
    def expand(token, handle):
        rng = random.Random(hash((seed, handle)))
        out = []
        for tok in rng.sample(range(50), rng.randint(0, 4)):
            est = rng.random() ** rng.choice((1, 3))
            out.append((Candidate(tok, LOGITS, Evidence(rank=0, prob=est, age=1), handle + (tok,)), est))
        return out
    return expand


@pytest.mark.parametrize("seed", range(60))
def test_drafting_stops_early_yet_the_budget_keeps_the_same_tree(seed):
    """Random candidates, cost curves and trust: growth under ``enough_rule`` builds a
    prefix of the full tree, and the size chosen from it is the size chosen from the
    full tree (exploration steps excepted: they draft in full)."""
    rng = random.Random(seed)
    ratios = sorted(rng.uniform(1.0, 4.0) for _ in range(4))
    costs = {1: 1.0, 2: ratios[0], 4: ratios[1], 8: ratios[2], 16: ratios[3]}
    sizer, twin = AdaptiveBudget(costs), AdaptiveBudget(costs)
    accepted = 4.0 * rng.uniform(0.2, 1.0)   # a trust below 1 at times
    for b in (sizer, twin):
        b._predicted, b._accepted = 4.0, accepted
    budget = rng.choice((4, 8, 16))
    full = grow(0, (), budget, 6, random_expand(seed))
    rule = sizer.enough_rule(budget)
    assert rule is not None
    early = grow(0, (), budget, 6, random_expand(seed), rule)
    assert len(early) <= len(full)
    assert early.tokens == full.prefix(len(early)).tokens
    chosen = twin.choose(full)
    assert (sizer.choose(early) if len(early) > 1 else 1) == chosen
    assert sizer.stopped == (len(early) < len(full))


def test_weak_guesses_stop_drafting_at_the_root_and_exploration_drafts_in_full():
    sizer = AdaptiveBudget(COSTS)
    weak = lambda token, handle: [(Candidate(t, LOGITS, Evidence(rank=0, prob=0.01, age=1), handle + (t,)), 0.01)
                                  for t in range(1, 5)] if len(handle) < 3 else []
    tree = grow(0, (), 16, 4, weak, sizer.enough_rule(16))
    assert len(tree) == 1 and sizer.stopped
    sizer._steps = EXPLORE_EVERY - 1   # the next step may explore
    assert sizer.enough_rule(16) is None and not sizer.stopped
    assert len(grow(0, (), 16, 4, weak, None)) == 16


# ------------------------------------------------- what a plain step teaches the table


def test_judged_agrees_with_tested_and_judges_the_nodes_the_budget_cut():
    b = TreeBuilder(root=5, max_nodes=8, max_depth=3)
    e = Evidence(rank=0, prob=0.5, age=1)
    one = b.add_child(0, 7, LOGITS, 0.9, e)     # created first
    b.add_child(0, 2, LOGITS, 0.8, e)
    b.add_child(one, 8, LOGITS, 0.7, e)
    b.add_child(0, 3, LOGITS, 0.1, e)
    proposal = b.build()
    verified = proposal.prefix(2)               # the root and token 7
    accepted, picks = (0, 1), (7, 8)            # 7 accepted, then the model chose 8
    assert verified.judged(picks) == verified.tested(accepted)
    judged = {proposal.tokens[i]: hit for i, hit in proposal.judged(picks)}
    assert judged == {7: True, 2: False, 3: False, 8: True}   # 8 was cut, and would have been accepted
    assert {proposal.tokens[i]: hit for i, hit in proposal.judged((2,))} == {7: False, 2: True, 3: False}


def test_a_plain_step_teaches_the_table_what_its_cut_guesses_were_worth():
    """A proposal cut to the root: its depth-1 guesses are judged by the model's own token,
    so a bucket the starting table overrates falls without buying a tree."""
    d = RacerDrafter(vocab_size=64)
    s = Settings()
    d.reset([1, 2, 3], no_logits(3), s)
    evidence = Evidence(rank=0, prob=0.95, age=1)
    before = d.calibration.estimate(evidence)
    b = TreeBuilder(root=9, max_nodes=4, max_depth=2)
    b.add_child(0, 10, LOGITS, before, evidence)
    proposal = b.build()
    verified = proposal.prefix(1)
    for _ in range(10):
        d.observe(verified, no_logits(1), (0,), proposal, proposal.judged((11,)))   # the model chose 11, not 10
    assert d.calibration.estimate(evidence) < before - 0.3
    d2 = RacerDrafter(vocab_size=64)
    d2.reset([1, 2, 3], no_logits(3), s)
    d2.observe(verified, no_logits(1), (0,))                     # without the proposal: nothing learned
    assert d2.calibration.estimate(evidence) == before
