"""What tests of the app share: the Explore tab's controls as handlers and the API take
them (by name: one per setting of ``racer.settings.KNOBS``, plus ``measure``), the
reference tokens and text of the app's model, and an API session's export.

The settings tests rely on hold fixed values rather than ``Settings()``'s defaults, so
a test keeps its meaning when a default changes; a setting added later takes its default."""
from __future__ import annotations

import json

from racer.settings import Settings

FIXED = dict(width=8, depth=12, window=10, budget=16, capacity=10000, temperature=0.0, top_p=1.0,
             max_new_tokens=24, drafter="racer", adaptive_budget=False, seed=0)
NORMAL = {**Settings().as_dict(), **FIXED, "measure": False}  # in the order of the app's inputs


def controls(**changes) -> dict:
    """NORMAL with ``changes``: controls(budget=8) -> {..., "budget": 8, ...}."""
    unknown = set(changes) - set(NORMAL)
    assert not unknown, f"not a control: {unknown}"
    return NORMAL | changes


def plain_greedy_ids(prompt: str, max_new_tokens: int) -> list[int]:
    """Reference tokens: transformers' own greedy ``generate`` on the app's model
    (imports the app, which loads the model), no speculation involved."""
    import torch

    import app
    from racer.loading import prompt_ids
    ids = prompt_ids(app.TARGET.tokenizer, prompt)
    with torch.inference_mode():
        out = app.TARGET.model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False,
                                        eos_token_id=sorted(app.TARGET.eos_ids))
    return out[0, len(ids):].tolist()


def plain_greedy_text(prompt: str, max_new_tokens: int) -> str:
    """``plain_greedy_ids`` as read (special tokens left out, as the export's
    ``final_text``)."""
    import app
    return app.TARGET.readable(plain_greedy_ids(prompt, max_new_tokens))[0]


def exported(client) -> dict:
    """The trace a gradio_client session's Export wrote (the API returns its path)."""
    path = client.predict(api_name="/export")
    with open(path["value"] if isinstance(path, dict) else path, encoding="utf-8") as f:
        return json.load(f)
