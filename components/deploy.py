"""The Deploy panel: the settings tuned here as SGLang's launch command or the authors'
command line (``racer.deploy``), with what does not carry over. The settings are the last
sweep's winner when it named one, else the Explore tab's sliders, and the panel says which.

Left out on purpose: gradio (app.py lays the panel out); running anything.
"""
from __future__ import annotations

from racer.deploy import PR, READ_ON, TARGET_NAMES, TARGETS, POLICY, export, mapping_rows
from racer.drafting.registry import drafter_label
from racer.engine.settings import Settings
from racer.errors import UserError

from components.controls import read_controls

TARGET_CHOICES = [(f"{TARGET_NAMES['sglang']} (RACER port)", "sglang"), (TARGET_NAMES["authors"], "authors")]
DEPLOY_NOTE = (f"SGLang builds the tree of the **{drafter_label(POLICY['sglang'])}** drafter, the authors' code "
               f"that of **{drafter_label(POLICY['authors'])}**: tune under that drafter for the same trees. "
               f"SGLang's port is {PR}, code read {READ_ON}.")
DEPLOY_OUTPUTS = ("deploy_source", "deploy_command")


def deploy_settings(result, controls: dict) -> tuple[Settings, str]:
    """The settings to deploy and a sentence saying where they come from: the winner of
    the last sweep (``result``, a ``SweepResult`` or None) when there is one, else the
    Explore tab's controls. UserError when the controls hold a bad value."""
    winner = result.winner() if result is not None and result.cells else None
    if winner is not None:
        s = winner.settings
        adaptive = "on" if s.adaptive_budget else "off"
        return s, (f"From the last sweep's winner: {result.grid.label(s)} under {drafter_label(s.drafter)}, "
                   f"adaptive budget {adaptive}, as the sweep ran it.")
    settings, _ = read_controls(controls)
    why = ("The last sweep named no winner, so this" if result is not None and result.cells else
           "No sweep has run yet, so this")
    return settings, f"{why} uses the Explore tab's sliders, drafter {drafter_label(settings.drafter)}."


def deploy_command(target: str, state=None, **controls) -> dict:
    """By name (``DEPLOY_OUTPUTS``): where the settings come from, and the command for
    ``target`` (one of racer.deploy.TARGETS) with a comment line per knob that does not
    carry over. ``state``: the Tune tab's ``TuneState`` (its last sweep); a bad value
    gets its sentence instead of a command."""
    if target not in TARGETS:
        return {"deploy_source": f"Choose a target: {', '.join(TARGET_NAMES.values())}.", "deploy_command": ""}
    try:
        settings, source = deploy_settings(getattr(state, "result", None), controls)
    except UserError as e:
        return {"deploy_source": f"⚠ {e}", "deploy_command": ""}
    return {"deploy_source": source, "deploy_command": export(settings, target).text()}


def mapping_markdown() -> str:
    """Knob by knob: our name, SGLang's, the authors' (a Markdown table)."""
    rows = ["| setting here | SGLang | authors' code |", "| --- | --- | --- |"]
    rows += [f"| {k} | {s} | {a} |" for k, s, a in mapping_rows()]
    return "\n".join(rows)
