"""The Explore tab's controls as handlers and the API take them: by name, one per
setting (``racer.settings.KNOBS``) plus ``measure``. Fixed values rather than
``Settings()``'s defaults, so tests that name a value keep their meaning."""
from __future__ import annotations

NORMAL = dict(width=8, depth=12, window=10, budget=16, capacity=10000, temperature=0.0, top_p=1.0,
              max_new_tokens=24, drafter="racer", adaptive_budget=False, seed=0, measure=False)


def controls(**changes) -> dict:
    """NORMAL with ``changes``: controls(budget=8) -> {..., "budget": 8, ...}."""
    unknown = set(changes) - set(NORMAL)
    assert not unknown, f"not a control: {unknown}"
    return NORMAL | changes
