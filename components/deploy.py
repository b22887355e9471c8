"""The Deploy panel: the Explore tab's current settings as SGLang's launch command or
the authors' command line (``racer.deploy``), with what does not carry over.

Left out on purpose: gradio (app.py lays the panel out); running anything.
"""
from __future__ import annotations

from racer.deploy import PR, READ_ON, TARGETS, export, mapping_rows
from racer.errors import UserError

from components.controls import read_controls

TARGET_CHOICES = [("SGLang (RACER port)", "sglang"), ("the authors' code", "authors")]
DEPLOY_NOTE = (f"SGLang builds the tree of the **RACER (SGLang port)** drafter, the authors' code that of "
               f"**RACER (paper)**: tune under that drafter for the same trees. SGLang's port is {PR}, "
               f"code read {READ_ON}.")


def deploy_command(target: str, **controls) -> str:
    """The command for ``target`` (one of racer.deploy.TARGETS) from the controls' raw
    values, as a code block; a bad value gets its sentence instead."""
    if target not in TARGETS:
        return f"Choose a target: {', '.join(TARGETS)}."
    try:
        settings, _ = read_controls(controls)
    except UserError as e:
        return f"⚠ {e}"
    return "```bash\n" + export(settings, target).text() + "\n```"


def mapping_markdown() -> str:
    """Knob by knob: our name, SGLang's, the authors' (a Markdown table)."""
    rows = ["| setting here | SGLang | authors' code |", "| --- | --- | --- |"]
    rows += [f"| {k} | {s} | {a} |" for k, s, a in mapping_rows()]
    return "\n".join(rows)
