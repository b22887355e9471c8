"""The page's prompt cap (issue 23): one constant, ``MAX_PROMPT_TOKENS``; a longer prompt is
refused at once in one sentence that says the cap and why (unit lane: a word per token)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

import components.controls as controls_module
from components.controls import MAX_PROMPT_TOKENS, PROMPT_CHARS_PER_TOKEN, checked_prompt_ids
from racer import UserError


@pytest.fixture
def words(monkeypatch):
    """A model whose tokenizer makes one token per word."""
    monkeypatch.setattr(controls_module, "prompt_ids", lambda tokenizer, text: list(range(len(text.split()))))
    return SimpleNamespace(tokenizer=None, max_context=8192)


def test_a_prompt_at_the_cap_runs_and_one_past_it_is_refused_with_the_cap_and_why(words):
    assert len(checked_prompt_ids(words, "a " * MAX_PROMPT_TOKENS)) == MAX_PROMPT_TOKENS
    with pytest.raises(UserError) as refused:
        checked_prompt_ids(words, "a " * (MAX_PROMPT_TOKENS + 1))
    said = str(refused.value)
    assert said.startswith(f"The prompt is {MAX_PROMPT_TOKENS + 1:,} tokens long, beyond the {MAX_PROMPT_TOKENS:,}")
    assert "waits behind it" in said and said.count(". ") == 0 and said.endswith("shorten it.")


def test_thirty_thousand_characters_are_refused_before_tokenising(words, monkeypatch):
    monkeypatch.setattr(controls_module, "prompt_ids", lambda *_: pytest.fail("tokenised a pasted book"))
    started = time.monotonic()
    with pytest.raises(UserError, match=f"30,000 characters long, far beyond the {MAX_PROMPT_TOKENS:,} tokens"):
        checked_prompt_ids(words, "x" * 30_000)
    assert time.monotonic() - started < 1
    assert 30_000 > PROMPT_CHARS_PER_TOKEN * MAX_PROMPT_TOKENS


def test_the_cap_is_written_once():
    """Every tab reads the prompt through ``checked_prompt_ids``; no other module holds a number for it."""
    from pathlib import Path
    root = Path(__file__).parent.parent
    holders = [p for p in (*root.glob("components/**/*.py"), *root.glob("racer/**/*.py"), root / "app.py")
               if "MAX_PROMPT_TOKENS =" in p.read_text(encoding="utf-8")]
    assert [p.name for p in holders] == ["controls.py"]
