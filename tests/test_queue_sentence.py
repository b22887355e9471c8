"""The queue sentence (assets/queue_sentence.js): Gradio's "queue: 3/5 | 9.4/27.0s"
read as "2 people ahead of you, about 18 s.", run in node (skipped without node).

The page side (a MutationObserver writing ``data-sentence``, CSS showing it) is
``markQueueSentences`` over fake elements here; in a browser it runs on Gradio's
``.progress-text``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "assets" / "queue_sentence.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def run_node(code: str):
    """Runs ``code`` with ``q`` = the script's exports; returns what it prints as JSON."""
    program = f"const q = require({json.dumps(str(SCRIPT))});\n{code}"
    out = subprocess.run([NODE, "-e", program], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("text, sentence", [
    ("queue: 3/5 | 2.0/22.4s", "2 people ahead of you, about 20 s."),   # 22.4 - 2.0 = 20.4 s left
    ("queue: 1/1 | 9.4/27.0s", "You are next, about 18 s."),            # place 1: nobody ahead
    ("queue: 2/2 | 0.4s", "1 person ahead of you."),                    # no estimate yet
    ("queue: 1/ | 100.0/30.0s", "You are next, any moment now."),       # the estimate has passed
    ("queue: 5/9 | 1.0/200.0s", "4 people ahead of you, about 3 min."),
    ("processing | 3.1s", None),                                        # running: Gradio's own text
    ("9.4s", None),
    ("", None),
])
def test_gradios_queue_text_reads_as_a_sentence(text, sentence):
    assert run_node(f"console.log(JSON.stringify(q.queueSentence({json.dumps(text)})))") == sentence


def test_the_sentence_is_set_while_waiting_and_cleared_once_running():
    states = run_node("""
        const el = { textContent: "queue: 3/5 | 2.0/22.4s", dataset: {} };
        const seen = [];
        q.markQueueSentences([el]); seen.push(el.dataset.sentence ?? null);
        el.textContent = "queue: 2/4 | 5.0/22.4s"; q.markQueueSentences([el]); seen.push(el.dataset.sentence ?? null);
        el.textContent = "processing | 7.0s"; q.markQueueSentences([el]); seen.push(el.dataset.sentence ?? null);
        console.log(JSON.stringify(seen));
    """)
    assert states == ["2 people ahead of you, about 20 s.", "1 person ahead of you, about 17 s.", None]


def test_the_stylesheet_shows_the_sentence_in_place_of_gradios_text():
    css = (SCRIPT.parent / "style.css").read_text(encoding="utf-8")
    assert ".progress-text[data-sentence]::after { content: attr(data-sentence);" in css
