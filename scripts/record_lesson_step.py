"""Records the worked step of the "How it works" lesson: one real step of the real
model on an example prompt, stored as JSON in ``assets/lesson_step.json``.

    .venv/bin/python -m scripts.record_lesson_step              # the packing-list example
    .venv/bin/python -m scripts.record_lesson_step --example 0

The lesson (``components/figures/lesson.py``) is built from this file alone, so its text is
rebuilt from whatever record is stored. The run is greedy with the adaptive budget
off, so the whole drafted tree is verified and the lesson can show what the adaptive
budget would have kept of it on the machine that shows the page. The step chosen is
the first that teaches the most: both sources drafted, at least two drafts accepted
and at least one rejected.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from racer.inspect import trace
from racer.engine.generate import Generation
from racer.model.loading import DEFAULT_MODEL, load_model, prompt_ids
from racer.model.target import TargetModel
from racer.engine.records import REJECTED, StepRecord
from racer.engine.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
FORMAT = "racer-explorer-lesson-step/1"


def teaches(record: StepRecord) -> bool:
    """Both sources in the tree, two or more drafts accepted, one or more rejected, and
    the model's own token emitted (nothing cut by the end of the answer)."""
    if record.tree is None:
        return False
    sources = set(record.tree.sources)
    return ({"retrieval", "both"} & sources and {"logits", "both"} & sources and record.accepted_drafts >= 2
            and REJECTED in record.verdicts and len(record.emitted) == len(record.accepted))


def token_ids(data) -> set[int]:
    """Every token id a record's drawing may label: tree, picks, output, match, trie."""
    r = data
    ids = set(r["tree"]["tokens"]) | {t for t in r["target_tokens"] if t is not None} | set(r["emitted"])
    auto = r["automaton"]
    ids |= set(auto["matched"]) | {t for b in auto["borders"] for t in b}
    ids |= {t for t, _ in auto["offered"]} | {t for t, _ in auto["cached"]}
    if auto.get("trie"):
        ids |= {t for t in auto["trie"]["tokens"] if t >= 0}
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", type=int, default=2, help="line of assets/examples.jsonl (from 0)")
    parser.add_argument("--out", type=Path, default=ASSETS / "lesson_step.json")
    args = parser.parse_args()
    example = json.loads((ASSETS / "examples.jsonl").read_text(encoding="utf-8").splitlines()[args.example])
    model, tokenizer = load_model(DEFAULT_MODEL, precision="float32")  # the same on every CPU
    target = TargetModel(model, tokenizer)
    ids = prompt_ids(tokenizer, example["prompt"])
    settings = Settings(adaptive_budget=False)
    generation = Generation(target, ids, settings)
    output: list[int] = []
    for record in generation.steps():
        if teaches(record):
            break
        output += record.emitted
    else:
        raise SystemExit("no step of this example shows both sources, accepts and rejects; try another")
    step = trace.record_to_dict(record)
    texts = {str(t): target.token_text(t) for t in sorted(token_ids(step))}
    data = {"format": FORMAT, "model": DEFAULT_MODEL, "dtype": str(model.dtype).removeprefix("torch."),
            "example": example, "prompt_tokens": len(ids), "text_before": target.decode(output),
            "record": step, "token_texts": texts}
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"step {record.index}: {len(record.tree)} nodes, {record.accepted_drafts} drafts accepted -> {args.out}")


if __name__ == "__main__":
    main()
