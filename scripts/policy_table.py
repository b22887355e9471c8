"""What does our tree add? One benchmark run of the four tree policies and prompt lookup,
at fixed budgets of 4, 12, 16 and 64 nodes and at each policy's own defaults, on
Spec-Bench prompts; prints a Markdown table of MAT and speedup over plain decoding by
category (for docs/results.md and the README). Every run is checked against plain greedy
(and the anchors' greedy tokens), as ``racer.bench.cli`` does.

    .venv/bin/python scripts/policy_table.py [--per-category 1] [--tokens 64] [--json out.json]

At a fixed budget our tree runs with the adaptive budget off, like the others; "own
defaults" are the settings each policy's own code ships with (``OWN_DEFAULTS``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from racer.bench import cli as bench  # noqa: E402
from racer.bench.data import TASKS  # noqa: E402

BUDGETS = (4, 12, 16, 64)
POLICIES = ("racer", "racer_paper", "racer_sglang", "suffix")
# Each policy's own defaults: ours is the app's (adaptive budget on, up to 16 nodes); the
# authors' code takes --max-num-draft 64 --max-breadth 8 --ngram 10 and caps no depth;
# SGLang's port --speculative-num-draft-tokens 12, SGLANG_RACER_TOPK 9, NGRAM 10;
# SuffixDecoding's tree depth is 24 and its length follows the match (budget 64 a cap).
OWN_DEFAULTS = {
    "racer": "racer",
    "racer_paper": "racer_paper:budget=64:width=8:window=10:depth=64",
    "racer_sglang": "racer_sglang:budget=12:width=9:window=10:depth=64",
    "suffix": "suffix:budget=64:depth=24",
}
FIXED_OFF = {"racer": ":adaptive_budget=false"}   # the others have a fixed size anyway


def methods() -> list[str]:
    fixed = [f"{p}:budget={b}{FIXED_OFF.get(p, '')}" for b in BUDGETS for p in POLICIES]
    return ["plain"] + fixed + list(OWN_DEFAULTS.values()) + ["prompt_lookup"]


def markdown(tables: dict) -> str:
    groups = [t for t in TASKS if t in tables] + ["overall"]
    head = "| method | " + " | ".join(groups) + " |"
    lines = [head, "|" + "---|" * (len(groups) + 1)]
    for label in tables["overall"]:
        if label == "plain":
            continue
        cells = [f"{tables[g][label]['mat']:.2f} · {tables[g][label]['vs_plain']:.2f}x" for g in groups]
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-category", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    argv = ["--preset", "anchors", "--per-category", str(args.per_category),
            "--max-new-tokens", str(args.tokens), "--drafters", ",".join(methods())]
    if args.json:
        argv += ["--json", args.json]
    result = bench.main(argv)
    prompts = result["tables"]["overall"]["plain"]["prompts"]
    print(f"\nMAT · speedup over plain decoding, {prompts} prompts, {args.tokens} new tokens, "
          f"{result['machine'].get('cpu', 'CPU')}; command: {result['command']}\n")
    print(markdown(result["tables"]))
    if result["mismatches"]:
        sys.exit(f"greedy mismatches: {result['mismatches']}")


if __name__ == "__main__":
    main()
