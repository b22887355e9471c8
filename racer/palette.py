"""Every colour the page uses, in one place: the hues each source of a token is drawn in
(assigned in ``racer.engine.sources``), each drafter's (in ``racer.drafting.registry``),
and the neutrals.

The hues are Okabe and Ito's palette, made for readers with colour-vision
deficiencies. ``tests/test_palette.py`` checks it: simulated with Machado, Oliveira
and Fernandes' (2009) matrices for protanopia, deuteranopia and tritanopia at full
severity, every pair that must be told apart (the tree's sources; the drafters in
the comparison and the race) stays at least CIEDE2000 10 apart (measured minimum:
10.9, logits vs the model's own token under tritanopia, which also differ in shape).
That is why plain decoding is a dark grey: a mid grey was only 8.2 from prompt
lookup's green under deuteranopia.

No colour carries a verdict: a node keeps its source's colour whatever the model did
with it, and rejection is drawn as a shape (``components.figures.tree``).

Plain strings only; this module imports nothing.
"""
from __future__ import annotations

# Okabe-Ito
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
YELLOW = "#F0E442"

# neutrals
INK = "#111111"        # outlines, the accepted path, rejection crosses
DARK_GREY = "#3b3b3b"  # the root: already committed text
PLAIN_GREY = "#4d4d4d" # plain decoding
MUTED = "#555555"      # notes inside figures
FAINT = "#777777"      # placeholders of empty charts
EDGE = "#c8c8c8"       # tree edges not on the accepted path
GRID = "#eeeeee"
GUIDE = "#888888"      # reference lines (speedup 1.0)
PAPER = "#ffffff"       # fills meant to read as "empty" (a legend's neutral shape)
# every plot's background: the page's own, so a plot follows the light or dark theme
# (assets/style.css turns the neutrals above light on a dark page)
CLEAR = "rgba(0,0,0,0)"
ERROR = "#b00020"

# how a token came to be drafted or emitted
UNKNOWN = "#888888"

# charts over a run
MAT = BLUE
SPEEDUP = VERMILLION
BARS = SKY_BLUE
VIEWING = REDDISH_PURPLE   # the band on the step being viewed
MASK = ("#f4f4f4", "#9ecae1", "#08519c")   # hidden, visible, visible on the accepted path
SLOWER, FASTER, NEUTRAL = VERMILLION, BLUE, "#f7f7f7"   # diverging speedup scale
LOW = "#f7fbff"            # the low end of a one-hue scale up to BLUE
