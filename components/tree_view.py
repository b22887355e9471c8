"""The draft tree of one step as a Plotly figure.

Layout (``tree_layout``): depth runs left to right, like the text; every leaf gets
its own row; a parent sits on the row of its first child, and the accepted child is
always first. So the top row reads, left to right, exactly what the step emitted:
the root, the accepted drafts and the model's own token after them. Rejected
siblings hang below the node they branch from.

Drawing: a node's fill is its source's colour whatever the model did with it
(``racer.palette``); the verdict is a shape. Accepted: a full marker with a black
ring on the bold path. Rejected: the same colour crossed out (``circle-x``, a symbol
no source uses). Not reached (an ancestor was rejected): a smaller marker. Tokens
without letters or digits (a space, a newline, a full stop) get larger labels.

Labels are placed, not just attached (``place_labels``): the figure is sized in
pixels for a plot at least ``PLOT_WIDTH_PX`` wide (the app's tree column never gets
narrower), and each label takes the first spot, above or below its node, in full
or shortened, that overlaps no marker and no label placed before it: first the top
row, then rejected nodes, then the rest. A label without a spot is left out (hover
still tells the node), so a 64-node tree thins its labels instead of piling them up.

Left out on purpose: networkx. The drafted tree is already a tree stored parents
first, so a two-pass layout (rows for leaves, then parents) is exact and tiny.
"""
from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass
from typing import Sequence

import plotly.graph_objects as go

from racer import palette
from racer.explain import explain
from racer.records import ACCEPTED, NOT_REACHED, REJECTED, StepRecord

from .tokens import SOURCE_LABELS, TokenText, colour, is_glyph, label, quoter, visible

PLOT_WIDTH_PX = 840  # the narrowest the tree's plotting area gets in the app (its column's min width)
MARGIN_PX = 10
LEGEND_ENTRY_PX = 160  # four legend entries a line (the symbol comes on top)
LEGEND_PX = 54       # = legend_px(8): the legend (up to 8 entries) sits in the top margin, above the plot
TOP_ROOM_PX = 34     # above the top row: its labels
ROW_PX, MIN_ROW_PX = 38, 12   # vertical room per row: ideal, and the least before the figure grows
MAX_PLOT_PX = 380    # the plotting area grows to this before rows get closer (a 1440x900 screen)
MIN_HEIGHT = 260
FONT_PX, GLYPH_FONT_PX = 12, 16
REJECTED_SYMBOL = "circle-x"   # no source is drawn with it
STAR_REACH = 1.35    # Plotly's star reaches this far beyond half its size (measured in Chromium)
SOURCES = ("root", "retrieval", "logits", "both")


@dataclass(frozen=True)
class Node:
    """One drawn node: a tree node, or the model's own (bonus) token (``index`` = -1)."""
    index: int
    token: int
    parent: int      # index into the drawn node list, -1 for the root
    depth: int
    source: str      # root / retrieval / logits / both / bonus
    verdict: str     # accepted / rejected / not_reached / bonus
    prob: float | None
    estimate: float | None = None   # the drafter's chance of acceptance given the parent's
    evidence: object = None         # why it was drafted (racer.calibration.Evidence)


def drawn_nodes(record: StepRecord) -> list[Node]:
    """The tree's nodes plus, after the last accepted node, the model's own token."""
    tree = record.tree
    if tree is None:
        return []
    nodes = [Node(i, tree.tokens[i], tree.parents[i], tree.depths[i], tree.sources[i],
                  record.verdicts[i] if i < len(record.verdicts) else REJECTED,
                  record.target_probs[i] if i < len(record.target_probs) else None,
                  tree.estimates[i] if i < len(tree.estimates) else None,
                  tree.evidence[i] if i < len(tree.evidence) else None)
             for i in range(len(tree))]
    bonus = record.bonus
    if bonus is not None and record.accepted:
        last = record.accepted[-1]
        nodes.append(Node(-1, bonus, last, tree.depths[last] + 1, "bonus", "bonus", None))
    return nodes


def tree_layout(parents: list[int], first: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, int]]:
    """(column, row) per node; parents come before children (index order).

    Children keep index order except that those in ``first`` go first. A leaf takes
    the next free row (depth first); a parent takes its first child's row.

    >>> tree_layout([-1, 0, 0, 1])          # root, two children, a grandchild under 1
    [(0, 0), (1, 0), (1, 1), (2, 0)]
    >>> tree_layout([-1, 0, 0, 1], first={2})
    [(0, 0), (1, 1), (1, 0), (2, 1)]
    """
    n = len(parents)
    kids: list[list[int]] = [[] for _ in range(n)]
    depth = [0] * n
    for i, p in enumerate(parents):
        if p >= 0:
            kids[p].append(i)
            depth[i] = depth[p] + 1
    for k in kids:
        k.sort(key=lambda c: (c not in first, c))
    row = [0] * n
    next_row = 0
    stack = [(i, False) for i in range(n) if parents[i] < 0][::-1]
    while stack:  # iterative depth-first walk: a 64-deep chain must not recurse
        node, done = stack.pop()
        if done:
            row[node] = row[kids[node][0]]
            continue
        if not kids[node]:
            row[node] = next_row
            next_row += 1
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(kids[node]))
    return [(depth[i], row[i]) for i in range(n)]


# -- label placement (pixels) --------------------------------------------------------

Box = tuple[float, float, float, float]   # x0, y0, x1, y1 in pixels, y downwards


@dataclass(frozen=True)
class Label:
    text: str        # visible text as placed (maybe shortened), not yet escaped
    box: Box

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
    """A generous estimate of a label's width in pixels (Plotly's default sans serif)."""
    return sum(size * (0.62 if ch.isascii() else 0.95) for ch in text) + 2


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(points: Sequence[tuple[float, float]], radii: Sequence[float], texts: Sequence[str],
                 sizes: Sequence[float], order: Sequence[int], area: Box,
                 obstacles: Sequence[Box] = ()) -> list[Label | None]:
    """A spot per label (None: no room), never on a marker or an earlier label.

    points: marker centres in pixels; radii: marker radii; texts: the full visible
    labels; sizes: font sizes; order: which labels choose first; area: the box the
    labels must stay in; obstacles: other boxes to keep clear of (arrowheads). Each
    label tries above its marker, then below, in full, then
    shortened to 8, 5 and 3 characters (with "…").

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
        tries = [full] + [visible_cut(full, n) for n in (8, 5, 3) if len(full) > n]
        done = False
        for text in tries:
            w, h = text_width(text, size), label_height(size)
            for top in (y - r - 1 - h, y + r + 1):   # above the marker, else below it
                box = (x - w / 2, top, x + w / 2, top + h)
                inside = area[0] <= box[0] and box[2] <= area[2] and area[1] <= box[1] and box[3] <= area[3]
                if inside and not any(_overlaps(box, m) for m in markers) \
                        and not any(_overlaps(box, p) for p in placed):
                    placed.append(box)
                    out[i] = Label(text, box)
                    done = True
                    break
            if done:
                break
    return out


def visible_cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, the last one an ellipsis."""
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


# -- the figure ------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """Where the grid of columns and rows lands in pixels, for a plot ``PLOT_WIDTH_PX``
    wide. Data coordinates: x = column, y = -row."""
    columns: int
    rows: int
    row_px: float
    plot_h: float

    @property
    def col_px(self) -> float:
        return PLOT_WIDTH_PX / (self.columns + 0.2)   # x range: -0.6 .. columns - 0.4

    @property
    def x_range(self) -> list[float]:
        return [-0.6, self.columns - 0.4]

    @property
    def y_range(self) -> list[float]:
        top = TOP_ROOM_PX / self.row_px
        return [top - self.plot_h / self.row_px, top]

    @property
    def height(self) -> int:
        return int(round(self.plot_h + LEGEND_PX + MARGIN_PX))

    def px(self, column: int, row: int) -> tuple[float, float]:
        """Pixel centre of a grid cell, from the plotting area's top left corner."""
        return (column + 0.6) * self.col_px, TOP_ROOM_PX + row * self.row_px

    def data(self, x: float, y: float) -> tuple[float, float]:
        """Data coordinates of a pixel (the inverse of ``px``, y = -row)."""
        return x / self.col_px - 0.6, -(y - TOP_ROOM_PX) / self.row_px

    @classmethod
    def fit(cls, columns: int, rows: int, extra_rows: int = 0) -> "Frame":
        """Rows as far apart as ``ROW_PX`` allows within ``MAX_PLOT_PX``, never closer than
        ``MIN_ROW_PX`` (then the figure grows); at least ``MIN_HEIGHT`` tall."""
        span = rows - 1 + 0.7 + extra_rows
        row_px = max(MIN_ROW_PX, min(ROW_PX, (MAX_PLOT_PX - TOP_ROOM_PX) / span))
        plot_h = max(TOP_ROOM_PX + span * row_px, MIN_HEIGHT - LEGEND_PX - MARGIN_PX)
        return cls(columns, rows, row_px, plot_h)


def marker_px(row_px: float) -> float:
    """Diameter of a drafted node's marker: smaller as rows get closer."""
    return max(9.0, min(15.0, row_px * 0.5))


def tree_figure(record: StepRecord | None, token_text: TokenText) -> go.Figure:
    """The figure of one step's draft tree (a short note for prefill / no step)."""
    if record is None:
        return _note_figure("No step yet: press Step or Run to draft and verify a tree.")
    if record.tree is None:
        return _prefill_figure(record, token_text)
    nodes = drawn_nodes(record)
    emitted_bonus = len(record.emitted) == len(record.accepted)
    first = set(record.accepted)
    has_bonus = nodes[-1].source == "bonus"
    if has_bonus:
        first.add(len(nodes) - 1)
    pos = tree_layout([n.parent for n in nodes], first)
    columns = max(c for c, _ in pos) + 1
    rows = max(r for _, r in pos) + 1
    note = caption(record, token_text) if len(record.tree) == 1 else ""
    frame = Frame.fit(columns, rows, extra_rows=note.count("<br>") + 1 if note else 0)

    base = marker_px(frame.row_px)
    # markers in neighbouring rows or columns never touch: none is wider than a row or a column
    reach = [STAR_REACH if n.source == "bonus" else 1.0 for n in nodes]
    sizes = [min(_marker_size(n, base), (frame.row_px - 1) / k, (frame.col_px - 1) / k)
             for n, k in zip(nodes, reach)]
    raws = [token_text(n.token) for n in nodes]
    fonts = [GLYPH_FONT_PX if is_glyph(raw) else FONT_PX for raw in raws]
    points = [frame.px(c, r) for c, r in pos]
    priority = {"bonus": 0, ACCEPTED: 0, REJECTED: 1, NOT_REACHED: 2}
    order = sorted(range(len(nodes)), key=lambda i: (priority.get(nodes[i].verdict, 2), pos[i][0], pos[i][1]))
    area = (0.0, 0.0, PLOT_WIDTH_PX, frame.plot_h)
    labels = place_labels(points, [s / 2 * k for s, k in zip(sizes, reach)], [visible(raw) for raw in raws],
                          fonts, order, area)

    fig = go.Figure()
    _add_edges(fig, nodes, pos)
    for source in SOURCES:
        members = [i for i, n in enumerate(nodes) if n.source == source]
        if members:
            fig.add_trace(_node_trace(nodes, pos, members, raws, sizes))
    if has_bonus:
        fig.add_trace(_bonus_trace(nodes[-1], pos[-1], raws[-1], sizes[-1], emitted_bonus))
    bold = [n.verdict in (ACCEPTED, "bonus") for n in nodes]
    ink = [colour("bonus") if n.source == "bonus" else palette.INK if n.verdict == ACCEPTED else palette.MUTED
           for n in nodes]
    fig.add_trace(label_trace(labels, fonts, bold, ink, frame.data))
    _add_legend(fig, {n.source for n in nodes}, {n.verdict for n in nodes})

    hidden = sum(1 for lab in labels if lab is None)
    if note:
        fig.add_annotation(text=note, x=0.5, y=0.02, xref="paper", yref="paper",
                           showarrow=False, font=dict(size=13, color=palette.MUTED))
    elif hidden:
        fig.add_annotation(text=f"{hidden} of {len(nodes)} labels left out for room: hover a node to read it",
                           x=1, y=0, xref="paper", yref="paper", xanchor="right", yanchor="bottom",
                           showarrow=False, font=dict(size=11, color=palette.MUTED))
    fig.update_layout(
        height=frame.height, margin=dict(l=MARGIN_PX, r=MARGIN_PX, t=LEGEND_PX, b=MARGIN_PX),
        plot_bgcolor=palette.PAPER, paper_bgcolor=palette.PAPER, hovermode="closest", dragmode=False,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left", font=dict(size=12),
                    entrywidth=LEGEND_ENTRY_PX, entrywidthmode="pixels", itemclick=False, itemdoubleclick=False),
        xaxis=dict(visible=False, range=frame.x_range, fixedrange=True),
        yaxis=dict(visible=False, range=frame.y_range, fixedrange=True),
    )
    return fig


def _marker_size(node: Node, base: float) -> float:
    if node.source == "root":
        return base + 5
    if node.source == "bonus":
        return base + 7
    return base + 2 if node.verdict in (ACCEPTED, REJECTED) else base - 2


def _add_edges(fig: go.Figure, nodes: list[Node], pos) -> None:
    plain_x, plain_y, bold_x, bold_y = [], [], [], []
    for i, n in enumerate(nodes):
        if n.parent < 0 or n.source == "bonus":
            continue
        (x0, y0), (x1, y1) = pos[n.parent], pos[i]
        xs, ys = (bold_x, bold_y) if n.verdict == ACCEPTED else (plain_x, plain_y)
        xs += [x0, x1, None]
        ys += [-y0, -y1, None]
    if plain_x:
        fig.add_trace(go.Scatter(x=plain_x, y=plain_y, mode="lines", hoverinfo="skip",
                                 line=dict(color=palette.EDGE, width=1.5), showlegend=False))
    if bold_x:
        fig.add_trace(go.Scatter(x=bold_x, y=bold_y, mode="lines", hoverinfo="skip",
                                 line=dict(color=palette.INK, width=5), name="accepted path"))
    bonus = nodes[-1]
    if bonus.source == "bonus":
        (x0, y0), (x1, y1) = pos[bonus.parent], pos[len(nodes) - 1]
        fig.add_trace(go.Scatter(x=[x0, x1], y=[-y0, -y1], mode="lines", hoverinfo="skip",
                                 line=dict(color=colour("bonus"), width=3, dash="dot"),
                                 showlegend=False))


VERDICT_WORDS = {"accepted": "accepted", "rejected": "rejected (the model chose otherwise here)",
                 "not_reached": "not reached (an ancestor was rejected)"}


def node_hover(node: Node, raw: str) -> str:
    """A tree node's hover: its token, source and place, then what the drafter expected
    against what the model decided ("estimated 0.72 · accepted") and why it was drafted."""
    judged = VERDICT_WORDS.get(node.verdict, node.verdict)
    if node.estimate is not None and node.source != "root":
        judged = f"estimated {node.estimate:.2f} · {judged}"
    lines = [f"<b>{label(raw, 40)}</b>", f"token id {node.token}", f"source: {node.source}",
             f"depth {node.depth} · node {node.index}", judged]
    if node.evidence is not None:
        lines.append(html.escape(node.evidence.describe()))
    lines.append("target probability: " + ("—" if node.prob is None else f"{node.prob:.3f}"))
    return "<br>".join(lines)


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
        text = html.escape(lab.text, quote=False)
        xs.append(x)
        ys.append(y)
        texts.append(f"<b>{text}</b>" if strong else text)
        sizes.append(font)
        inks.append(ink)
    return go.Scatter(x=xs, y=ys, mode="text", text=texts, textposition="middle center", cliponaxis=False,
                      textfont=dict(size=sizes, color=inks), hoverinfo="skip", showlegend=False, name="labels")


def _node_trace(nodes, pos, members, raws, sizes) -> go.Scatter:
    """One source's nodes: fill = the source's colour; the verdict is the shape."""
    source = nodes[members[0]].source
    symbols, widths, line_colours = [], [], []
    for i in members:
        n = nodes[i]
        accepted = n.verdict == ACCEPTED
        if source == "root":
            symbols.append("square")
        else:
            symbols.append(REJECTED_SYMBOL if n.verdict == REJECTED else "circle")
        widths.append(2.5 if accepted else 2 if n.verdict == REJECTED else 1)
        line_colours.append(palette.INK if n.verdict in (ACCEPTED, REJECTED) else palette.PAPER)
    return go.Scatter(
        x=[pos[i][0] for i in members], y=[-pos[i][1] for i in members], mode="markers", cliponaxis=False,
        marker=dict(size=[sizes[i] for i in members], color=colour(source), opacity=1.0, symbol=symbols,
                    line=dict(width=widths, color=line_colours)),
        hovertext=[node_hover(nodes[i], raws[i]) for i in members],
        hovertemplate="%{hovertext}<extra></extra>", name=SOURCE_LABELS[source], showlegend=False)


def _add_legend(fig: go.Figure, sources: set[str], verdicts: set[str]) -> None:
    """Legend-only entries: one per source drawn (its colour), then the verdict shapes
    (in a neutral white, so a shape never reads as a source)."""
    def entry(name, size=12, **marker):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                 marker=dict(size=size, **marker)))
    for source in (*SOURCES, "bonus"):
        if source in sources:
            entry(SOURCE_LABELS[source], color=colour(source),
                  symbol={"root": "square", "bonus": "star"}.get(source, "circle"),
                  line=dict(width=1, color=palette.INK))
    if REJECTED in verdicts:
        entry("rejected by the model (crossed)", symbol=REJECTED_SYMBOL, color=palette.PAPER,
              line=dict(width=2, color=palette.INK))
    if NOT_REACHED in verdicts:
        entry("not reached (smaller)", symbol="circle", color=palette.PAPER, size=8,
              line=dict(width=1, color=palette.MUTED))


def _bonus_trace(node: Node, xy, raw: str, size: float, emitted: bool) -> go.Scatter:
    note = ("emitted; it is the root of the next step" if emitted
            else "not emitted: the generation stopped first")
    return go.Scatter(
        x=[xy[0]], y=[-xy[1]], mode="markers", cliponaxis=False,
        marker=dict(size=size, symbol="star", color=colour("bonus"), line=dict(width=1, color=palette.INK)),
        hovertext=[f"<b>{label(raw, 40)}</b><br>token id {node.token}<br>the model's own token "
                   f"after the accepted path<br>{note}"],
        hovertemplate="%{hovertext}<extra></extra>", name=SOURCE_LABELS["bonus"], showlegend=False)


def caption(record: StepRecord, token_text: TokenText, width: int = 100) -> str:
    """Why a step verified the root alone, or what the prefill did: the step's account
    (``racer.explain``), the same sentences as the outcome and the narration, in short
    lines (a Plotly annotation does not wrap, and a long line is cut off at both sides)."""
    account = explain(record, quoter(token_text))
    said = [account.size.sentence] + [s.sentence for s in account.shortfalls]
    return "<br>".join(line for sentence in said for line in textwrap.wrap(sentence, width))


def _prefill_figure(record: StepRecord, token_text: TokenText) -> go.Figure:
    """Prefill has no draft: one node, the first token the model chose."""
    if not record.emitted:
        return _note_figure("Prefill: the model read the prompt and stopped at once.")
    token = record.emitted[0]
    raw = token_text(token)
    text = visible_cut(visible(raw), 24)
    fig = go.Figure(_bonus_trace(Node(-1, token, -1, 0, "bonus", "bonus", None), (0, 0), raw, 20, True))
    fig.data[0].showlegend = True
    size = GLYPH_FONT_PX if is_glyph(raw) else FONT_PX   # the label clear of the star's points (y = 0.3)
    fig.add_trace(label_trace([Label(text, (0, 0, 0, 0))], [size], [True], [colour("bonus")], lambda x, y: (0, 0.3)))
    fig.add_annotation(
        text=caption(record, token_text), x=0.5, y=0.15, xref="paper", yref="paper", showarrow=False,
        font=dict(size=13, color=palette.MUTED))
    fig.update_layout(height=MIN_HEIGHT, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor=palette.PAPER,
                      paper_bgcolor=palette.PAPER, showlegend=True,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left"),
                      xaxis=dict(visible=False, range=[-1, 1], fixedrange=True),
                      yaxis=dict(visible=False, range=[-1.5, 0.8], fixedrange=True))
    return fig


def _note_figure(text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color=palette.MUTED), align="center")
    fig.update_layout(height=MIN_HEIGHT, margin=dict(l=10, r=10, t=10, b=10),
                      plot_bgcolor=palette.PAPER, paper_bgcolor=palette.PAPER,
                      xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig
