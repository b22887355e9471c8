// A waiting visitor reads a sentence ("2 people ahead of you, about 18 s") instead of
// Gradio's status text ("queue: 3/5 | 9.4/27.0s").
//
// Gradio draws that text itself, in the status tracker's `.progress-text`, and keeps
// updating its text nodes. This script leaves them alone: it writes the sentence into a
// `data-sentence` attribute of the element, and assets/style.css shows the attribute in
// place of the text (`.progress-text[data-sentence]`). A MutationObserver keeps the
// sentence in step; when the text is no longer a queue position ("processing", the
// running timer), the attribute goes and Gradio's text shows again.
//
// Loaded in the page's <head> (app.py: launch(head=...)); in node, `require` gives the
// pure functions for tests/test_queue_sentence.py.

(() => {   // nothing leaks into the page's globals
  // "queue: 3/5 | 9.4/27.0s" -> "2 people ahead of you, about 18 s."; null for any other text.
  // Gradio's numbers: your place in the queue (1 = next), the queue's size, the seconds since
  // you asked, and its estimate of the seconds until your result (absent before it has one).
  function queueSentence(text) {
    const m = /queue:\s*(\d+)\s*\/\s*\d*\s*\|\s*([\d.]+)\s*(?:\/\s*([\d.]+))?\s*s/.exec(text || "");
    if (!m) return null;
    const ahead = Number(m[1]) - 1;
    const who = ahead <= 0 ? "You are next"
      : ahead === 1 ? "1 person ahead of you" : `${ahead} people ahead of you`;
    if (m[3] === undefined) return `${who}.`;
    return `${who}, ${waitWords(Number(m[3]) - Number(m[2]))}.`;
  }

  // Seconds left, in words: "about 18 s", "about 2 min", "any moment now".
  function waitWords(seconds) {
    if (!(seconds >= 1)) return "any moment now";   // also NaN: an estimate already passed
    if (seconds < 60) return `about ${Math.round(seconds)} s`;
    return `about ${Math.round(seconds / 60)} min`;
  }

  // Sets or clears `data-sentence` on each status text element (anything with
  // `textContent` and `dataset`), writing only what changed.
  function markQueueSentences(elements) {
    for (const el of elements) {
      const sentence = queueSentence(el.textContent);
      if (sentence) {
        if (el.dataset.sentence !== sentence) el.dataset.sentence = sentence;
      } else if (el.dataset.sentence !== undefined) {
        delete el.dataset.sentence;
      }
    }
  }

  function installQueueSentences(doc) {
    const update = () => markQueueSentences(doc.querySelectorAll(".progress-text"));
    // text and element changes only: our own attribute writes do not wake the observer
    new MutationObserver(update).observe(doc, { subtree: true, childList: true, characterData: true });
    update();
  }

  if (typeof module !== "undefined" && module.exports) {
    module.exports = { queueSentence, waitWords, markQueueSentences };
  } else if (typeof document !== "undefined") {
    installQueueSentences(document);
  }
})();
