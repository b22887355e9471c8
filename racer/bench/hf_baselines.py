"""The reference points outside our engine: ``transformers`` ``generate()``, greedy,
plain or with prompt lookup decoding (``prompt_lookup_num_tokens``), timed and with
its target forwards counted.

Forwards are counted with a forward pre-hook on the model, so they include the
prefill, as the engine's do: plain greedy decoding of T tokens takes T forwards.

The model may carry ``TargetModel``'s tree attention; transformers builds stock SDPA
masks for it (``racer/model/target.py`` registers them), so prompt lookup's multi-token
verify attends as it would on a stock model.

Left out on purpose: sampling and batching (the benchmark compares greedy, batch 1).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import torch


@dataclass(frozen=True)
class HFRun:
    output: list[int]   # generated ids, EOS included when reached
    forwards: int       # target forward passes, prefill included
    seconds: float      # wall clock of the generate() call


@torch.inference_mode()
def hf_generate(model, prompt_ids: Sequence[int], max_new_tokens: int,
                prompt_lookup: int | None = None) -> HFRun:
    """Greedy ``model.generate`` of one prompt; ``prompt_lookup`` = tokens drafted per
    step by transformers' prompt lookup decoding (None: plain greedy)."""
    input_ids = torch.tensor([list(prompt_ids)], device=model.device)
    eos = model.generation_config.eos_token_id
    kwargs = dict(max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None,
                  top_k=None, pad_token_id=eos[0] if isinstance(eos, list) else eos)
    if prompt_lookup is not None:
        kwargs["prompt_lookup_num_tokens"] = prompt_lookup
    calls = [0]

    def count(module, args, kw) -> None:
        calls[0] += 1

    hook = model.register_forward_pre_hook(count, with_kwargs=True)
    try:
        start = time.perf_counter()
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)
        seconds = time.perf_counter() - start
    finally:
        hook.remove()
    return HFRun(out[0, input_ids.shape[1]:].tolist(), calls[0], seconds)
