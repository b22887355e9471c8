"""Precision: names are checked, ``auto`` measures only where bfloat16 has hardware and
keeps float32 unless a candidate is both exact and faster, and the chain check
compares a one-forward chain with one-token steps."""
from __future__ import annotations

import pytest
import torch

from racer.model import precision
from racer.bench.report import cost_table
from racer.errors import UserError
from racer.model.precision import Agreement, candidates, chain_agreement, check_precision, choose_auto, precision_note
from tests.tiny import TinyTokenizer, target, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_names_are_checked_with_a_sentence():
    assert check_precision("auto", "cpu") == "auto"
    assert check_precision("bfloat16", "cpu") == "bfloat16"
    with pytest.raises(UserError, match="one of auto, float32, bfloat16, float16"):
        check_precision("int3", "cpu")
    with pytest.raises(UserError, match="CUDA only"):
        check_precision("float16", "cpu")


def test_auto_offers_no_cpu_precision_but_float32():
    """bfloat16 hardware or not: a short chain check agreed 32/32 on an AMD EPYC with
    AVX-512 BF16, yet RACER parted from plain bfloat16 decoding on 5 of 10 anchors."""
    assert candidates("cpu") == []
    assert candidates("cuda:0", cuda_bf16=False) == []              # e.g. a T4
    assert candidates("cuda:0", cuda_bf16=True) == ["bfloat16"]     # A100, H100, H200


def tiny_fp32():
    return tiny_model(dtype=torch.float32, init_std=1.0)


def test_auto_without_candidates_keeps_float32_and_measures_nothing(monkeypatch):

    def no_timing(*args, **kwargs):
        raise AssertionError("nothing to compare: auto must not measure")
    monkeypatch.setattr(precision.TargetModel, "time_verify", no_timing)
    assert choose_auto(tiny_fp32(), TinyTokenizer(), "cpu", print, lambda tok, text: [1, 2, 3]) == "float32"


@pytest.mark.parametrize("agree, faster, expected", [
    (32, True, "bfloat16"),     # exact and faster: taken
    (31, True, "float32"),      # one position parts: never taken by auto
    (32, False, "float32"),     # exact but slower: no reason to switch
])
def test_auto_takes_a_candidate_only_if_exact_and_faster(monkeypatch, agree, faster, expected):
    monkeypatch.setattr(precision, "candidates", lambda device: ["bfloat16"])
    monkeypatch.setattr(precision, "chain_agreement", lambda t, ids: Agreement(agree, 32, 0, 0.5))

    def timing(self, sizes, context_len, repeats):
        bf16 = self.dtype == torch.bfloat16
        return {1: (0.5 if faster else 2.0) if bf16 else 1.0}
    monkeypatch.setattr(precision.TargetModel, "time_verify", timing)
    lines = []
    assert choose_auto(tiny_fp32(), TinyTokenizer(), "cpu", lines.append, lambda tok, text: [1, 2]) == expected
    assert len(lines) == 1 and "bfloat16" in lines[0] and f"{agree}/32" in lines[0]


def test_chain_check_agrees_everywhere_in_float64():
    """float64 on a tiny model: a chain verify and one-token steps agree at every
    position (docs/design.md, "Precision": float32 can flip a near-tie)."""
    t = target(tiny_model())
    a = chain_agreement(t, [3, 5, 7, 9, 11] * 3, n=12)
    assert a.total == 12 and a.exact and a.max_logit_diff < 1e-9


def test_precision_note_names_float32_and_explains_an_inexact_precision(monkeypatch):
    assert precision_note(target(tiny_fp32()), lambda tok, text: [1, 2]) == "float32"
    monkeypatch.setattr(precision, "chain_agreement", lambda t, ids: Agreement(144, 144, 20, 0.8))
    bf16 = target(tiny_model(dtype=torch.bfloat16, seed=1))
    note = precision_note(bf16, lambda tok, text: [1, 2])
    assert note.startswith("bfloat16: not guaranteed exact") and "all 144 positions" in note
    monkeypatch.setattr(precision, "chain_agreement", lambda t, ids: Agreement(139, 144, 20, 0.8))
    bf16 = target(tiny_model(dtype=torch.bfloat16, seed=1))
    note = precision_note(bf16, lambda tok, text: [1, 2])
    assert note.startswith("bfloat16: fast, not bit-exact") and "139 of 144" in note


def test_cost_table_shows_ratios_and_the_check():
    rows = {"float32 (float32)": dict(ms={1: 50.0, 16: 100.0, 64: 150.0}, agree=144, total=144, bitwise=40,
                                      max_logit_diff=7e-5)}
    table = cost_table(rows, (1, 16, 64))
    assert "2.00" in table and "3.00" in table and "144/144" in table and "40/144" in table


# -- the Compare tab's note where greedy outputs part ---------------------------------------

def test_where_greedy_outputs_part_the_note_shows_the_position_and_both_logits():
    """A precision that is not bit-exact can make a drafter's greedy text part from plain
    decoding's; the Compare note names the first such position and the model's logits of
    both tokens there, from one forward over the prompt and the common text."""
    from components.compare import lossless_note
    from racer.measure.compare import DrafterResult, first_divergence
    from racer.engine.settings import Settings
    t = target(tiny_model("llama", 3))
    prompt = [1, 2, 3, 4]
    plain = DrafterResult("plain", 5, 5, 1.0, 1.0, (1,) * 4, "a", output_ids=(7, 8, 9, 10, 11))
    racer = DrafterResult("racer", 5, 3, 0.5, 2.0, (2, 2), "b", output_ids=(7, 8, 20, 21, 22))
    same = DrafterResult("logits", 3, 2, 0.5, 2.0, (2,), "c", output_ids=(7, 8, 9))  # stops early: not parted
    d = first_divergence(t, prompt, [racer, same, plain])  # the menu's order: plain is the reference wherever it is
    assert (d.drafter, d.reference, d.position, d.ours, d.theirs) == ("racer", "plain", 2, 9, 20)
    logits, _ = t.prefill(prompt + [7, 8], t.new_cache(), top_k=1)
    assert (d.logit_ours, d.logit_theirs) == (float(logits[9]), float(logits[20]))
    assert first_divergence(t, prompt, [plain, same]) is None

    note = lossless_note([plain, racer], Settings(), d, exact=False, token=lambda i: f"t{i}")
    assert "Not bit-exact" in note and "generated token 3" in note
    assert "“t9” (logit" in note and "“t20” (logit" in note and f"gap of {d.gap:.4f}" in note
    # at an exact precision, a parting is a bug to report, still located
    bug = lossless_note([plain, racer], Settings(), d, exact=True, token=str)
    assert "should not happen" in bug and "generated token 3" in bug
    assert "Lossless" in lossless_note([plain, plain], Settings(), None)


def test_only_float32_and_cuda_float16_are_exact_by_default():
    assert precision.exact_by_default(target(tiny_model("llama", 0, dtype=torch.float32)))
    assert not precision.exact_by_default(target(tiny_model("llama", 0, dtype=torch.bfloat16)))


@pytest.mark.parametrize("agree, faster, expected", [
    (32, True, "bfloat16"),     # exact and faster than float16: taken
    (30, True, "float16"),      # parts from one-token steps: never taken
    (32, False, "float16"),     # exact but slower: float16 stays
])
def test_auto_on_cuda_picks_the_fastest_exact_of_float16_and_bfloat16(monkeypatch, agree, faster, expected):
    """On CUDA ``auto`` starts from float16 and measures bfloat16 where the GPU has it
    (timings and the chain check mocked: no GPU needed)."""
    monkeypatch.setattr(precision, "candidates", lambda device: ["bfloat16"] if device.startswith("cuda") else [])
    monkeypatch.setattr(precision, "chain_agreement", lambda t, ids: Agreement(agree, 32, 0, 0.1))

    def timing(self, sizes, context_len, repeats):
        return {1: (0.5 if faster else 2.0) if self.dtype == torch.bfloat16 else 1.0}
    monkeypatch.setattr(precision.TargetModel, "time_verify", timing)
    lines = []
    assert choose_auto(tiny_fp32(), TinyTokenizer(), "cuda", lines.append, lambda tok, text: [1, 2]) == expected
    assert len(lines) == 1 and f"{agree}/32" in lines[0]
