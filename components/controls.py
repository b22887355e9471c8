"""The page's settings controls, generated from the Settings schema
(``racer.engine.settings.KNOBS``), and the reading of their raw values.

Controls arrive raw (app.py skips Gradio's preprocessing for these events), because the
API can send anything: ``read_controls`` clamps numbers into each knob's page span with
a note naming the control, and refuses what is not a number with a sentence saying
what to send. Handlers get the controls by name (``**controls``), never by position.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import gradio as gr

from racer import UserError
from racer.drafting.registry import drafter_menu
from racer.model.loading import prompt_ids
from racer.engine.settings import KNOBS, PRESETS, Knob, Settings

MEASURE = "measure"  # the one Explore control that is not a setting: time plain decoding alongside
COMPARE_TOKENS = Knob("New tokens per drafter", "new tokens per drafter", span=(4, 512), kind=int)
# with 36 settings x 6 prompts, 256 tokens each is already a long wait
TUNE_TOKENS = Knob("New tokens per prompt", "new tokens per prompt", span=(4, 256), kind=int)
# The longest prompt the page reads, in tokens (chat template included). Model events run
# one at a time, so every visitor's step waits behind a prompt's prefill, and with speedup
# measured plain decoding reads the prompt once more. Prefill of SmolLM2-135M on this
# project's 2-core CPU (float32, other work on the cores; CPU seconds over both cores, then
# wall): 512 tokens 3.9-5.1 s CPU (6-11 s wall), 1024 tokens 6.6-9.6 s CPU (10-19 s wall),
# 2048 tokens 12-14 s CPU (14-28 s wall); about 5 s wall at 1024 on two free cores, and
# issue 23's 6,696-token prompt took 51 s. 1024 keeps every example prompt (the longest
# is 769 tokens) and most of Spec-Bench (median 94 tokens, longest 1,598).
MAX_PROMPT_TOKENS = 1024
PROMPT_CAP_WHY = ("reading a longer one takes more than a few seconds on a 2-core CPU, and every visitor's "
                  "step waits behind it")
# A prompt may hold at most this many characters per token of the cap, so a pasted book
# is refused before tokenising it (English runs at about 4 per token).
PROMPT_CHARS_PER_TOKEN = 16


# -- building the controls --------------------------------------------------------------

def setting_controls(defaults: Settings, main: bool) -> dict[str, gr.components.Component]:
    """Creates, where the layout is being built, a control per main (or advanced)
    setting, in field order: a slider, a number box, a checkbox or a menu."""
    return {k.name: _control(k, getattr(defaults, k.name)) for k in KNOBS.values() if k.main == main}


def _control(knob: Knob, value) -> gr.components.Component:
    info = knob.help if knob.info is None else knob.info
    common = dict(label=knob.label, info=info or None, elem_id=knob.name.replace("_", "-"))
    if knob.kind is bool:
        return gr.Checkbox(value=value, **common)
    if knob.choices is not None:
        return gr.Dropdown(list(knob.choices()), value=value, **common)
    if knob.number_box:
        return gr.Number(value=value, precision=0, **common)
    return gr.Slider(*knob.limits, value=value, step=knob.step, **common)


def preset_controls(name: str, costs: dict[int, float] | None) -> tuple[gr.Button, gr.Markdown]:
    """A preset's button and its note (what it sets, and what its tree costs here)."""
    button = gr.Button(f"{name.capitalize()} preset", size="sm", variant="secondary", elem_id=f"{name}-preset")
    return button, gr.Markdown(preset_note(name, costs), elem_id=f"{name}-preset-note")


def preset_note(name: str, costs: dict[int, float] | None) -> str:
    """What a preset sets, and what one forward of its tree costs on this machine
    against plain decoding's (``costs``: ``TargetModel.verify_costs()``, measured once
    at start-up; None without a model).

    >>> preset_note("teaching", {1: 0.02, 16: 0.03, 32: 0.05})
    'Teaching preset: adaptive budget off, draft budget 16, tree width 4, tree depth 6 · at start-up one forward of a 16-node tree took 30 ms, 1.5x a plain step (20 ms); each step shows what its own forward took.'
    """
    values = PRESETS[name]
    said = ", ".join(f"{KNOBS[k].phrase} {'off' if v is False else 'on' if v is True else v}"
                     for k, v in values.items())
    text = f"{name.capitalize()} preset: {said}"
    size = values.get("budget")
    if costs and size and 1 in costs:
        near = min(costs, key=lambda n: abs(n - size))
        text += (f" · at start-up one forward of a {near}-node tree took {costs[near] * 1000:.0f} ms, "
                 f"{costs[near] / costs[1]:.1f}x a plain step ({costs[1] * 1000:.0f} ms); each step shows "
                 "what its own forward took.")
    else:
        text += "."
    return text


def preset_values(name: str, settings: Sequence[str]) -> list:
    """The values a preset gives the named controls, in order (gr.skip() for those it
    leaves alone)."""
    values = PRESETS[name]
    return [values[n] if n in values else gr.skip() for n in settings]


def compare_controls() -> tuple[gr.Slider, gr.CheckboxGroup]:
    """The Compare tab's own controls: tokens per drafter and the drafters (all ticked)."""
    tokens = gr.Slider(*COMPARE_TOKENS.span, value=64, step=1, label=COMPARE_TOKENS.label, scale=2,
                       elem_id="compare-tokens")
    menu = drafter_menu()
    drafters = gr.CheckboxGroup(menu, value=[name for _, name in menu], label="Drafters", scale=3)
    return tokens, drafters


def tune_tokens_control() -> gr.Slider:
    """The Tune tab's tokens per prompt: the slider offers what the sweep accepts."""
    return gr.Slider(*TUNE_TOKENS.span, value=32, step=1, label=TUNE_TOKENS.label, elem_id="tune-tokens")


def grid_control(name: str, ticked: Sequence[int] = (), info: str | None = None) -> gr.CheckboxGroup:
    """The Tune tab's tick boxes for one setting: its knob's grid values."""
    knob = KNOBS[name]
    return gr.CheckboxGroup(list(knob.grid), value=list(ticked), label=f"{knob.label}s", info=info,
                            elem_id=f"tune-{name}s")


# -- reading raw values ------------------------------------------------------------------

def read_controls(values: Mapping) -> tuple[Settings, list[str]]:
    """Settings from the controls' raw values (by setting name; other keys are left
    alone), and notes on what was adjusted.

    Numbers are clamped into their knob's page span (see ``number``); an unknown choice,
    a checkbox that is not true/false or a value that is not a number raises UserError,
    whose sentence says what to send instead.
    """
    notes: list[str] = []
    return Settings(**{name: _read(knob, values[name], notes) for name, knob in KNOBS.items()}), notes


def _read(knob: Knob, value, notes: list[str]):
    if knob.kind is bool:
        return flag(value, knob.phrase)
    if knob.choices is not None:
        allowed = knob.values()
        if value not in allowed:
            raise UserError(f"There is no {knob.phrase} called {str(value)[:40]!r}; choose one of "
                            f"{', '.join(allowed)}.")
        return value
    return number(value, knob, notes)


def as_float(value, words: str, hint: str) -> float:
    """A raw control value as a float; UserError with a sentence when it is empty or
    not a number. as_float("2.5", "draft budget", "...") -> 2.5."""
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        raise UserError(f"The {words} is empty; {hint}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"The {words} is not a number ({str(value)[:40]!r}); {hint}.") from None


def number(value, knob: Knob, notes: list[str]) -> int | float:
    """``value`` as a number within the knob's page span: clamped to the nearest end and
    rounded where the knob takes whole numbers, each change noted in ``notes``. Raises
    UserError with a sentence when ``value`` is not a number at all.

    number(0, KNOBS["width"], notes) -> 1, notes == ["tree width 0 → 1 (below its range, 1 to 64)"]
    number(2.5, KNOBS["budget"], notes) -> 3, notes == ["draft budget 2.5 → 3 (not a whole number)"]
    """
    low, high = knob.limits
    hint = f"give a number from {_num(low)} to {_num(high)}"
    x = as_float(value, knob.phrase, hint)
    if not math.isfinite(x):
        raise UserError(f"The {knob.phrase} is not a finite number ({x}); {hint}.")
    used = min(max(x, low), high)
    if knob.kind is int:
        used = int(math.floor(used + 0.5))
    if used != x:
        why = (f"below its range, {_num(low)} to {_num(high)}" if x < low else
               f"above its range, {_num(low)} to {_num(high)}" if x > high else "not a whole number")
        notes.append(f"{knob.phrase} {_num(x)} → {_num(used)} ({why})")
    return used


def _num(x: float) -> str:
    """A number for an adjustment note.

    >>> _num(4294967295), _num(0.05), _num(1e30)
    ('4,294,967,295', '0.05', '1e+30')
    """
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def flag(value, words: str) -> bool:
    """A checkbox's value: True/False (or 1/0); anything else raises UserError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise UserError(f"'{words}' must be true or false (got {str(value)[:40]!r}).")


def checked_prompt_ids(target, prompt) -> list[int]:
    """The prompt's token ids (chat template applied); UserError with one sentence when it
    is not text, or longer than ``MAX_PROMPT_TOKENS`` (saying the cap and why; a pasted
    book is refused by its characters, before tokenising it). An empty prompt, or one
    beyond a small model's context, is refused by ``Generation``."""
    if prompt is not None and not isinstance(prompt, str):
        raise UserError("The prompt must be text.")
    if prompt is not None and len(prompt) > PROMPT_CHARS_PER_TOKEN * MAX_PROMPT_TOKENS:
        raise UserError(f"The prompt is {len(prompt):,} characters long, far beyond the {MAX_PROMPT_TOKENS:,} "
                        f"tokens this page reads of a prompt ({PROMPT_CAP_WHY}); shorten it.")
    ids = prompt_ids(target.tokenizer, prompt or "")
    if len(ids) > MAX_PROMPT_TOKENS:
        raise UserError(f"The prompt is {len(ids):,} tokens long, beyond the {MAX_PROMPT_TOKENS:,} this page reads "
                        f"of a prompt ({PROMPT_CAP_WHY}); shorten it.")
    return ids
