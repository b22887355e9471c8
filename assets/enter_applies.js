// Enter in a slider's number box applies the typed number at once.
//
// Gradio's slider sends its `release` event (what app.py wires the settings and the history
// scrubber to) when the range knob is let go, or when its number box loses focus; a typed
// number followed by Enter sent nothing until the visitor clicked elsewhere, so the status
// line (or the history view) stayed on the previous value. Here Enter in a slider's number
// box takes the focus off the box: Gradio's own blur handler then clamps the number to the
// slider's range and sends `release` with it, exactly as a click elsewhere would.
//
// Loaded in the page's <head> (app.py: launch(head=...)); in node, `require` gives the pure
// functions for tests/test_enter_applies.py.

(() => {   // nothing leaks into the page's globals
  // How far above the number box the slider's range input may sit: Gradio 6 nests the box
  // as wrap > head > tab-like-container > input, and the range input in wrap.
  const LEVELS_UP = 3;

  // True for an <input type="number"> that belongs to a slider (a range input shares its block).
  function isSliderNumberBox(el) {
    if (!el || el.tagName !== "INPUT" || el.type !== "number") return false;
    let node = el.parentElement;
    for (let up = 0; node && up < LEVELS_UP; up++, node = node.parentElement) {
      if (node.querySelector('input[type="range"]')) return true;
    }
    return false;
  }

  // The keydown handler: plain Enter in a slider's number box blurs it; true when it did.
  // Enter with a modifier, Enter that ends an IME composition and every other field
  // (the prompt's Enter makes a new line) are left alone.
  function applyOnEnter(event) {
    if (event.key !== "Enter" || event.isComposing) return false;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return false;
    if (!isSliderNumberBox(event.target)) return false;
    event.preventDefault();
    event.target.blur();
    return true;
  }

  function installEnterApplies(doc) {
    // one listener for the page, in the capture phase: the sliders are drawn (and redrawn)
    // after this script runs
    doc.addEventListener("keydown", applyOnEnter, true);
  }

  if (typeof module !== "undefined" && module.exports) {
    module.exports = { isSliderNumberBox, applyOnEnter, installEnterApplies };
  } else if (typeof document !== "undefined") {
    installEnterApplies(document);
  }
})();
