"""The lean forward's C attention (racer/model/attention.c) and its whole decoder stack in one
C call (layers.c): transformers' logits on a tree and a chain, a chain's rows bit for bit those
of one-token steps (with block products, whose rows do not depend on the row count either),
and greedy RACER equal to plain greedy."""
from __future__ import annotations

import pytest
import torch

from racer.model import native
from racer.model.lean import NATIVE_ATTENTION_ROWS
from racer.model.target import TargetModel
from tests.test_blocks import blocks_target, grid_model
from tests.test_lean import assert_transformers_logits_in_float32
from tests.tiny import assert_greedy_racer_is_plain_greedy, repetitive_prompt

pytestmark = pytest.mark.skipif(native.refusal("attention") is not None or native.refusal("blocks") is not None,
                                reason="the engine's C kernels do not run here")
HIDDEN = 128   # head_dim 32: the C attention's unit


def native_target(model) -> TargetModel:
    t = blocks_target(model)
    assert t.model.racer_lean.native_attention
    return t


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_native_attention_gives_transformers_logits(arch):
    model = grid_model(arch, hidden=HIDDEN)
    assert_transformers_logits_in_float32(native_target(model), model)


def test_a_chain_verified_at_once_is_one_token_steps_bit_for_bit():
    t = native_target(grid_model(hidden=HIDDEN))
    chain, steps = t.chain_versus_steps(repetitive_prompt(2), NATIVE_ATTENTION_ROWS)
    assert torch.equal(chain, steps)
    longer, steps = t.chain_versus_steps(repetitive_prompt(2), NATIVE_ATTENTION_ROWS + 4)
    # beyond, torch's batched attention: within float32's rounding, not bit for bit
    assert float((longer - steps).abs().max()) <= 1e-5 * float(steps.abs().max())


def test_greedy_racer_equals_plain_greedy_with_native_attention():
    model = grid_model(hidden=HIDDEN)
    assert_greedy_racer_is_plain_greedy(native_target(model), model)


def test_up_to_8_rows_run_the_whole_decoder_stack_in_one_c_call(monkeypatch):
    """layers.c: a chain of 8 goes through one call, 9 through the per-layer path; both give
    the same logits to float32's rounding, and a chain of 8 stays one-token steps bit for bit."""
    t = native_target(grid_model(hidden=HIDDEN))
    lean = t.model.racer_lean
    assert lean._stack is not None
    calls = []
    run = lean._run_stack
    monkeypatch.setattr(lean, "_run_stack", lambda *a: calls.append(a[0].shape[0]) or run(*a))
    prompt = repetitive_prompt(3)
    stacked, steps = t.chain_versus_steps(prompt, NATIVE_ATTENTION_ROWS)
    assert torch.equal(stacked, steps) and calls == [1] * NATIVE_ATTENTION_ROWS + [NATIVE_ATTENTION_ROWS]
    calls.clear()
    t.chain_versus_steps(prompt, NATIVE_ATTENTION_ROWS + 1)
    assert NATIVE_ATTENTION_ROWS + 1 not in calls
    monkeypatch.setattr(lean, "_stack", None)          # the same forwards, layer by layer
    layered, _ = t.chain_versus_steps(prompt, NATIVE_ATTENTION_ROWS)
    assert float((stacked - layered).abs().max()) <= 1e-5 * float(layered.abs().max())
    assert torch.equal(stacked.argmax(-1), layered.argmax(-1))


def test_biases_keep_the_layer_by_layer_path():
    t = native_target(grid_model("qwen2", hidden=HIDDEN))     # q/k/v biases: not in layers.c
    assert t.model.racer_lean._stack is None
