"""Benchmark prompts: the Spec-Bench questions shipped in ``racer/data``.

Spec-Bench has six tasks of 80 questions. Its ``question.jsonl`` names the task in the
``category`` field, except for the first 80 questions (MT-bench), whose field holds
their MT-bench subcategory (writing, roleplay, ...); those are the "multi-turn" task.
Only the first turn of each question is used.

``select`` picks N questions per task, taking the task's subcategories in turn
(first of each, then second of each, ...): for multi-turn that spreads the picks over
writing, roleplay, reasoning, ...; the other tasks have one subcategory, so it is their
first N. With N = 5 this gives exactly the "anchors" preset.

Left out on purpose: later turns (the engine answers single prompts) and tokenizing
(``racer.loading.prompt_ids`` does that).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

DATA = Path(__file__).resolve().parent / "data"
TASKS = ("multi-turn", "translation", "summarization", "qa", "math_reasoning", "rag")

# The 30 prompts the anchor measurements (authors' code, transformers generate) used.
PRESETS = {
    "anchors": (81, 91, 101, 111, 121, 161, 162, 163, 164, 165, 241, 242, 243, 244, 245,
                321, 322, 323, 324, 325, 401, 402, 403, 404, 405, 481, 482, 483, 484, 485),
}


@dataclass(frozen=True)
class Question:
    question_id: int
    task: str          # one of TASKS
    subcategory: str   # Spec-Bench's category field (MT-bench subcategory for multi-turn)
    text: str          # first turn


def load_questions(path: Path = DATA / "question.jsonl") -> list[Question]:
    questions = []
    for line in path.read_text().splitlines():
        if line.strip():
            q = json.loads(line)
            task = q["category"] if q["category"] in TASKS else "multi-turn"
            questions.append(Question(q["question_id"], task, q["category"], q["turns"][0]))
    return questions


def select(questions: list[Question], tasks: tuple[str, ...] = TASKS,
           per_task: int | None = None) -> list[Question]:
    """Questions of ``tasks`` (in that order), at most ``per_task`` each, subcategories
    taken in turn. Subcategories a1 a2 a3 b1 b2, per_task 3 -> a1 b1 a2."""
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise UserError(f"unknown categories {sorted(unknown)}; choose from {', '.join(TASKS)}")
    chosen = []
    for task in tasks:
        by_sub: dict[str, list[Question]] = {}
        for q in questions:
            if q.task == task:
                by_sub.setdefault(q.subcategory, []).append(q)
        rounds = max((len(v) for v in by_sub.values()), default=0)
        in_turn = [qs[i] for i in range(rounds) for qs in by_sub.values() if i < len(qs)]
        chosen.extend(in_turn[:per_task])
    return chosen


def preset(name: str, questions: list[Question]) -> list[Question]:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    by_id = {q.question_id: q for q in questions}
    return [by_id[i] for i in PRESETS[name]]


ANCHORS = DATA / "anchors_greedy.json"


def anchor_prompts(path: Path = ANCHORS) -> list[dict]:
    """The 30 anchor prompts in preset order: question_id, category, input_ids (the
    prompt as the model reads it) and greedy_output_ids (see the file's "what")."""
    return json.loads(path.read_text())["prompts"]


def anchor_outputs(path: Path = ANCHORS) -> dict[int, list[int]]:
    """question_id -> the greedy output measured for the anchors."""
    return {p["question_id"]: p["greedy_output_ids"] for p in anchor_prompts(path)}
