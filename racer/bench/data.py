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
(``racer.model.loading.prompt_ids`` does that).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from racer.errors import UserError

DATA = Path(__file__).resolve().parent.parent / "data"
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


# -- a tuner's own prompts -------------------------------------------------------------------

MAX_UPLOAD_PROMPTS = 50
MAX_UPLOAD_BYTES = 1_000_000   # 50 long prompts fit; a bigger file is not a prompt list
UPLOAD_KINDS = (".jsonl", ".txt")


def read_prompt_file(path: str | Path) -> list[str]:
    """The prompts of an uploaded file (``parse_prompts``), its size checked before it is
    read; UserError with one sentence for a file that cannot be used."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise UserError("The uploaded file could not be read; upload it again.") from None
    if size > MAX_UPLOAD_BYTES:
        raise UserError(f"The file is {size / 1e6:.1f} MB; a prompt file may be at most "
                        f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB ({MAX_UPLOAD_PROMPTS} prompts).")
    return parse_prompts(path.name, path.read_bytes())


def parse_prompts(name: str, data: bytes) -> list[str]:
    """Prompts from a file's bytes, by its name's ending:

    - ``.jsonl``: one JSON object a line, Spec-Bench's ``{"turns": ["..."]}`` (the first
      turn is the prompt) or ``{"prompt": "..."}``; blank lines are skipped;
    - ``.txt``: prompts separated by one or more blank lines.

    At most ``MAX_UPLOAD_PROMPTS``. Raises UserError with one sentence naming the line
    for an empty file, binary data, a line that is not JSON or holds no prompt, or too
    many prompts.

    >>> parse_prompts("p.txt", b"Say hi.\\n\\nCount to 3.\\nThen stop.\\n")
    ['Say hi.', 'Count to 3.\\nThen stop.']
    >>> parse_prompts("q.jsonl", b'{"turns": ["One?", "Two?"]}\\n{"prompt": "Three?"}')
    ['One?', 'Three?']
    """
    kind = Path(name).suffix.lower()
    if kind not in UPLOAD_KINDS:
        raise UserError(f"The file {Path(name).name[:60]} is not a .jsonl or .txt file; upload prompts as "
                        "JSON lines or as text with a blank line between prompts.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UserError(f"The file is {len(data) / 1e6:.1f} MB; a prompt file may be at most "
                        f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB ({MAX_UPLOAD_PROMPTS} prompts).")
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise UserError(f"The file is binary (line {line} holds a zero byte), not text; upload a .jsonl or "
                        ".txt file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UserError(f"Line {line} of the file is not UTF-8 text; save the file as UTF-8 and upload it "
                        "again.") from None
    if not text.strip():
        raise UserError("The file is empty: it holds no prompt.")
    prompts = _jsonl_prompts(text) if kind == ".jsonl" else _text_prompts(text)
    if len(prompts) > MAX_UPLOAD_PROMPTS:
        raise UserError(f"The file holds {len(prompts)} prompts; at most {MAX_UPLOAD_PROMPTS} fit in one sweep "
                        f"(prompt {MAX_UPLOAD_PROMPTS + 1} is the first too many).")
    return prompts


def _jsonl_prompts(text: str) -> list[str]:
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise UserError(f"Line {number} is not JSON ({line.strip()[:40]!r}); each line must be an object "
                            'such as {"prompt": "..."} or {"turns": ["..."]}.') from None
        prompt = None
        if isinstance(item, dict):
            turns = item.get("turns")
            prompt = item.get("prompt") if turns is None else (turns[0] if isinstance(turns, list) and turns
                                                               else None)
        if not isinstance(prompt, str) or not prompt.strip():
            raise UserError(f'Line {number} has no prompt: it needs "prompt" (a text) or "turns" (a list whose '
                            "first item is a text).")
        prompts.append(prompt)
    return prompts


def _text_prompts(text: str) -> list[str]:
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks
