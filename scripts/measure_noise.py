"""Measures what the Tune and Compare tabs show, on the real model, for docs/results.md:
a 2 x 2 Tune grid with 3 runs per setting on one Spec-Bench prompt, and a Compare of the
drafters on the app's first example with 3 rounds. Prints Markdown tables.

    .venv/bin/python scripts/measure_noise.py [--tokens 32] [--compare-tokens 64]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.compare import TABLE_HEADERS as COMPARE_HEADERS  # noqa: E402
from components.compare import table_rows as compare_rows, verdict_note  # noqa: E402
from components.figures.tune import TABLE_HEADERS, best_markdown, table_rows  # noqa: E402
from racer.bench.data import load_questions, select  # noqa: E402
from racer.measure.compare import run_drafters  # noqa: E402
from racer.drafting.registry import drafter_names  # noqa: E402
from racer.model.loading import load_model, prompt_ids  # noqa: E402
from racer.model.target import TargetModel  # noqa: E402
from racer.engine.settings import Settings  # noqa: E402
from racer.measure.sweep import Grid, sweep  # noqa: E402


def markdown(headers, rows) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--compare-tokens", type=int, default=64)
    parser.add_argument("--category", default="translation")
    args = parser.parse_args()
    target = TargetModel(*load_model(precision="float32"))
    print(f"machine: {platform.processor() or platform.machine()}, model {target.name}, float32\n")
    costs = target.verify_costs()
    print("verify cost (ms): " + ", ".join(f"{k}: {v * 1000:.1f}" for k, v in sorted(costs.items())) + "\n")
    question = select(load_questions(), (args.category,), 1)[0]
    ids = [prompt_ids(target.tokenizer, question.text)]
    grid = Grid((2, 4), (2, 4))
    *_, last = sweep(target, ids, Settings(max_new_tokens=args.tokens), grid, repeats=3)
    print(f"## Tune: {args.category} q{question.question_id}, {args.tokens} tokens, 3 runs\n")
    print(markdown(TABLE_HEADERS, table_rows(last.result)) + "\n")
    print(best_markdown(last.result) + "\n")
    example = json.loads((Path(__file__).resolve().parent.parent / "assets" / "examples.jsonl")
                         .read_text().splitlines()[0])
    settings = Settings(max_new_tokens=args.compare_tokens)
    ex_ids = prompt_ids(target.tokenizer, example["prompt"])
    *_, (_, _, results, *_) = run_drafters(target, ex_ids, settings, drafter_names(), repeats=3)
    print(f"## Compare: example '{example['prompt'][:50]}…', {args.compare_tokens} tokens, 3 rounds\n")
    print(markdown(COMPARE_HEADERS, compare_rows(results)) + "\n")
    print(verdict_note(results))


if __name__ == "__main__":
    main()
