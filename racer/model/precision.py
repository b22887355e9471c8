"""The numeric precision the target runs at, and the checks that decide it.

Greedy RACER must write what plain greedy decoding of the same model at the same
precision writes. That holds only if a token's logits do not depend on how many tree
nodes share its forward (closely enough that no argmax flips). ``chain_agreement``
measures it: decode n tokens one forward at a time, then verify the same n tokens as
one chain in a single forward, and count the positions whose argmax agrees.

``auto`` keeps float32 on a CPU. On CUDA it starts from float16 and tries bfloat16 where
the GPU supports it (compute capability 8.0 and up), keeping it only if it is faster and
the chain check agrees (never run on a GPU so far). On a CPU it used to try bfloat16
where the CPU has bfloat16 instructions and keep it when a 32-position chain check agreed; on an
AMD EPYC with AVX-512 BF16 (2026-12-03) that check agreed 32/32, yet greedy RACER in
bfloat16 parted from plain bfloat16 decoding on 5 of 10 anchor prompts within 64
tokens: which kernel a row count selects changes a row's rounding, and one short check
cannot rule that out. So no CPU precision but float32 is offered as exact. bfloat16 may
still be asked for by name: the app then says that it is not exact.

Left out on purpose: int8 and compiled paths (measured in docs/results.md, not shipped).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from racer.errors import UserError
from racer.model.target import TargetModel

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
CHECK_TOKENS = 32          # positions the start-up check compares
CHECK_PROMPT = "List the planets of the solar system, one per line, with one fact about each."


@dataclass(frozen=True)
class Agreement:
    """One chain-versus-steps check at one precision."""
    agree: int             # positions whose argmax is the same both ways
    total: int
    bitwise: int           # positions whose logits are bit-for-bit equal
    max_logit_diff: float

    @property
    def exact(self) -> bool:
        return self.agree == self.total

    def __str__(self) -> str:
        return f"{self.agree}/{self.total} (max logit diff {self.max_logit_diff:.1e})"


def check_precision(precision: str, device: str) -> str:
    """The precision name, validated for ``device``; a UserError names the choices."""
    if precision not in PRECISIONS:
        raise UserError(f"precision must be one of {', '.join(PRECISIONS)}")
    if precision == "float16" and not device.startswith("cuda"):
        raise UserError("float16 runs on CUDA only; on a CPU use float32, bfloat16 or auto")
    return precision


def candidates(device: str, cuda_bf16: bool | None = None) -> list[str]:
    """Precisions ``auto`` measures, besides the safe default it falls back to: on CUDA
    bfloat16 where the GPU has it; none on a CPU, bfloat16 hardware or not (see the
    module's note on batch invariance)."""
    if device.startswith("cuda"):
        if cuda_bf16 is None:
            cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return ["bfloat16"] if cuda_bf16 else []
    return []


@torch.inference_mode()
def chain_agreement(target: TargetModel, prompt_ids: list[int], n: int = CHECK_TOKENS) -> Agreement:
    """Greedy-decode ``n`` tokens one forward each, then verify them as one chain on
    the same prompt; compare each position's logits and argmax (``TargetModel.chain_versus_steps``)."""
    chain, steps = target.chain_versus_steps(prompt_ids, n)  # (n, V) each
    return Agreement(agree=int((chain.argmax(-1) == steps.argmax(-1)).sum()), total=n,
                     bitwise=int((chain == steps).all(-1).sum()),
                     max_logit_diff=float((chain - steps).abs().max()))


def choose_auto(model, tokenizer, device: str, report: Callable[[str], None],
                prompt_ids: Callable[[object, str], list[int]]) -> str:
    """``auto``: the fastest precision whose chain check agrees everywhere; float32
    (float16 on CUDA) when no candidate does. Returns the name; the model is left in
    float32 (or float16) for the caller to convert."""
    default = "float16" if device.startswith("cuda") else "float32"
    tried = candidates(device)
    if not tried:
        return default
    ids = prompt_ids(tokenizer, CHECK_PROMPT)
    best, best_s = default, TargetModel(model, tokenizer).time_verify((1,), 128, 5)[1]
    for name in tried:
        trial = TargetModel(_converted(model, DTYPES[name]), tokenizer)
        agreement = chain_agreement(trial, ids)
        seconds = trial.time_verify((1,), 128, 5)[1]
        report(f"precision {name}: chain check {agreement}, one-token step "
               f"{1000 * seconds:.1f} ms against {1000 * best_s:.1f} ms")
        if agreement.exact and seconds < best_s:
            best, best_s = name, seconds
    return best


def exact_by_default(target: TargetModel) -> bool:
    """The precisions this project ships as exact: float32 (and float64) anywhere,
    float16 on CUDA. Others are exact only where ``chain_agreement`` says so."""
    return target.dtype in (torch.float32, torch.float64) or (
        target.dtype == torch.float16 and target.device.type == "cuda")


def precision_note(target: TargetModel, prompt_ids: Callable[[object, str], list[int]],
                   agreement: Agreement | None = None) -> str:
    """What the page says about the precision. float32 (and float16 on CUDA) need no
    words; any other precision gets the chain check (``agreement``, when already made
    elsewhere: on ZeroGPU inside the warm-up's GPU call), and a sentence when it is not
    exact, since RACER's text may then part from plain decoding's."""
    name = str(target.dtype).removeprefix("torch.")
    if exact_by_default(target):
        return name
    if agreement is None:
        agreement = chain_agreement(target, prompt_ids(target.tokenizer, CHECK_PROMPT))
    if agreement.exact:
        return (f"{name}: not guaranteed exact (a tree verify agreed with one-token steps at all "
                f"{agreement.total} positions checked, but a row's rounding can depend on how many "
                f"nodes share the forward), so RACER's text can part from plain decoding's where "
                f"two tokens are nearly tied")
    return (f"{name}: fast, not bit-exact (a tree verify agreed with one-token steps at "
            f"{agreement.agree} of {agreement.total} positions), so RACER's text can part from "
            f"plain decoding's where two tokens are nearly tied")


def _converted(model, dtype: torch.dtype):
    import copy
    return copy.deepcopy(model).to(dtype)
