"""The adaptive budget: hand-worked choices from a known cost curve."""
from racer.budget import EXPLORE_EVERY, AdaptiveBudget
from racer.tree import LOGITS, TreeBuilder


def chain_tree(length: int):
    """Root 0 -> 1 -> 2 ... created in order, so created == index."""
    b = TreeBuilder(root=0, max_nodes=length, max_depth=length)
    b.add_path(list(range(1, length)), LOGITS)
    return b.build()


def star_tree(size: int):
    """Root 0 with children 1 .. size-1, created in that order."""
    b = TreeBuilder(root=0, max_nodes=size, max_depth=1)
    for token in range(1, size):
        b.add_child(0, token, LOGITS)
    return b.build()


def test_expensive_drafts_fall_back_to_plain_decoding():
    # verifying 16 nodes costs 3x one node; only the 16th node gets accepted, so every
    # budget gains at most (1 + 1) / 3 tokens per unit of time, less than plain's 1 / 1
    policy = AdaptiveBudget({1: 1.0, 16: 3.0})
    tree = star_tree(16)
    for _ in range(20):
        policy.observe(tree, accepted=(0, 15), budget=16, seconds=3.0)
    choices = [policy.choose(16) for _ in range(EXPLORE_EVERY - 1)]
    assert choices == [1] * (EXPLORE_EVERY - 1)


def test_cheap_drafts_that_get_accepted_grow_the_tree():
    # 16 nodes cost 1.2x one node and 6 drafts get accepted -> 16 is far better than 1
    policy = AdaptiveBudget({1: 1.0, 16: 1.2})
    tree = chain_tree(16)
    for _ in range(20):
        policy.observe(tree, accepted=tuple(range(7)), budget=16, seconds=1.2)
    assert policy.choose(16) >= 8


def test_smaller_budgets_learn_what_their_prefix_of_the_tree_would_accept():
    # a chain accepted to depth 6: a budget of 4 would have held nodes 0..3 -> 3 drafts
    policy = AdaptiveBudget({1: 1.0, 64: 1.0})
    policy.observe(chain_tree(16), accepted=tuple(range(7)), budget=16, seconds=1.0)
    assert policy._accepted[4] == 3
    assert policy._accepted[1] == 0
    assert policy._accepted[16] == 6


def test_exploration_probes_one_size_up_now_and_then():
    policy = AdaptiveBudget({1: 1.0, 16: 3.0})
    choices = [policy.choose(16) for _ in range(EXPLORE_EVERY)]
    assert choices[-1] == 2 and set(choices[:-1]) == {1}


def test_cost_curve_interpolates_between_measured_sizes():
    policy = AdaptiveBudget({1: 1.0, 9: 2.0})
    assert policy.cost(5) == 1.5
    assert policy.cost(18) == 4.0  # linear beyond the last measured size
