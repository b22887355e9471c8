"""The lean forward's C attention (racer/model/attention.c): transformers' logits on a tree
and a chain, a chain's rows bit for bit those of one-token steps (with block products, whose
rows do not depend on the row count either), and greedy RACER equal to plain greedy."""
from __future__ import annotations

import copy

import pytest
import torch

from racer.engine.settings import Settings
from racer.model import native
from racer.model.backend import use_backend
from racer.model.lean import NATIVE_ATTENTION_ROWS, LeanForward
from racer.model.target import TargetModel, chain_tree
from tests.test_blocks import grid_model
from tests.test_lean import a_tree
from tests.tiny import TinyTokenizer, hf_greedy, repetitive_prompt, run

pytestmark = pytest.mark.skipif(native.refusal("attention") is not None or native.refusal("blocks") is not None,
                                reason="the engine's C kernels do not run here")
HIDDEN = 128   # head_dim 32: the C attention's unit


def native_target(model, products=None) -> TargetModel:
    lean_model = copy.deepcopy(model)
    lean_model.racer_lean = LeanForward(lean_model, products=products or {1: "blocks", 16: "blocks"})
    use_backend(lean_model, "lean")
    assert lean_model.racer_lean.native_attention
    return TargetModel(lean_model, TinyTokenizer(), name="tiny")


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_native_attention_gives_transformers_logits(arch):
    model = grid_model(arch, hidden=HIDDEN)
    out = {}
    for name, t in (("lean", native_target(model)), ("transformers", TargetModel(model, TinyTokenizer(), name="tiny"))):
        prompt = repetitive_prompt(2)
        cache = t.new_cache()
        last, _ = t.prefill(prompt, cache, top_k=3)
        tree = t.verify(a_tree(int(last.argmax())), cache, len(prompt))
        t.commit(cache, len(prompt), [0, 2, 3])
        out[name] = (last, tree, t.verify(chain_tree(2, (9, 4)), cache, len(prompt) + 3))
    for got, want in zip(out["lean"], out["transformers"]):
        assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())   # float32's rounding
        assert torch.equal(got.argmax(-1), want.argmax(-1))


def test_a_chain_verified_at_once_is_one_token_steps_bit_for_bit():
    t = native_target(grid_model(hidden=HIDDEN))
    chain, steps = t.chain_versus_steps(repetitive_prompt(2), NATIVE_ATTENTION_ROWS)
    assert torch.equal(chain, steps)
    longer, steps = t.chain_versus_steps(repetitive_prompt(2), NATIVE_ATTENTION_ROWS + 4)
    # beyond, torch's batched attention: within float32's rounding, not bit for bit
    assert float((longer - steps).abs().max()) <= 1e-5 * float(steps.abs().max())


def test_greedy_racer_equals_plain_greedy_with_native_attention():
    model = grid_model(hidden=HIDDEN)
    t = native_target(model)
    prompt = repetitive_prompt(3)
    plain, _ = run(t, prompt, Settings(max_new_tokens=40, drafter="plain"))
    racer, records = run(t, prompt, Settings(max_new_tokens=40, adaptive_budget=False))
    assert racer == plain
    assert len(records) < len(plain)
    assert plain == hf_greedy(model, prompt, 40)
