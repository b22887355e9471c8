"""The sliders visibly matter (issue 23): with the adaptive budget on, width 2 · depth 3 and
width 16 · depth 20 both gave an 8-node tree and nothing said why. Beside the sliders the
page now says when the adaptive budget chose the step's size (the size chosen against the
drafter's proposal), with a one-click Fixed size that turns the adaptive budget off."""
from __future__ import annotations

import pytest

from components.figures.text import FIXED_SIZE_NOTE, size_note
from components.state import Session
from racer.engine.generate import Generation
from racer.engine.settings import Settings
from tests.app_client import controls
from tests.test_explore_views import CharTokenizer
from tests.tiny import repetitive_prompt, target, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


def records(settings: Settings):
    gen = Generation(target(tiny_model("llama", 0)), repetitive_prompt(0), settings, inspect=True)
    return [r for r in gen.steps() if r.tree is not None]


def test_the_note_says_the_adaptive_budget_chose_the_size_against_the_proposal():
    chosen = [r for r in records(Settings(max_new_tokens=30)) if r.proposed > 1]
    assert chosen
    for r in chosen:
        note = size_note(r)
        assert f"The adaptive budget chose step {r.index}'s tree:" in note
        drafted, proposed = len(r.tree) - 1, r.proposed - 1
        said = "all" if drafted == proposed else "the root alone, none" if drafted == 0 else str(drafted)
        assert f"{said} of the {proposed} drafted token" in note and "Fixed size" in note
    assert size_note(None) == "" and all(size_note(r) == "" for r in records(
        Settings(max_new_tokens=30, adaptive_budget=False)))   # a fixed size needs no note


@pytest.mark.slow  # seconds, not milliseconds: make test, not test-fast
def test_fixed_size_turns_the_adaptive_budget_off_from_the_page():
    import app
    from racer.model.target import TargetModel
    demo = app.build_app(TargetModel(tiny_model(), CharTokenizer(), name="tiny"), "tiny", "tiny model")
    fns = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    step, fixed = fns["step"], fns["fixed_size"]
    names = [getattr(c, "elem_id", None) for c in step.outputs]
    note_at, button_at = names.index("size-note"), names.index("fixed-size")
    session, prompt = Session(), "abcabcabcabc"
    wide = controls(width=16, depth=20, adaptive_budget=True, max_new_tokens=30, measure=False)
    shown = None
    for _ in range(12):   # the note shows once a step's size was the adaptive budget's choice
        out = step.fn(session, prompt, **wide)
        if out[note_at].visible:
            shown = out
            break
    assert shown is not None, "no step showed the adaptive budget's choice"
    assert "The adaptive budget chose step" in shown[note_at].value and shown[button_at].visible
    # one click: the adaptive budget box unticked, the note says what follows, the button goes
    ticked, note, button = fixed.fn()
    assert ticked is False and note.value == FIXED_SIZE_NOTE and button.visible is False
    assert [getattr(c, "elem_id", None) for c in fixed.outputs] == ["adaptive-budget", "size-note", "fixed-size"]
    applied = next(fn for fn in demo.fns.values() if fn.trigger_after == fixed._id)
    status = applied.fn(session, **{**wide, "adaptive_budget": ticked})
    assert "adaptive budget on → off" in status and session.settings.adaptive_budget is False
    out = step.fn(session, prompt, **{**wide, "adaptive_budget": ticked})
    assert out[note_at].visible is False and out[button_at].visible is False   # a fixed size: nothing to say
