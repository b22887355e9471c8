"""What tests of the app share: the real model, loaded once per test session
(``real_target``) and the app built over it (``real_app``); the Explore tab's controls as
handlers and the API take them (by name: one per setting of ``racer.engine.settings.KNOBS``, plus
``measure``), the reference tokens and text of the app's model, and an API session's export.

The settings tests rely on hold fixed values rather than ``Settings()``'s defaults, so
a test keeps its meaning when a default changes; a setting added later takes its default."""
from __future__ import annotations

import json
from functools import lru_cache

from racer.engine.settings import Settings

FIXED = dict(width=8, depth=12, window=10, budget=16, capacity=10000, temperature=0.0, top_p=1.0,
             max_new_tokens=24, drafter="racer", adaptive_budget=False, seed=0)
NORMAL = {**Settings().as_dict(), **FIXED, "measure": False}  # in the order of the app's inputs


def controls(**changes) -> dict:
    """NORMAL with ``changes``: controls(budget=8) -> {..., "budget": 8, ...}."""
    unknown = set(changes) - set(NORMAL)
    assert not unknown, f"not a control: {unknown}"
    return NORMAL | changes


@lru_cache(maxsize=None)
def real_target():
    """The app's default model as ``python app.py`` loads it (warmed up, costs measured),
    once per test session, with the line the page shows about it: (target, note)."""
    from components.startup import load_target
    from racer.model.loading import DEFAULT_MODEL
    target, note = load_target(DEFAULT_MODEL, "auto")
    assert target is not None, f"the model did not load: {note}"
    return target, note


@lru_cache(maxsize=None)
def real_app():
    """The page built over ``real_target`` (not launched), once per test session."""
    import app
    from racer.model.loading import DEFAULT_MODEL
    target, note = real_target()
    return app.build_app(target, DEFAULT_MODEL, note)


def plain_greedy_ids(prompt: str, max_new_tokens: int) -> list[int]:
    """Reference tokens: transformers' own greedy ``generate`` on the app's model, no
    speculation involved."""
    import torch

    from racer.model.loading import prompt_ids
    target, _ = real_target()
    ids = prompt_ids(target.tokenizer, prompt)
    with torch.inference_mode():
        out = target.model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False,
                                    eos_token_id=sorted(target.eos_ids))
    return out[0, len(ids):].tolist()


def plain_greedy_text(prompt: str, max_new_tokens: int) -> str:
    """``plain_greedy_ids`` as read (special tokens left out, as the export's
    ``final_text``)."""
    return real_target()[0].readable(plain_greedy_ids(prompt, max_new_tokens))[0]


def exported(client) -> dict:
    """The trace a gradio_client session's Export wrote (the API returns its path)."""
    path = client.predict(api_name="/export")
    with open(path["value"] if isinstance(path, dict) else path, encoding="utf-8") as f:
        return json.load(f)
