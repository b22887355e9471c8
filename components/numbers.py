"""One number format per quantity, for every place on the page that shows one: the
status line, the outcome, the tables, the charts' labels and the Tune notes.

A table cell holds the formatted text, not a float: Gradio's table writes 1.0 as "1"
next to "1.05", so a column of floats mixed "1" and "1.00".

MAT has one definition (``racer.engine.metrics.mat``: tokens out per target forward, the
prefill included) and one name, "MAT", on every tab.

>>> fmt("mat", 1.0), fmt("speedup", 0.854), fmt("seconds", 3.14159), fmt("rate", 21.06)
('1.00', '0.85×', '3.14 s', '21.1')
>>> fmt("probability", 0.68), fmt("share", 0.25), fmt("speedup", None)
('0.68', '25%', '—')
"""
from __future__ import annotations

import math

FORMATS = {
    "mat": "{:.2f}",           # MAT: tokens per target forward
    "speedup": "{:.2f}×",      # measured speedup over plain decoding
    "seconds": "{:.2f} s",     # engine seconds
    "rate": "{:.1f}",          # tokens per second
    "probability": "{:.2f}",   # the model's probability, or the drafter's estimate of acceptance
    "share": "{:.0%}",         # a share of forwards, of accepted nodes...
}
MISSING = "—"  # not measured, or not defined yet


def fmt(quantity: str, value: float | None) -> str:
    """``value`` in the page's one format for ``quantity`` (a key of FORMATS); "—" for
    None or a value that is not a finite number."""
    if quantity not in FORMATS:
        raise ValueError(f"no number format for {quantity!r}; known: {', '.join(FORMATS)}")
    if value is None or not math.isfinite(value):
        return MISSING
    return FORMATS[quantity].format(value)


def duration(seconds: float) -> str:
    """A stretch of wall time in words, to the second.

    >>> duration(72.4), duration(8.2)
    ('1 min 12 s', '8 s')
    """
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
