"""Adding a view to Explore takes one entry in ``app.EXPLORE_VIEWS`` and its builder:
the page built over a tiny model lays it out and every Explore event answers it."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

import app
from components.state import Session
from racer.model.target import TargetModel
from tests.app_client import controls
from tests.tiny import TinyTokenizer, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


class CharTokenizer(TinyTokenizer):
    """A tokenizer stand-in good enough for the page: one token per character, no chat
    template and no special tokens."""
    chat_template = None
    all_special_ids: list[int] = []
    all_special_tokens: list[str] = []

    def __call__(self, text: str):
        return SimpleNamespace(input_ids=[3 + ord(c) % 40 for c in text])


def depth_view(v) -> str:
    """The new view: the depth of the step's tree."""
    depth = max(v.record.tree.depths) if v.record is not None and v.record.tree is not None else 0
    return f"<p class='depth'>depth {depth}</p>"


def test_a_view_added_to_the_list_is_laid_out_and_rendered(monkeypatch):
    monkeypatch.setitem(app.EXPLORE_VIEWS, "depth", depth_view)
    target = TargetModel(tiny_model(), CharTokenizer(), name="tiny")
    demo = app.build_app(target, "tiny", "tiny model")
    step = next(fn for fn in demo.fns.values() if fn.api_name == "step")
    labels = [getattr(c, "label", None) for c in step.outputs]
    assert "depth" in labels  # laid out, and wired to the step event
    session = Session()
    out = step.fn(session, "abcabcabcabc", **controls(max_new_tokens=8, measure=False))
    assert out[labels.index("depth")] == "<p class='depth'>depth 0</p>"  # the prefill
    out = step.fn(session, "abcabcabcabc", **controls(max_new_tokens=8, measure=False))
    assert out[labels.index("depth")].startswith("<p class='depth'>depth ")
    assert "⚠" not in str(out[-1])  # the status line: no error
