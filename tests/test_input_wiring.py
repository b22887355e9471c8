"""Typed numbers reach the handlers (issue 14, inputs): Enter in a slider's number box
applies it at once, and a step typed into the history box moves the view, not only the
knob.

The chain: assets/enter_applies.js (tested in node by tests/test_enter_applies.py) blurs
the box on Enter; Gradio's slider sends ``release`` when its number box loses focus;
app.py wires ``release`` of every settings slider to ``on_settings`` and of the history
scrubber to ``on_view``. The page built here runs a tiny model; no browser.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import gradio as gr
import pytest

from components.state import Session
from racer.engine.settings import Settings
from tests.app_client import controls
from tests.tiny import repetitive_prompt, target, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


@lru_cache(maxsize=None)
def tiny_page():
    """The page over a tiny model (not launched): (demo, target)."""
    import app
    tm = target(tiny_model("llama", 0))
    return app.build_app(tm, "tiny", "a tiny model"), tm


def released_by(demo, component) -> list:
    """The events that run when ``component`` sends ``release``."""
    return [fn for fn in demo.fns.values()
            if any(t[0] == component._id and t[1] == "release" for t in fn.targets)]


def sliders(demo) -> dict:
    return {c.elem_id or c.label: c for c in demo.blocks.values() if isinstance(c, gr.Slider)}


def test_the_page_runs_the_enter_script_in_its_head():
    import app
    script = (Path(app.__file__).parent / "assets" / "enter_applies.js").read_text(encoding="utf-8")
    assert f"<script>{script}</script>" in app.launch_options()["head"]


def test_gradios_slider_sends_release_when_its_number_box_loses_focus():
    """What the Enter script relies on, read from the installed Gradio's slider: the number
    box's blur handler dispatches ``release`` (Gradio 6.31: ``x(`blur`,S,J)`` with
    ``function J(){R.dispatch(`release`,...)``)."""
    assets = Path(gr.__file__).parent / "templates" / "frontend" / "assets"
    bundle = next(p.read_text(encoding="utf-8") for p in assets.glob("Index-*.js")
                  if "slider_input_container" in p.read_text(encoding="utf-8"))
    number_box = re.search(r'<input data-testid="number-input" type="number"', bundle)
    assert number_box, "the slider has no number box"
    handlers = re.findall(r"\w+\(`blur`,(\w+),(\w+)\)", bundle)
    assert handlers, "nothing listens for the number box's blur"
    assert any(re.search(rf"function {fn}\(\)\{{\w+\.dispatch\(`release`", bundle) for _, fn in handlers)


def test_every_setting_box_releases_into_on_settings():
    demo, _ = tiny_page()
    settings = {name: c for name, c in sliders(demo).items() if name not in ("scrubber",)}
    explore = [c for c in settings.values() if released_by(demo, c)]
    assert len(explore) >= 5, sorted(settings)   # width, depth, window, budget, tokens...
    for slider in explore:
        (fn,) = released_by(demo, slider)
        assert fn.fn.__name__ == "on_settings" and slider in fn.inputs


def test_a_typed_setting_is_named_on_the_status_line():
    """The release a typed width sends reaches on_settings with that width: the status line
    names it at once (before: only after focus left the box)."""
    demo, _ = tiny_page()
    (fn,) = [f for f in demo.fns.values() if f.api_name == "settings"]
    status = fn.fn(Session(), **controls(width=5))
    assert "width" in status and "5" in status, status


def test_a_step_typed_into_the_history_box_moves_the_view():
    demo, tm = tiny_page()
    scrubber = sliders(demo)["scrubber"]
    (fn,) = released_by(demo, scrubber)
    assert fn.fn.__name__ == "on_view" and scrubber in fn.inputs

    session = Session()
    session.settings = Settings(max_new_tokens=12, adaptive_budget=False)
    session.start(tm, "tiny prompt", repetitive_prompt(0))
    for _ in range(4):
        session.step(tm.token_text)
    last = session.last.index
    outputs = [getattr(c, "elem_id", None) for c in fn.outputs]
    latest = dict(zip(outputs, fn.fn(session, last)))
    for typed in (1, 2.0, "1"):   # the number box's value as the browser sends it
        step = int(float(typed))
        shown = dict(zip(outputs, fn.fn(session, typed)))
        assert shown["scrubber"].value == step and f"step {step} of {last}" in shown["scrubber"].label
        assert f"Viewing step {step}" in shown["status"], shown["status"]
        assert shown["outcome"] != latest["outcome"]   # the view moved with the knob



def test_no_click_on_a_model_button_is_dropped_silently():
    """Issue 23: ten fast Step clicks gave 3 steps. Gradio's default trigger mode ("once")
    drops a click while the same event is pending. Every button that starts a model event
    either keeps every click (they queue behind the model, and the status line shows the
    queue) or greys itself out at once (a queue-free event that disables it) while busy."""
    demo, _ = tiny_page()
    model_events = [fn for fn in demo.fns.values() if fn.concurrency_id == "model"]
    assert {fn.api_name for fn in model_events} >= {"step", "run", "race", "compare", "tune"}
    for fn in model_events:
        root = fn
        while root.trigger_after is not None:
            root = demo.fns[root.trigger_after]
        ((button_id, event),) = root.targets
        assert event == "click", fn.api_name
        queued = root is fn and root.trigger_mode == "multiple"
        greyed = not root.queue and button_id in [o._id for o in root.outputs]
        assert queued or greyed, f"{fn.api_name}: a click while it runs would be dropped without a word"
    step = next(fn for fn in model_events if fn.api_name == "step")
    assert step.trigger_mode == "multiple"
