"""Enter in a slider's number box (assets/enter_applies.js), run in node over fake
elements (skipped without node): plain Enter in a slider's box takes the focus off it,
which makes Gradio's slider send ``release`` with the typed number (tests/test_app_wiring.py
checks that Gradio does so and that the release reaches the handlers); every other key and
field is left alone.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "assets" / "enter_applies.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

# Fake elements: a Gradio 6 slider (wrap > head > tab-like-container > number box, and
# wrap > slider_input_container > range input), a lone number box and the prompt's textarea.
FAKE_PAGE = """
function element(tagName, type, parent, ranges = []) {
  const el = { tagName, type, parentElement: parent, blurred: 0,
               querySelector: (sel) => (sel === 'input[type="range"]' && ranges.length ? ranges[0] : null),
               blur() { this.blurred += 1; } };
  return el;
}
const range = element("INPUT", "range", null);
const block = element("DIV", undefined, null);
const wrap = element("DIV", undefined, block, [range]);
const head = element("DIV", undefined, wrap);
const tabLike = element("DIV", undefined, head);
const sliderBox = element("INPUT", "number", tabLike);
const loneBox = element("INPUT", "number", element("DIV", undefined, element("DIV", undefined, null)));
const prompt = element("TEXTAREA", "textarea", wrap);
function key(target, key, extra = {}) {
  const event = { key, target, isComposing: false, altKey: false, ctrlKey: false, metaKey: false,
                  shiftKey: false, prevented: false, preventDefault() { this.prevented = true; }, ...extra };
  const handled = q.applyOnEnter(event);
  return { handled, prevented: event.prevented };
}
"""


def run_node(code: str):
    """Runs ``code`` with ``q`` = the script's exports and the fake page; returns what it prints as JSON."""
    program = f"const q = require({json.dumps(str(SCRIPT))});\n{FAKE_PAGE}\n{code}"
    out = subprocess.run([NODE, "-e", program], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_only_a_sliders_number_box_is_one():
    found = run_node("console.log(JSON.stringify([sliderBox, loneBox, prompt, range, null]"
                     ".map(q.isSliderNumberBox)))")
    assert found == [True, False, False, False, False]


def test_enter_in_a_sliders_number_box_blurs_it_once():
    result = run_node("const r = key(sliderBox, 'Enter'); console.log(JSON.stringify({...r, blurred: sliderBox.blurred}))")
    assert result == {"handled": True, "prevented": True, "blurred": 1}


@pytest.mark.parametrize("case", [
    "key(sliderBox, '5')",                          # typing the number itself
    "key(sliderBox, 'Tab')",                        # the browser's own blur
    "key(sliderBox, 'Enter', {isComposing: true})", # Enter that ends an IME composition
    "key(sliderBox, 'Enter', {shiftKey: true})",
    "key(sliderBox, 'Enter', {ctrlKey: true})",
    "key(prompt, 'Enter')",                         # the prompt's Enter makes a new line
    "key(loneBox, 'Enter')",                        # a number box that is no slider's
])
def test_every_other_key_and_field_is_left_alone(case):
    blurred = "sliderBox.blurred + loneBox.blurred + prompt.blurred"
    result = run_node(f"const r = {case}; console.log(JSON.stringify({{...r, blurred: {blurred}}}))")
    assert result == {"handled": False, "prevented": False, "blurred": 0}


def test_the_page_listens_once_for_keydown_in_the_capture_phase():
    # the sliders are drawn after the script runs, so it listens on the document, not on them
    listeners = run_node("""
        const calls = [];
        q.installEnterApplies({ addEventListener: (type, fn, capture) => calls.push([type, fn === q.applyOnEnter, capture]) });
        console.log(JSON.stringify(calls));
    """)
    assert listeners == [["keydown", True, True]]
