"""The verify-cost check behind ``python -m racer.bench --verify-costs``: per precision,
one verify forward's cost by tree size and the chain check (token-by-token decoding
against one chain verify).

Left out on purpose: drafters; only the target model's own forwards are timed and compared.
"""
from __future__ import annotations

from .bench_data import anchor_prompts
from .bench_report import cost_table, machine
from .model import TargetModel

COST_SIZES = (1, 2, 4, 8, 16, 32, 64)
COST_CONTEXT = 300      # cached tokens under the tree
COST_REPEATS = 9


def cost_report(model_name: str | None, precisions: list[str]) -> dict:
    """Per precision: one verify forward's median ms by tree size (a chain, 300 cached
    tokens) and the chain check on three anchor prompts (48 tokens each)."""
    from .loading import load_model
    from .precision import chain_agreement
    rows = {}
    for precision in precisions:
        model, tokenizer = load_model(model_name, precision=precision)
        target = TargetModel(model, tokenizer)
        ms = {k: 1000 * v for k, v in target.time_verify(COST_SIZES, COST_CONTEXT, COST_REPEATS).items()}
        checks = [chain_agreement(target, p["input_ids"], 48) for p in anchor_prompts()[5:30:10]]
        rows[f"{precision} ({str(model.dtype).removeprefix('torch.')})"] = dict(
            ms=ms, agree=sum(c.agree for c in checks), total=sum(c.total for c in checks),
            bitwise=sum(c.bitwise for c in checks), max_logit_diff=max(c.max_logit_diff for c in checks))
    print(cost_table(rows, COST_SIZES))
    return dict(machine=machine(), context=COST_CONTEXT, repeats=COST_REPEATS, rows=rows)
