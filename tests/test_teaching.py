"""Trees a class can see (issue 14, item 1): the Teaching preset, the tree the adaptive
budget did not verify drawn greyed, and a step with nothing to draft saying why."""
from __future__ import annotations

import pytest

from components.controls import preset_note, preset_values
from components.figures.tree import tree_figure
from racer import UserError
from racer.inspect.explain import ADAPTIVE_PLAIN, UNVERIFIED_LABEL, explain
from racer.engine.settings import PRESETS, Settings
from racer.inspect.trace import record_from_dict, record_to_dict
from tests import tiny
from tests.test_components import text_of


def annotations(fig) -> str:
    return " ".join(a.text for a in fig.layout.annotations)


def test_the_teaching_preset_is_a_fixed_tree():
    s = Settings().with_preset("teaching")
    assert not s.adaptive_budget
    assert (s.budget, s.width, s.depth) == (PRESETS["teaching"]["budget"], PRESETS["teaching"]["width"],
                                            PRESETS["teaching"]["depth"])
    assert s.temperature == Settings().temperature   # what the preset does not name stays
    with pytest.raises(UserError, match="no preset called"):
        Settings().with_preset("party")


def test_the_preset_button_sets_its_controls_and_leaves_the_rest():
    names = ["width", "depth", "window", "adaptive_budget"]
    values = preset_values("teaching", names)
    assert values[0] == PRESETS["teaching"]["width"] and values[1] == PRESETS["teaching"]["depth"]
    assert values[3] is False
    assert not isinstance(values[2], int)   # gr.skip(): the window is left alone
    note = preset_note("teaching", {1: 0.010, 8: 0.012, 16: 0.02})
    assert "adaptive budget off" in note and "at start-up one forward of a 16-node tree took 20 ms, 2.0x a plain step" in note
    assert preset_note("teaching", None).endswith(".")


@pytest.fixture(scope="module")
def costly():
    """A tiny target whose trees never pay: the adaptive budget keeps the root alone
    (but for its exploration steps)."""
    tm = tiny.target(tiny.tiny_model())

    class Costly:
        def __getattr__(self, name):
            return getattr(tm, name)

        def verify_costs(self):
            return {1: 0.001, 2: 10.0, 4: 20.0, 8: 40.0, 16: 80.0, 32: 160.0, 64: 320.0}
    return Costly()


def test_a_step_cut_to_the_root_keeps_the_proposal_and_draws_it_greyed(costly):
    prompt = tiny.repetitive_prompt(3)
    settings = Settings(max_new_tokens=24, temperature=0.0)
    out, records = tiny.run(costly, prompt, settings)
    assert out == tiny.hf_greedy(tiny.tiny_model(), prompt, 24)   # still greedy decoding
    cut = [r for r in records if r.tree is not None and len(r.tree) == 1 and r.proposed > 1]
    assert cut, "the adaptive budget should have cut some step to the root"
    for r in cut:
        assert r.unverified is not None and len(r.unverified) == r.proposed
        account = explain(r, lambda ids: repr(ids))
        assert account.size.reason == ADAPTIVE_PLAIN and "drawn greyed" in account.size.sentence
        fig = tree_figure(r, text_of)
        assert UNVERIFIED_LABEL in annotations(fig)
        drawn = [t for t in fig.data if t.name == "proposed, not verified"]
        assert len(drawn) == 1 and len(drawn[0].x) == r.proposed
        match = r.unverified_match
        if match is not None:
            assert r.unverified.tokens[match] == r.bonus and r.unverified.parents[match] == 0
            assert "matched the ringed guess" in annotations(fig)
        else:
            assert r.bonus not in [r.unverified.tokens[i] for i in range(1, len(r.unverified))
                                   if r.unverified.parents[i] == 0]
        assert record_from_dict(record_to_dict(r)).unverified == r.unverified   # the trace keeps it
    verified = [r for r in records if r.tree is not None and len(r.tree) > 1]
    assert all(r.unverified is None for r in verified)


def test_a_fixed_budget_never_cuts_and_keeps_nothing_aside():
    tm = tiny.target(tiny.tiny_model())
    _, records = tiny.run(tm, tiny.repetitive_prompt(3), Settings(max_new_tokens=16).with_preset("teaching"))
    steps = [r for r in records if r.tree is not None]
    assert all(r.unverified is None for r in steps)
    assert all(len(r.tree) > 1 for r in steps if r.proposed > 1)


def test_a_step_with_nothing_to_draft_says_the_root_is_new():
    tm = tiny.target(tiny.tiny_model())
    _, records = tiny.run(tm, tiny.distinct_prompt(5), Settings(max_new_tokens=12).with_preset("teaching"))
    empty = [r for r in records if r.tree is not None and r.proposed == 1
             and not r.automaton.cached and not r.automaton.offered]
    assert empty, "a distinct prompt should give a root new to the text"
    for r in empty:
        assert "the root token is new to the text" in explain(r, repr).size.sentence
        assert "new to the text" in annotations(tree_figure(r, text_of)).replace("<br>", " ")


def test_the_page_wires_the_preset_button_to_the_sliders_and_then_applies_them():
    import app
    demo = app.build_app(tiny.target(tiny.tiny_model()), model_name="tiny")
    fns = list(demo.fns.values())
    preset = next(f for f in fns if f.api_name == "preset_teaching")
    outputs = {getattr(c, "elem_id", None): c for c in preset.outputs}
    for name in PRESETS["teaching"]:
        assert name.replace("_", "-") in outputs
    values = dict(zip([c.elem_id for c in preset.outputs], preset.fn()))
    assert values["budget"] == PRESETS["teaching"]["budget"] and values["adaptive-budget"] is False
    # the click's follow-up is the settings handler, as a slider release
    follow = [f for f in fns if getattr(f, "trigger_after", None) == preset._id]
    assert follow and follow[0].fn.__name__ == "on_settings"


def test_with_a_fixed_budget_a_moved_slider_changes_the_next_tree():
    from racer.engine.generate import Generation
    tm = tiny.target(tiny.tiny_model())
    gen = Generation(tm, tiny.repetitive_prompt(3), Settings(max_new_tokens=40).with_preset("teaching"))
    records = [gen.step() for _ in range(4)]
    assert max(max(r.tree.depths) for r in records[1:]) > 2
    gen.settings = gen.settings.with_changes(depth=2, width=1)
    after = [gen.step() for _ in range(3)]
    assert all(max(r.tree.depths) <= 2 for r in after)
    assert "tree depth 6 → 2" in after[0].changed
