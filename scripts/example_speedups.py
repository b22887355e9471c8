"""The app's example prompts, each run to the end at the defaults by the engine alone:
RACER and prompt lookup against plain decoding, the methods alternated per prompt in one
process, each keeping its fastest of ``--repeat`` rounds (``racer.bench``). Prints one row
per example (tokens, MAT, speedups) and the benchmark's own tables.

    .venv/bin/python scripts/example_speedups.py --repeat 2 [--drafters racer,prompt_lookup,plain]
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import racer  # noqa: E402,F401  first: how idle threads wait
from racer.bench import cli as bench  # noqa: E402
from racer.bench.report import format_table  # noqa: E402
from racer.bench.runs import Prompt  # noqa: E402
from racer.engine.metrics import mat, speedup  # noqa: E402
from racer.engine.settings import Settings  # noqa: E402
from racer.model.loading import load_model, prompt_ids  # noqa: E402
from racer.model.target import TargetModel  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeat", type=int, default=2)
parser.add_argument("--drafters", default="racer,prompt_lookup,plain")
parser.add_argument("--max-new-tokens", type=int, default=Settings().max_new_tokens)
args = parser.parse_args()

model, tokenizer = load_model()
target = TargetModel(model, tokenizer)
examples = [json.loads(line) for line in (ROOT / "assets" / "examples.jsonl").read_text().splitlines() if line.strip()]
prompts = [Prompt(i, "qa", tuple(prompt_ids(tokenizer, e["prompt"]))) for i, e in enumerate(examples)]
result = bench.main(["--drafters", args.drafters, "--repeat", str(args.repeat),
                     "--max-new-tokens", str(args.max_new_tokens)], target=target, prompts=prompts)
runs = {(r["method"], r["question_id"]): r for r in result["runs"]}
methods = [m for m in args.drafters.split(",") if m != "plain"]
rows = []
for i, e in enumerate(examples):
    plain = runs["plain", i]
    row = [e.get("category", f"example {i}")[:40], plain["tokens"]]
    for m in methods:
        r = runs[m, i]
        row += [mat(r["tokens"], r["forwards"]), speedup(plain["seconds"], r["seconds"])]
    rows.append(row)
headers = ["example", "tokens"] + [h for m in methods for h in (f"{m} MAT", f"{m} vs plain")]
print("\nper example (fastest of each method's rounds; greedy, the defaults)\n" + format_table(headers, rows))
