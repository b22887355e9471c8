"""Tiny random causal LMs for the engine tests, and a few shared helpers. Every test
that needs a model of its own builds it here (``tiny_model``), none elsewhere.

The models are built from configs (no files, no network) and run in float64: a random
model of this size has nearly flat logits, and in float32 a 1-row and an n-row forward
can disagree in the last bits and flip a near-tied argmax (docs/design.md, "Precision"). In
float64 the engine and ``generate()`` agree for the right reason.

Random models of this size fall into short cycles under greedy decoding, which is
exactly what retrieval and the logits cache draft from, so drafts do get accepted.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import torch
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM, SmolLM3Config, SmolLM3ForCausalLM)

from racer.engine.generate import Generation
from racer.model.target import TargetModel
from racer.engine.records import StepRecord
from racer.engine.settings import Settings

ARCHS = {
    "llama": (LlamaConfig, LlamaForCausalLM),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM),
    "qwen3": (Qwen3Config, Qwen3ForCausalLM),
}
# every family the loader accepts (``racer.model.loading.SUPPORTED_TYPES``); the tests that run
# each drafter on each family use ARCHS, the three most different
FAMILIES = {
    **ARCHS,
    "mistral": (MistralConfig, MistralForCausalLM),
    "smollm3": (SmolLM3Config, SmolLM3ForCausalLM),
}


@dataclass
class TinyTokenizer:
    """What the engine needs of a tokenizer: an EOS id and ``decode``."""
    eos_token_id: int | None = None

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return " ".join(f"<{i}>" for i in ids)


@lru_cache(maxsize=None)
def tiny_model(arch: str = "llama", seed: int = 0, vocab: int = 48, max_positions: int = 512,
               init_std: float = 0.3, layers: int = 2, dtype: torch.dtype = torch.float64,
               hidden: int = 32, eos: int | None = None, logit_scale: float = 1.0, tied: bool = False):
    """A small random model of the given family (4 heads, 2 KV heads); no BOS or pad
    token, and an EOS only where ``eos`` names one (its ``generate()`` stops there).

    init_std sets how peaked the logits are: 0.3 gives a top probability of ~0.1-0.3
    over 48 tokens, 1.0 gives ~0.5-0.95; ``logit_scale`` multiplies the output layer
    (20 makes a 0.02 model peaked); ``tied`` shares the input embeddings with the output
    layer (as Qwen2.5-1.5B, the GPU default, does). Cached: do not change its weights. Wrapping it in
    a TargetModel switches its attention to the engine's SDPA function, so references
    run on ``stock_twin(model)``.
    """
    config_cls, model_cls = FAMILIES[arch]
    config = config_cls(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, head_dim=hidden // 4,
        max_position_embeddings=max_positions, initializer_range=init_std,
        tie_word_embeddings=tied, bos_token_id=None, eos_token_id=eos, pad_token_id=None)
    torch.manual_seed(seed)
    model = model_cls(config).to(dtype).eval()
    if logit_scale != 1.0:
        with torch.no_grad():
            model.lm_head.weight.mul_(logit_scale)   # tied: the embeddings scale with it
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = 0  # silences generate()'s warning; batch of 1, never used
    return model


@lru_cache(maxsize=None)
def target(model, eos: int | None = None) -> TargetModel:
    """The engine's wrapper; the EOS id comes from the tokenizer stand-in only.
    Cached like the models, so the adaptive budget measures verify costs once."""
    return TargetModel(model, TinyTokenizer(eos), name="tiny")


def own_target(model, eos: int | None = None) -> TargetModel:
    """A wrapper of its own, not the cached one, for a test that changes it (its error
    bound, its costs) without reaching the tests after it."""
    return TargetModel(model, TinyTokenizer(eos), name="tiny")


@lru_cache(maxsize=None)
def stock_twin(model):
    """The same weights with transformers' stock SDPA attention. References run on it,
    so they never go through the engine's attention code (TargetModel switches the
    model it wraps to its own SDPA function). Not eager attention: that one takes
    the softmax in float32, ~1e-6 off a float64 forward."""
    twin = copy.deepcopy(model)
    twin.set_attn_implementation("sdpa")
    return twin


@torch.inference_mode()
def hf_greedy(model, prompt: Sequence[int], max_new_tokens: int, eos: int | None = None) -> list[int]:
    """The reference: transformers' own greedy ``generate()``, new tokens only."""
    model = stock_twin(model)
    ids = torch.tensor([list(prompt)])
    extra = {} if eos is None else {"eos_token_id": eos}  # None would hide the model's own EOS
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                         do_sample=False, pad_token_id=0, **extra)
    return out[0, len(prompt):].tolist()


def run(tm: TargetModel, prompt: Sequence[int], settings: Settings,
        inspect: bool = True) -> tuple[list[int], list[StepRecord]]:
    """Runs a whole generation; returns (output tokens, step records). With ``inspect``
    (as the page runs it) the records carry every field the tests check, the per-node
    probabilities included; the lean records of the other callers are
    ``tests/test_timing.py``'s."""
    gen = Generation(tm, prompt, settings, inspect=inspect)
    records = list(gen.steps())
    return gen.output, records


def repetitive_prompt(seed: int, vocab: int = 48, unit: int = 5, repeats: int = 4) -> list[int]:
    """A random unit of ``unit`` tokens repeated: plenty for retrieval to match."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (unit,), generator=g).tolist() * repeats


def distinct_prompt(seed: int, length: int = 12, vocab: int = 48) -> list[int]:
    """Distinct random tokens: no n-gram repeats, so retrieval has nothing to match."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(vocab, generator=g)[:length].tolist()


def assert_greedy_racer_is_plain_greedy(t: TargetModel, reference_model) -> None:
    """Greedy RACER on ``t`` (fixed trees: drafts are verified) gives plain greedy decoding's
    40 tokens on ``t``, and those are ``reference_model``'s own ``generate()``'s."""
    prompt = repetitive_prompt(3)
    plain, _ = run(t, prompt, Settings(max_new_tokens=40, drafter="plain"))
    racer, records = run(t, prompt, Settings(max_new_tokens=40, adaptive_budget=False))
    assert racer == plain
    assert len(records) < len(plain)                 # drafts were accepted: trees were verified
    assert plain == hf_greedy(reference_model, prompt, 40)
