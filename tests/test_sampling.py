"""Sampling is lossless: RACER's tree walk draws every emitted token from the
target's own (temperature, top-p) distribution.

Two kinds of evidence:
- exact: with the same seed, every drafter emits the very tokens plain sampling
  emits (the walk consumes one draw per emitted token, in order, from the same
  distributions), on a float64 model;
- statistical: the empirical joint distribution of the first three tokens over
  thousands of seeded RACER runs matches the exact joint computed by enumeration
  from the model (independently of the engine's sampling code).
"""
from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

import pytest
import torch

from racer.engine.generate import Generation
from racer.drafting.registry import PLAIN, drafter_names
from racer.engine.settings import Settings
from racer.engine.verify import sampling_probs
from tests.tiny import stock_twin, run, target, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

V = 16  # small enough to enumerate V**3 continuations


@lru_cache(maxsize=None)
def sampling_model():
    """A tiny 16-token Llama with peaked-ish logits (top probability ~0.4 at the
    prompt), and a prompt that repeats a permutation of all 16 tokens three times:
    every token has cached successors. Trees of width 16 (every token a child of the
    root), depth 2 and 48 nodes accept at least one drafted token in every run at the
    first verify step, and two in about a quarter of runs (measured over 200 seeds)."""
    model = tiny_model("llama", 0, vocab=V, init_std=0.7)
    g = torch.Generator().manual_seed(0)
    prompt = torch.randperm(V, generator=g).tolist() * 3
    return model, prompt


def reference_probs(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """softmax(logits / T) cut to the smallest top set whose mass reaches top_p,
    renormalised; float64, written independently of racer.engine.verify. (..., V)."""
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs
    sorted_probs = torch.where(before < top_p, sorted_probs, torch.zeros_like(sorted_probs))
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)


@torch.inference_mode()
def exact_joint(model, prompt: list[int], temperature: float, top_p: float) -> torch.Tensor:
    """P(t1 = a, t2 = b, t3 = c) for all a, b, c: (V, V, V), by one batched forward
    over the V*V continuations prompt + [a, b] (stock attention)."""
    model = stock_twin(model)
    first = model(input_ids=torch.tensor([prompt])).logits[0, -1]
    pairs = torch.cartesian_prod(torch.arange(V), torch.arange(V))          # (V*V, 2): (a, b)
    ids = torch.cat([torch.tensor(prompt).expand(V * V, -1), pairs], dim=1)  # (V*V, P+2)
    logits = model(input_ids=ids).logits                                     # (V*V, P+2, V)
    p1 = reference_probs(first, temperature, top_p)                          # (V,)
    p2 = reference_probs(logits[::V, -2], temperature, top_p)                # (V, V): row a
    p3 = reference_probs(logits[:, -1], temperature, top_p).view(V, V, V)   # [a, b, c]
    return p1[:, None, None] * p2[:, :, None] * p3


def chi_square_p_value(counts: Counter, joint: torch.Tensor, n: int) -> float:
    """Pearson's goodness of fit; cells expected fewer than 5 times are pooled into one."""
    expected = joint.flatten() * n
    observed = torch.zeros_like(expected)
    for (a, b, c), k in counts.items():
        observed[(a * V + b) * V + c] = k
    big = expected >= 5
    exp_cells = torch.cat([expected[big], expected[~big].sum().reshape(1)])
    obs_cells = torch.cat([observed[big], observed[~big].sum().reshape(1)])
    if exp_cells[-1] == 0:  # top-p: nothing outside the cells left to pool
        assert obs_cells[-1] == 0
        exp_cells, obs_cells = exp_cells[:-1], obs_cells[:-1]
    stat = float(((obs_cells - exp_cells) ** 2 / exp_cells).sum())
    df = len(exp_cells) - 1
    return float(torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64),
                                         torch.tensor(stat / 2, dtype=torch.float64)))


def total_variation(counts: Counter, dist: torch.Tensor, n: int) -> float:
    empirical = torch.zeros_like(dist)
    for key, k in counts.items():
        empirical[key] = k / n
    return 0.5 * float((empirical - dist).abs().sum())


def expected_noise_tv(dist: torch.Tensor, n: int) -> float:
    """E[TV] between ``dist`` and the empirical distribution of n exact samples:
    sum_i E|p_hat_i - p_i| / 2 ~ sum_i sqrt(2 p_i (1 - p_i) / (pi n)) / 2."""
    return 0.5 * float(torch.sqrt(2 * dist * (1 - dist) / (math.pi * n)).sum())


# n seeded runs per case (seeds 0..n-1, so the test is deterministic). The joint has
# 9-21 cells expected at least 5 times. Tried: a walk that takes the target's argmax
# child instead of sampling there, or samples a child from its parent's row, gives a
# chi-square p below 1e-100; on the engine as it is, p = 0.87 (T 1) and 0.59
# (T 0.7, top-p 0.9).
@pytest.mark.slow  # seconds, not milliseconds: make test, not test-fast
@pytest.mark.parametrize("temperature, top_p, n", [(1.0, 1.0, 1200), (0.7, 0.9, 800)])
def test_first_three_tokens_follow_the_exact_distribution(temperature, top_p, n):
    model, prompt = sampling_model()
    tm = target(model)
    joint = exact_joint(model, prompt, temperature, top_p)
    s = Settings(temperature=temperature, top_p=top_p, max_new_tokens=3, width=16, depth=2, budget=48,
                 adaptive_budget=False)
    counts: Counter = Counter()
    one_deep = two_deep = 0
    for seed in range(n):
        out, records = run(tm, prompt, s.with_changes(seed=seed))
        counts[tuple(out)] += 1
        one_deep += records[1].accepted_drafts > 0
        two_deep += records[1].accepted_drafts > 1
    # the walk descended into the tree in most runs, and two levels deep in some: the
    # test exercises acceptance at both depths
    assert one_deep > 0.8 * n and two_deep > 0.1 * n
    p_value = chi_square_p_value(counts, joint, n)
    assert p_value > 1e-3, f"chi-square p = {p_value:.2e}"
    # TV: the joint over 4096 cells is noisy even for an exact sampler, so its
    # tolerance is the expected noise (0.077 at T 1, n 1200; 0.029 at T 0.7, n 800)
    # plus 0.02 (measured: 0.056 and 0.027); the per-position marginals (16 cells,
    # expected noise at most 0.031, measured at most 0.026) must be within 0.05.
    tv = total_variation(counts, joint, n)
    assert tv < expected_noise_tv(joint, n) + 0.02, f"TV {tv:.3f}"
    for axis, marginal in enumerate((joint.sum((1, 2)), joint.sum((0, 2)), joint.sum((0, 1)))):
        by_token = Counter()
        for key, k in counts.items():
            by_token[key[axis]] += k
        assert total_variation(by_token, marginal, n) < 0.05, f"token {axis + 1}"
    # top-p: tokens outside the nucleus never appear
    assert all(joint[key] > 0 for key in counts)


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.7, 0.9)])
# the fast lane samples with ours, a fixed-size policy and prompt lookup; every drafter in make test
@pytest.mark.parametrize("drafter", [d if d in ("racer", "racer_sglang", "prompt_lookup") else
                                     pytest.param(d, marks=pytest.mark.slow)
                                     for d in drafter_names() if d != PLAIN])
def test_same_seed_same_tokens_as_plain_sampling(drafter, temperature, top_p):
    """The walk draws one sample per emitted token, in order, from the same
    distributions as plain sampling; float64 keeps those distributions bit-equal
    between a tree forward and a one-token forward, so the tokens are identical."""
    model, prompt = sampling_model()
    tm = target(model)
    accepted = 0
    for seed in range(8):
        s = Settings(temperature=temperature, top_p=top_p, seed=seed, max_new_tokens=30, drafter=drafter,
                     adaptive_budget=False)
        out, records = run(tm, prompt, s)
        plain, _ = run(tm, prompt, s.with_changes(drafter="plain"))
        assert out == plain, f"seed {seed}"
        accepted += sum(r.accepted_drafts for r in records[1:])
    assert accepted >= 8  # drafts were accepted, or this proves nothing


def test_sampled_records_report_the_sampling_distribution():
    """target_probs of a node = the (temperature, top-p) probability of its token at
    its parent; an accepted drafted token always has a positive probability."""
    model, prompt = sampling_model()
    tm = target(model)
    s = Settings(temperature=0.7, top_p=0.9, seed=3, max_new_tokens=12)
    gen = Generation(tm, prompt, s, inspect=True)   # the per-node probabilities are inspection
    records = list(gen.steps())
    context = list(prompt)
    for r in records[1:]:
        t = r.tree
        for i in range(1, len(t)):
            path = [t.tokens[j] for j in t.path_to(t.parents[i])]
            with torch.inference_mode():
                logits = stock_twin(model)(input_ids=torch.tensor([context + path])).logits[0, -1]
            expected = float(reference_probs(logits, 0.7, 0.9)[t.tokens[i]])
            assert r.target_probs[i] == pytest.approx(expected, abs=1e-5)
        assert all(r.target_probs[a] > 0 for a in r.accepted)
        context += [t.tokens[a] for a in r.accepted]


# ------------------------------------------------------------------ the sampling distribution


def test_sampling_probs_temperature_and_top_p_by_hand():
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = p.log()
    torch.testing.assert_close(sampling_probs(logits, 1.0, 1.0), p)
    # temperature 2 -> proportional to sqrt(p)
    torch.testing.assert_close(sampling_probs(logits, 2.0, 1.0), p.sqrt() / p.sqrt().sum())
    # top-p 0.7: 0.5 is not enough, 0.5 + 0.3 reaches it -> keep two, renormalise
    torch.testing.assert_close(sampling_probs(logits, 1.0, 0.7), torch.tensor([0.625, 0.375, 0.0, 0.0]))
    # top-p 0.4: the best token alone already reaches it
    torch.testing.assert_close(sampling_probs(logits, 1.0, 0.4), torch.tensor([1.0, 0.0, 0.0, 0.0]))
    # order does not matter, rows are independent
    shuffled = logits[[2, 0, 3, 1]]
    torch.testing.assert_close(sampling_probs(torch.stack([shuffled, logits]), 1.0, 0.7),
                               torch.tensor([[0.0, 0.625, 0.0, 0.375], [0.625, 0.375, 0.0, 0.0]]))


def test_sampling_probs_match_the_reference_on_random_rows():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(200, V, generator=g) * 3
    for temperature, top_p in [(1.0, 1.0), (0.7, 0.9), (1.5, 0.5), (0.3, 0.99)]:
        torch.testing.assert_close(sampling_probs(logits, temperature, top_p),
                                   reference_probs(logits, temperature, top_p).float(),
                                   atol=1e-6, rtol=1e-5)
