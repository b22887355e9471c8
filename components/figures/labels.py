"""Labels placed in pixels, shared by the tree and automaton figures.

Labels are placed, not just attached (``place_labels``): a figure is sized in pixels
for a plot at least ``PLOT_WIDTH_PX`` wide (``components.figures.tree_layout``), and each
label takes the first spot, above or below its node, in full or shortened, that
overlaps no marker and no label placed before it, in the order the figure gives. A
label without a spot is left out (hover still tells the node), so a 64-node tree
thins its labels instead of piling them up. ``label_trace`` then draws the placed
labels as one text trace.

The legend sits in the top margin (``legend_px``), its entries ``LEGEND_ENTRY_PX``
wide.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Sequence

import plotly.graph_objects as go

from components.figures.tokens import cut, isolated, units

FONT_PX, GLYPH_FONT_PX = 12, 16
LEGEND_ENTRY_PX = 160  # four legend entries a line (the symbol comes on top)

Box = tuple[float, float, float, float]   # x0, y0, x1, y1 in pixels, y downwards


@dataclass(frozen=True)
class Label:
    text: str        # visible text as placed (maybe shortened), not yet escaped
    box: Box
    leader: bool = False  # placed away from its marker (a label that must show): draw a line to it

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


def label_height(size: float) -> float:
    """A label's height in pixels: Chromium's box of one line of Plotly text is about
    1.16 font sizes (measured), with room to spare."""
    return 1.3 * size + 2


def legend_px(entries: int) -> int:
    """The top margin that holds a legend of ``entries`` entries, four a line: a legend
    taller than its margin would push the plotting area down and every label placed in
    pixels off its spot."""
    return 14 + 20 * max(1, -(-entries // 4))


def text_width(text: str, size: float) -> float:
    """A generous estimate of a label's width in pixels (Plotly's default sans serif):
    by grapheme cluster, so an emoji of seven code points counts as the one glyph it is."""
    def width(unit: str) -> float:
        if unit.isascii():
            return 0.62 * len(unit)
        return 1.3 if ord(unit[0]) >= 0x1F000 else 0.95   # an emoji, else a letter of another script
    return sum(size * width(u) for u in units(text)) + 2


def _nearest(points: Sequence[tuple[float, float]], box: Box, own: int) -> bool:
    """Whether no other marker's centre is nearer the box's centre than marker
    ``own``'s: a label must never read as naming a neighbour."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    dist = [(x - cx) ** 2 + (y - cy) ** 2 for x, y in points]
    return all(d > dist[own] for k, d in enumerate(dist) if k != own)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(points: Sequence[tuple[float, float]], radii: Sequence[float], texts: Sequence[str],
                 sizes: Sequence[float], order: Sequence[int], area: Box,
                 obstacles: Sequence[Box] = (), cut=None,
                 right: Sequence[bool] | None = None, must: Sequence[int] = ()) -> list[Label | None]:
    """A spot per label (None: no room), never on a marker or an earlier label.
    ``cut(text, n)`` shortens a label (default ``visible_cut``: keeps its start).

    points: marker centres in pixels; radii: marker radii; texts: the full visible
    labels; sizes: font sizes; order: which labels choose first; area: the box the
    labels must stay in; obstacles: other boxes to keep clear of (arrowheads). A
    label's centre is nearer its own marker than any other. Each
    label tries above its marker, then below, then (where ``right[i]``: a leaf, whose
    right side no edge crosses) to its right, in full, then
    shortened to 8, 5 and 3 characters (with "…"). A label in ``must`` (one a sentence
    names) that found no such spot takes the nearest free spot farther out, in full, as a
    ``leader`` label (the figure draws a line from it to its marker).

    Two markers 40 px apart on one row fit "ab" twice but not two 10-letter words:
    >>> [l.text if l else None for l in place_labels([(20, 50), (60, 50)], [6, 6],
    ...     ["ab", "abcdefghij"], [12, 12], [0, 1], (0, 0, 80, 100))]
    ['ab', 'ab…']
    """
    markers = [(x - r - 1, y - r - 1, x + r + 1, y + r + 1) for (x, y), r in zip(points, radii)]
    markers += list(obstacles)
    placed: list[Box] = []
    out: list[Label | None] = [None] * len(points)
    for i in order:
        (x, y), r, size = points[i], radii[i], sizes[i]
        full = texts[i]
        tries = [full] + [(cut or visible_cut)(full, n) for n in (8, 5, 3) if len(full) > n]
        done = False
        for text in tries:
            w, h = text_width(text, size), label_height(size)
            boxes = [(x - w / 2, top, x + w / 2, top + h) for top in (y - r - 1 - h, y + r + 1)]
            if right is not None and right[i]:   # a leaf: its right side is free of edges
                boxes.append((x + r + 2, y - h / 2, x + r + 2 + w, y + h / 2))
            for box in boxes:   # above the marker, else below it, else (a leaf) to its right
                inside = area[0] <= box[0] and box[2] <= area[2] and area[1] <= box[1] and box[3] <= area[3]
                if inside and not any(_overlaps(box, m) for m in markers) \
                        and not any(_overlaps(box, p) for p in placed) and _nearest(points, box, i):
                    placed.append(box)
                    out[i] = Label(text, box)
                    done = True
                    break
            if done:
                break
    for i in must:
        if out[i] is None:
            out[i] = _farther(points[i], texts[i], sizes[i], area, markers, placed)
            if out[i] is not None:
                placed.append(out[i].box)
    return out


def _farther(point: tuple[float, float], text: str, size: float, area: Box, markers: Sequence[Box],
             placed: Sequence[Box]) -> Label | None:
    """The nearest free spot for a label away from its marker: rings of candidate boxes
    one label height (vertically) or half a label width (sideways) apart, the nearest first."""
    x, y = point
    w, h = text_width(text, size), label_height(size)
    spots = sorted(((dx * w / 2, dy * h) for dx in range(-12, 13) for dy in range(-12, 13) if dx or dy),
                   key=lambda d: d[0] ** 2 + d[1] ** 2)
    for dx, dy in spots:
        box = (x + dx - w / 2, y + dy - h / 2, x + dx + w / 2, y + dy + h / 2)
        inside = area[0] <= box[0] and box[2] <= area[2] and area[1] <= box[1] and box[3] <= area[3]
        if inside and not any(_overlaps(box, m) for m in markers) and not any(_overlaps(box, p) for p in placed):
            return Label(text, box, leader=True)
    return None


def left_cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters from the left, the first one an
    ellipsis: a string's end is what tells nodes of one trie apart. Never inside a
    character's cluster or a ``<0xNN>`` (``components.figures.tokens.cut``).

    >>> left_cut("␣packing␣list:␣passport", 10), left_cut("…list", 3)
    ('…␣passport', '…st')
    """
    return cut(text, limit, left=True)


def visible_cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, the last one an ellipsis."""
    return cut(text, limit)


def label_trace(labels: Sequence[Label | None], fonts: Sequence[float], bold: Sequence[bool],
                colours: Sequence[str], to_data) -> go.Scatter:
    """Every placed label as text centred on its spot (``to_data``: pixels -> data
    coordinates). Drawn apart from the markers: Plotly's own "top center" offset is
    a fixed share of the marker's size, which a star's points overreach."""
    xs, ys, texts, sizes, inks = [], [], [], [], []
    for lab, font, strong, ink in zip(labels, fonts, bold, colours):
        if lab is None:
            continue
        x, y = to_data(*lab.centre)   # Chromium centres the text box on it (measured: within a pixel)
        text = html.escape(isolated(lab.text), quote=False)   # Hebrew and bytes in a stable order
        xs.append(x)
        ys.append(y)
        texts.append(f"<b>{text}</b>" if strong else text)
        sizes.append(font)
        inks.append(ink)
    return go.Scatter(x=xs, y=ys, mode="text", text=texts, textposition="middle center", cliponaxis=False,
                      textfont=dict(size=sizes, color=inks), hoverinfo="skip", showlegend=False, name="labels")
