"""The verify-cost check behind ``python -m racer.bench --verify-costs``: per precision and
matrix-product backend, one verify forward's cost by tree size, where that time goes
(matrix products, attention, the rest), and the chain check (token-by-token decoding
against one chain verify).

Backends are timed in turns within one process (``COST_ROUNDS`` rounds, median), so that a
busy machine slows them alike; ratios between them are the numbers to read.

Left out on purpose: drafters; only the target model's own forwards are timed and compared.
"""
from __future__ import annotations

import statistics

from racer.model.backend import candidates, check_backend, split_costs, use_backend
from racer.bench.data import anchor_prompts
from racer.bench.report import cost_table, format_table, machine
from racer.model.target import TargetModel

COST_SIZES = (1, 2, 4, 6, 8, 16, 32, 64)
COST_CONTEXT = 300      # cached tokens under the tree
COST_REPEATS = 9
COST_ROUNDS = 3
SPLIT_REPEATS = 5


def cost_report(model_name: str | None, precisions: list[str], backends: list[str] | None = None) -> dict:
    """Per precision and backend: one verify forward's median ms by tree size (a chain,
    300 cached tokens), its split into products, attention and the rest, and the chain
    check on three anchor prompts (48 tokens each). ``backends`` defaults to every
    candidate here ("auto" in the list means the same)."""
    from racer.model.loading import load_model
    from racer.model.precision import chain_agreement
    rows, splits = {}, {}
    for precision in precisions:
        model, tokenizer = load_model(model_name, precision=precision, backend="torch")
        target = TargetModel(model, tokenizer)
        names = _backends(backends, model)
        runs = {name: [] for name in names}
        for _ in range(COST_ROUNDS):
            for name in names:
                use_backend(model, name)
                runs[name].append(target.time_verify(COST_SIZES, COST_CONTEXT, COST_REPEATS))
        for name in names:
            use_backend(model, name)
            label = f"{precision} ({str(model.dtype).removeprefix('torch.')}), {name}"
            ms = {k: 1000 * statistics.median(r[k] for r in runs[name]) for k in COST_SIZES}
            checks = [chain_agreement(target, p["input_ids"], 48) for p in anchor_prompts()[5:30:10]]
            rows[label] = dict(
                backend=name, ms=ms, agree=sum(c.agree for c in checks), total=sum(c.total for c in checks),
                bitwise=sum(c.bitwise for c in checks), max_logit_diff=max(c.max_logit_diff for c in checks))
            splits[label] = split_costs(target, COST_SIZES, COST_CONTEXT, SPLIT_REPEATS)
        use_backend(model, "torch")
    print(cost_table(rows, COST_SIZES))
    print()
    print(split_table(rows, splits))
    return dict(machine=machine(), context=COST_CONTEXT, repeats=COST_REPEATS, rounds=COST_ROUNDS,
                rows=rows, splits=splits)


def split_table(rows: dict[str, dict], splits: dict[str, dict]) -> str:
    """Per path and tree size: ms in matrix products, attention and the rest (timed inside
    the forward), and the untimed total's ratio to the torch backend's at that size."""
    torch_ms = {label.rsplit(", ", 1)[0]: r["ms"] for label, r in rows.items() if r["backend"] == "torch"}
    body = []
    for label, parts in splits.items():
        reference = torch_ms.get(label.rsplit(", ", 1)[0])
        for size, p in parts.items():
            ratio = rows[label]["ms"][size] / reference[size] if reference else float("nan")
            body.append([label, size, rows[label]["ms"][size], ratio, p["total"], p["matmul"], p["attention"],
                         p["rest"]])
    headers = ["path", "nodes", "ms", "x torch", "timed ms", "products", "attention", "rest"]
    return ("where a verify forward's time goes. ms: untimed forward (median), x torch: its ratio to the "
            "torch backend's at the same size; timed ms = products + attention + rest, timed inside "
            "one pass of forwards (median of each)\n" + format_table(headers, body))


def _backends(asked: list[str] | None, model) -> list[str]:
    here = candidates(model)
    if not asked or "auto" in asked:
        return here
    return [check_backend(name) for name in dict.fromkeys(asked)]
