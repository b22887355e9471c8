"""Measure the calibration table a new generation starts from.

    python -m racer.measure.fit_prior --out racer/data/calibration_prior.json

Runs RACER (fixed budget, so every kind of node gets drafted) on Spec-Bench prompts
that are NOT in the anchors preset (by default questions 6-10 of each task, 30 in
all), and counts, per evidence bucket, how many drafted nodes whose parent was
accepted were accepted too. ``racer.drafting.calibration`` starts every table from these
rates instead of from the raw evidence (a cached probability of 0.95 is accepted
about half the time, not 95%).

Left out on purpose: the anchors' prompts (the benchmark's), and timing.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections import defaultdict

from racer.bench.data import PRESETS, load_questions, select
from racer.drafting.calibration import bucket_key
from racer.engine.generate import Generation
from racer.model.loading import load_model, prompt_ids
from racer.model.target import TargetModel
from racer.engine.settings import Settings


def count_outcomes(target: TargetModel, prompts: list[list[int]], settings: Settings) -> dict[tuple, list[int]]:
    """{evidence bucket: [accepted, tested]} over every verified node whose parent
    was accepted."""
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for ids in prompts:
        for record in Generation(target, ids, settings).steps():
            if record.tree is None:
                continue
            on_path = set(record.accepted)
            for i in range(1, len(record.tree)):
                if record.tree.parents[i] in on_path:
                    cell = cells[bucket_key(record.tree.evidence[i])]
                    cell[0] += i in on_path
                    cell[1] += 1
    return dict(cells)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m racer.measure.fit_prior", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--per-task", type=int, default=10, help="take the first N of each task, anchors left out")
    p.add_argument("--budget", type=int, default=16)
    a = p.parse_args(argv)
    model, tokenizer = load_model()
    target = TargetModel(model, tokenizer)
    questions = [q for q in select(load_questions(), per_task=a.per_task)
                 if q.question_id not in PRESETS["anchors"]]
    settings = Settings(budget=a.budget, adaptive_budget=False)
    cells = count_outcomes(target, [prompt_ids(tokenizer, q.text) for q in questions], settings)
    result = dict(
        what=("Acceptance of drafted nodes whose parent was accepted, per evidence bucket: "
              "[accepted, tested]. The starting table of racer.drafting.calibration."),
        model=target.name, command="python -m racer.measure.fit_prior " + " ".join(argv or sys.argv[1:]),
        date=datetime.date.today().isoformat(), questions=[q.question_id for q in questions],
        settings=settings.as_dict(),
        cells={repr(k): v for k, v in sorted(cells.items(), key=lambda kv: repr(kv[0]))})
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"{sum(n for _, n in cells.values())} tested nodes in {len(cells)} buckets -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
