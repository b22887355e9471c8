"""racer.deploy: settings -> an engine's launch command, and back."""
from __future__ import annotations

import pytest

from racer import UserError
from racer.deploy import MAPS, TARGETS, export, main, mapping_rows, parse
from racer.engine.settings import Settings

# values away from every default, so a knob that is dropped or swapped shows
TUNED = dict(budget=24, width=5, window=7, capacity=4321, temperature=0.6, top_p=0.85)


@pytest.mark.parametrize("target", TARGETS)
def test_every_knob_that_maps_round_trips(target):
    settings = Settings(drafter={"sglang": "racer_sglang", "authors": "racer_paper"}[target], **TUNED)
    out = export(settings, target)
    back = parse(out.text(), target)
    exported = {knob for knob, _ in out.mapped}
    expected = set(MAPS[target]) - ({"temperature", "top_p"} if target == "sglang" else set())
    assert exported == expected == set(back)
    assert all(back[k] == pytest.approx(getattr(settings, k)) for k in back)


def test_sglang_uses_its_flag_and_environment_variables():
    out = export(Settings(drafter="racer_sglang", budget=12, width=9), "sglang")
    assert "SGLANG_RACER_TOPK=9" in out.command and "--speculative-num-draft-tokens 12" in out.command
    assert "--speculative-algorithm RACER" in out.command


def test_knobs_without_a_counterpart_are_said_not_guessed():
    out = export(Settings(drafter="racer", adaptive_budget=True), "sglang")
    said = dict(out.unmapped)
    assert {"depth", "adaptive_budget", "history_window", "drafter"} <= set(said)
    assert "SGLANG_RACER_HISTORY_WINDOW=" not in out.command and "not exported" in out.text()
    assert all(row[1] and row[2] for row in mapping_rows())


def test_cli_prints_the_command_and_refuses_bad_values_in_a_sentence(capsys):
    assert main(["--target", "authors", "--budget", "32"]) == 0
    assert "--max-num-draft 32" in capsys.readouterr().out
    assert main(["--target", "sglang", "--width", "999"]) == 2
    assert "tree width must be between" in capsys.readouterr().err
    with pytest.raises(UserError):
        export(Settings(), "vllm")


def test_panel_shows_the_command_for_the_controls_and_a_sentence_for_bad_ones():
    from dataclasses import asdict
    from components.deploy import deploy_command, mapping_markdown
    controls = asdict(Settings())
    shown = deploy_command("sglang", **{**controls, "budget": 12, "width": 9, "drafter": "racer_sglang"})
    assert "SGLANG_RACER_TOPK=9" in shown["deploy_command"] and "--speculative-num-draft-tokens 12" in shown["deploy_command"]
    assert "Explore tab's sliders" in shown["deploy_source"]      # no sweep: it says whose settings these are
    bad = deploy_command("sglang", **{**controls, "width": "wide"})
    assert bad["deploy_source"].startswith("⚠") and bad["deploy_command"] == ""
    assert "SGLANG_RACER_TOPK" in mapping_markdown()


def test_the_page_names_drafters_by_their_labels():
    """Issue 23: the drafter note read "the settings are 'racer''s; sglang builds the tree
    of 'racer_sglang'"."""
    from racer.drafting.registry import drafter_names
    for target in TARGETS:
        for name in drafter_names():
            text = export(Settings(drafter=name), target).text()
            comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))
            assert "'" + name not in comments and "''s" not in comments and "'s'" not in comments
            assert all(f" {n} " not in comments and f" {n}," not in comments for n in drafter_names() if "_" in n)
    said = dict(export(Settings(drafter="racer"), "sglang").unmapped)["drafter"]
    assert "RACER (ours)" in said and "RACER (SGLang)" in said and "racer_sglang" not in said


def test_deploy_takes_the_sweeps_winner_else_says_it_uses_the_sliders():
    from dataclasses import asdict
    from components.deploy import deploy_command
    from components.tune import TuneState
    from tests.test_tune_app import won_sweep
    state = TuneState()
    state.result = won_sweep(Settings(window=10, budget=16, max_new_tokens=10, adaptive_budget=False,
                                      drafter="racer_sglang"))
    sliders = {**asdict(Settings()), "width": 16, "depth": 20}
    shown = deploy_command("sglang", state, **sliders)
    assert "SGLANG_RACER_TOPK=4" in shown["deploy_command"]      # the winner's width, not the sliders' 16
    assert "winner" in shown["deploy_source"] and "width 4 · depth 2" in shown["deploy_source"]
    assert "RACER (SGLang)" in shown["deploy_source"]
    state.result = None
    shown = deploy_command("sglang", state, **sliders)
    assert "SGLANG_RACER_TOPK=16" in shown["deploy_command"] and "Explore tab's sliders" in shown["deploy_source"]


def test_the_command_wraps_or_can_be_copied():
    """The command was a Markdown code block cut off at the panel's right edge."""
    from tests.test_input_wiring import tiny_page
    demo, _ = tiny_page()
    box = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "deploy-command")
    assert type(box).__name__ == "Code" and box.wrap_lines and "copy" in (box.buttons or [])
