"""Drafting time per step with inspection on the clock (the engine before issue 17) and
without (now), A/B in one process on the real model.

    python scripts/inspection_ab.py --before 8a90392 --prompts 81,161,321,481 --rounds 2

``--before`` names a commit whose ``racer/`` is copied to a temporary package
``racer_before`` and imported beside ``racer``; both run on one TargetModel (ours), with
the verify costs measured once up front, so neither side pays that one-off. Per prompt
and round the variants alternate (the order rotates): before (inspection inside the
draft and update timers), now inspect=True (what the page runs: inspection built
untimed), now inspect=False (what the benchmark and the sweep run). Prints ms per
verify step: draft, verify, update (the engine's timers), and wall (the whole run
divided by its verify steps, inspection included).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def before_package(commit: str, into: Path) -> None:
    """racer/ at ``commit`` as the package ``racer_before`` under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "racer"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "racer").rename(into / "racer_before")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--before", default="8a90392")
    p.add_argument("--prompts", default="81,161,321,481")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--tokens", type=int, default=64)
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    before_package(a.before, tmp)
    sys.path.insert(0, str(tmp))
    import torch

    from racer.bench.data import load_questions
    from racer.engine.generate import Generation
    from racer.model.loading import load_model, prompt_ids
    from racer.model.target import TargetModel
    from racer.engine.settings import Settings
    from racer_before.generate import Generation as Before
    from racer_before.settings import Settings as BeforeSettings

    model, tokenizer = load_model(precision="float32")
    target = TargetModel(model, tokenizer)
    t = time.perf_counter()
    target.verify_costs()
    print(f"verify costs measured once in {time.perf_counter() - t:.2f} s (torch threads {torch.get_num_threads()})")
    by_id = {q.question_id: q for q in load_questions()}
    prompts = [prompt_ids(tokenizer, by_id[int(i)].text) for i in a.prompts.split(",")]
    variants = {
        "before (inspection timed)": lambda ids: Before(target, ids, BeforeSettings(max_new_tokens=a.tokens)),
        "now, inspect=True (app)": lambda ids: Generation(target, ids, Settings(max_new_tokens=a.tokens)),
        "now, inspect=False (bench)": lambda ids: Generation(target, ids, Settings(max_new_tokens=a.tokens),
                                                             inspect=False),
    }
    # the work inspection does, timed on its own in the inspect=True runs (where it runs untimed)
    from racer.engine import generate
    from racer.drafting.drafters import RacerDrafter
    spent = {"inspect": 0.0, "probs": 0.0}

    def timed(key, fn):
        def wrapped(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start
        return wrapped

    RacerDrafter.inspect = timed("inspect", RacerDrafter.inspect)
    generate.node_probs = timed("probs", generate.node_probs)
    generate.bonus_probability = timed("probs", generate.bonus_probability)
    names = list(variants)
    for name in names:  # warm-up, untimed
        list(variants[name](prompts[0][:32]).steps())
    rows: dict[str, list] = {n: [] for n in names}
    outputs: dict[str, list] = {n: [] for n in names}
    turn = 0
    for _ in range(a.rounds):
        for ids in prompts:
            order = names[turn % 3:] + names[: turn % 3]
            turn += 1
            for name in order:
                start = time.perf_counter()
                gen = variants[name](ids)
                records = [r for r in gen.steps() if r.tree is not None]
                wall = time.perf_counter() - start
                rows[name].append((records, wall))
                outputs[name].append(list(gen.output))
    same = all(outputs[n] == outputs[names[0]] for n in names)
    print(f"{len(prompts)} prompts x {a.rounds} rounds, {a.tokens} new tokens, default settings; same tokens: {same}")
    print("| variant | steps | draft ms/step | verify ms/step | update ms/step | wall ms/step |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in names:
        steps = [r for records, _ in rows[name] for r in records]
        n = len(steps)
        draft = 1000 * sum(r.timings.draft_s for r in steps) / n
        verify = 1000 * sum(r.timings.verify_s for r in steps) / n
        update = 1000 * sum(r.timings.update_s for r in steps) / n
        wall = 1000 * sum(w for _, w in rows[name]) / n
        print(f"| {name} | {n} | {draft:.2f} | {verify:.1f} | {update:.2f} | {wall:.1f} |")
    per_prompt = [statistics.median(r.timings.draft_s for r in records) * 1000 for records, _ in rows[names[0]]]
    print("median draft ms per step, before, per run:", " ".join(f"{x:.2f}" for x in per_prompt))
    n = len([r for records, _ in rows[names[1]] for r in records])
    print(f"inspection's own cost in the inspect=True runs, ms per verify step: trie and offers "
          f"{1000 * spent['inspect'] / n:.2f}, node and bonus probabilities {1000 * spent['probs'] / n:.2f} "
          "(prefill's bonus probability included)")
    for name in names:
        ratios = [statistics.median(r.timings.draft_s for r in records) for records, _ in rows[name]]
        print(f"{name}: median over runs of the per-run median draft ms/step {1000 * statistics.median(ratios):.3f}; "
              f"update {1000 * statistics.median(statistics.median(r.timings.update_s for r in rs) for rs, _ in rows[name]):.2f}")


if __name__ == "__main__":
    main()
