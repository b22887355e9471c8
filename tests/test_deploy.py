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
    assert "SGLANG_RACER_TOPK=9" in shown and "--speculative-num-draft-tokens 12" in shown
    assert deploy_command("sglang", **{**controls, "width": "wide"}).startswith("⚠")
    assert "SGLANG_RACER_TOPK" in mapping_markdown()
