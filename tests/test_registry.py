"""The drafter registry and the settings schema are the one source of what the app, the
CLI, the benchmark and the views know about drafters and settings.

A sixth drafter (retrieval only, with a 4-token window whatever the window setting
says), registered as ``racer/drafting/drafters.py`` registers the five, appears in the page's
drafter menu, in Compare, in the CLI and in the benchmark, and decodes greedy-exact:
adding it touches nothing but the registry.
"""
from __future__ import annotations

import argparse

import gradio as gr
import pytest

from components.compare import table_rows
from components.controls import compare_controls, grid_control, read_controls, setting_controls
from components.figures.text import automaton_html
from components.figures.tokens import drafter_colour, drafter_label
from racer.bench import cli as bench
from racer.drafting import registry
from racer.__main__ import build_parser
from racer.measure.compare import run_drafters
from racer.drafting.drafters import RacerDrafter
from racer.drafting.registry import DrafterSpec, register
from racer.engine.generate import Generation
from racer.engine.settings import KNOBS, Settings, add_flags, given_flags, settings_change
from tests.app_client import controls
from tests.tiny import hf_greedy, repetitive_prompt, target, tiny_model


class ShortWindow(RacerDrafter):
    """Retrieval only, indexing 4-grams whatever the window setting says."""
    WINDOW = 4

    def __init__(self, vocab_size: int, keep_state: bool = False) -> None:
        super().__init__(vocab_size, use_logits=False, keep_state=keep_state)

    def reset(self, context, successors, settings) -> None:
        super().reset(context, successors, settings.with_changes(window=self.WINDOW))

    def reconfigure(self, settings, context) -> None:
        super().reconfigure(settings.with_changes(window=self.WINDOW), context)


SIXTH = DrafterSpec("retrieval_w4", "retrieval only, window 4", "#D55E00",
                    lambda vocab, keep: ShortWindow(vocab, keep), uses_automaton=True)


@pytest.fixture
def sixth(monkeypatch):
    """The registry with a sixth drafter; the five alone again after the test."""
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    return register(SIXTH)


def test_a_sixth_drafter_appears_in_the_page_compare_cli_and_bench(sixth):
    entry = ("retrieval only, window 4", "retrieval_w4")
    with gr.Blocks():
        menu = setting_controls(Settings(), main=False)["drafter"]
        _, compare = compare_controls()
    assert menu.choices[-1] == entry and len(menu.choices) == len(registry.REGISTRY)
    assert compare.choices[-1] == entry and "retrieval_w4" in compare.value  # ticked like the others
    assert build_parser().parse_args(["hi", "--drafter", "retrieval_w4"]).drafter == "retrieval_w4"
    method, plain = bench.parse_methods("retrieval_w4:budget=8,plain", Settings())
    assert (method.settings.drafter, method.settings.budget) == ("retrieval_w4", 8)
    assert plain.settings.drafter == "plain"
    assert read_controls(controls(drafter="retrieval_w4"))[0].drafter == "retrieval_w4"
    assert drafter_label("retrieval_w4") == "retrieval only, window 4"
    assert drafter_colour("retrieval_w4") == "#D55E00"


def test_a_sixth_drafter_decodes_greedy_exact_in_every_runner(sixth, one_thread, capsys):
    tiny = target(tiny_model(init_std=1.0))
    prompt = repetitive_prompt(1)
    settings = Settings(drafter="retrieval_w4", max_new_tokens=32, adaptive_budget=False, budget=8)
    gen = Generation(tiny, prompt, settings)
    records = list(gen.steps())
    assert gen.output == hf_greedy(tiny.model, prompt, 32)
    assert gen.drafter.automaton.window == 4 and sum(r.accepted_drafts for r in records) > 0
    assert "uses no automaton" not in automaton_html(records[-1], str)
    *_, (_, _, results, *_) = run_drafters(tiny, prompt, settings, ["retrieval_w4", "racer"])
    assert [r.drafter for r in results] == ["retrieval_w4", "racer"] and len({r.text for r in results}) == 1
    assert table_rows(results)[0][0] == "retrieval only, window 4"
    ran = bench.main(["--drafters", "retrieval_w4,plain", "--max-new-tokens", "12"], target=tiny,
                     prompts=[bench.Prompt(1, "qa", tuple(prompt))])
    assert ran["mismatches"] == [] and ran["tables"]["overall"]["retrieval_w4"]["same"] == [1, 1]
    capsys.readouterr()


def test_unregistered_drafters_are_refused_everywhere():
    with pytest.raises(ValueError, match="must be one of racer, racer_paper, racer_sglang, retrieval, logits, suffix, prompt_lookup, plain"):
        Settings(drafter="retrieval_w4")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["hi", "--drafter", "retrieval_w4"])


# -- the settings schema ---------------------------------------------------------------

def test_every_setting_has_a_knob_and_its_default_is_allowed():
    defaults = Settings()
    for name, knob in KNOBS.items():
        assert knob.name == name and knob.label and knob.phrase
        assert knob.kind is type(getattr(defaults, name))
        assert knob.problem(getattr(defaults, name)) is None
        if knob.span and knob.page_span:  # the page offers a part of what Settings allows
            assert knob.span[0] <= knob.page_span[0] <= knob.page_span[1] <= knob.span[1]
        assert all(knob.problem(v) is None for v in knob.grid)
    assert KNOBS["width"].limits == (1, 64)  # the page and Settings agree on the tree width


def test_controls_flags_and_notes_come_from_the_schema():
    with gr.Blocks():
        main = setting_controls(Settings(), main=True)
        advanced = setting_controls(Settings(), main=False)
        widths = grid_control("width", ticked=[2, 4])
    assert list(main) == ["width", "depth", "window"]
    assert list(main) + list(advanced) == list(KNOBS)
    width = main["width"]
    assert (width.minimum, width.maximum, width.step, width.label) == (1, 64, 1, "Tree width")
    assert width.info == KNOBS["width"].help and width.elem_id == "width"
    assert (advanced["top_p"].minimum, advanced["top_p"].info) == (0.05, None)  # the page's span; no info
    assert isinstance(advanced["seed"], gr.Number) and isinstance(advanced["adaptive_budget"], gr.Checkbox)
    assert widths.label == "Tree widths" and [c[1] for c in widths.choices] == list(KNOBS["width"].grid)
    parser = argparse.ArgumentParser()
    add_flags(parser)
    args = parser.parse_args(["--top-p", "0.5", "--no-adaptive-budget", "--max-new-tokens", "9"])
    assert Settings(**given_flags(args)) == Settings(top_p=0.5, adaptive_budget=False, max_new_tokens=9)
    assert settings_change(Settings(), Settings(top_p=0.5)) == "top-p 1.0 → 0.5"
    bench_flags = {a.dest for a in bench.build_parser()._actions}
    assert {"width", "capacity", "max_new_tokens", "adaptive_budget"} <= bench_flags
    assert not {"temperature", "top_p", "seed", "drafter"} & bench_flags  # greedy; methods name the drafter


def test_controls_are_clamped_with_a_note_or_refused_with_a_sentence():
    def read(**changes):
        return read_controls(controls(**changes))

    # worked by hand: 0 -> 1 (the slider's low end), 2.5 -> 3 (halves up), 1e9 -> 1024
    settings, notes = read(width=0, budget=2.5, max_new_tokens=1e9, top_p=0)
    assert (settings.width, settings.budget, settings.max_new_tokens, settings.top_p) == (1, 3, 1024, 0.05)
    assert notes == ["tree width 0 → 1 (below its range, 1 to 64)",
                     "draft budget 2.5 → 3 (not a whole number)",
                     "top-p 0 → 0.05 (below its range, 0.05 to 1)",
                     "max new tokens 1,000,000,000 → 1,024 (above its range, 1 to 1,024)"]
    assert read(width=-5, seed=-1)[0].seed == 0
    assert read(depth=0, budget=1) == (Settings(depth=0, budget=1, max_new_tokens=24, adaptive_budget=False), [])  # ends are fine
    for bad, words in ((dict(width="abc"), "tree width is not a number"), (dict(depth=None), "tree depth is empty"),
                       (dict(window=float("nan")), "not a finite number"), (dict(drafter="gpt"), "no drafter"),
                       (dict(adaptive_budget="yes"), "true or false")):
        with pytest.raises(ValueError, match=words):
            read(**bad)
