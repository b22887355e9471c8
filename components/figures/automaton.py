"""The retrieval automaton of one step as a graph: networkx holds the structure (the
trie, its failure links) and walks it for the layout (``components.figures.automaton_layout``),
Plotly draws it.

It reads only the step record: ``record.automaton.trie`` (``racer.drafting.automaton.TrieView``,
plain ints) and ``record.tree``. Drawn: the piece of the trie around the match, depth
left to right (a column per string length); the matched path (the context's longest
suffix that was followed by the root before, then the root) in bold; failure links
dashed (a string -> its longest proper suffix in the trie; those to the trie root
are left out); each node's count (how often its string occurred); the continuations
retrieval drafted in their source's colour, the others hollow. A node whose upper
path is left out hangs from a dotted line.

Left out on purpose: the whole trie (up to 200,000 nodes); ``racer.drafting.automaton`` picks
the nodes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import plotly.graph_objects as go

from racer import palette
from racer.engine.records import StepRecord
from racer.engine.tree import RETRIEVAL
from racer.drafting.automaton import TrieView

from components.figures.automaton_layout import drafted_sources, trie_graph, trie_layout
from components.figures.labels import FONT_PX, GLYPH_FONT_PX, LEGEND_ENTRY_PX, label_trace, left_cut, legend_px, place_labels
from components.figures.tokens import ShowToken, colour, is_glyph, joined, label, visible
from components.figures.tree_layout import PLOT_WIDTH_PX

ROW_PX = 44          # vertical room per node of the fullest column
MIN_HEIGHT, MAX_HEIGHT = 280, 560
MARGIN = dict(l=10, r=10, b=10)   # the top one holds the legend (legend_px)
NODE_PX = 15
NOTE_LINE_PX = 17    # a line of notes under the plot
LABEL_CHARS = 16     # a node's string, shortened from the left beyond this
SIDE_PX = 44         # room around the outermost nodes, for their labels
REACH = {"diamond": 1.3}   # Plotly's diamond reaches this far beyond half its size
PATH_COLOUR = palette.BLUE      # the matched path is retrieval's find
ROLES = ("trie root", "border: the root after a match", "the root alone: a 1-token match", "matched context", "drafted by retrieval",
         "drafted by both sources", "state: the context's end", "context suffix", "other continuation")



def automaton_figure(record: StepRecord | None, token_text: ShowToken) -> go.Figure:
    """The trie around this step's match (a short note when there is none)."""
    if record is None:
        return _note("No step yet: the automaton appears once a step has drafted.")
    view = record.automaton.trie
    if view is None:
        return _note(f"No automaton view for this step: {_why_no_view(record)}.")
    g = trie_graph(view)
    anchor = view.borders[0] if view.borders else view.alone   # where retrieval's drafts hang (-1: none)
    matched = view.path_to(anchor) if anchor >= 0 else []
    pos = {n: (float(c), -float(r)) for n, (c, r) in trie_layout(g, matched).items()}
    drafted = drafted_sources(view, record)
    on_path = set(matched)
    nodes = list(range(len(view)))
    role = {n: _role(n, view, on_path, drafted) for n in nodes}
    entries = len({r[0] for r in role.values()}) + (len(matched) > 1) + bool(view.failures) + \
        any(p < 0 for p in view.parents[1:])
    notes = _notes(view)
    canvas = _Canvas.fit(pos, legend_px(entries), bottom=MARGIN["b"] + NOTE_LINE_PX * (notes.count("<br>") + 2))

    fig = go.Figure()
    _edges(fig, g, pos, on_path, 1.0)
    heads = _failures(fig, view, pos)
    raws = [token_text(view.tokens[n]) if n else "" for n in nodes]
    texts = ["trie root" if n == 0 else node_string(n, view, raws, token_text) for n in nodes]
    fonts = [GLYPH_FONT_PX if n and is_glyph(raws[n]) else FONT_PX for n in nodes]
    order = sorted(nodes, key=lambda n: (n not in on_path, n not in drafted, n not in view.borders, n))
    size = {n: NODE_PX + (3 if role[n][0] in ROLES[:3] else 0) for n in nodes}
    reach = {n: REACH.get(role[n][2], 1.0) * size[n] / 2 for n in nodes}   # how far each marker reaches
    arrows = [canvas.px(x, y) for x, y in heads]
    labels = place_labels([canvas.px(*pos[n]) for n in nodes], [reach[n] for n in nodes], texts, fonts, order,
                          (0, 0, PLOT_WIDTH_PX, canvas.plot_h), [(x - 7, y - 7, x + 7, y + 7) for x, y in arrows],
                          cut=left_cut)
    _add_nodes(fig, view, pos, role, size, raws)
    fig.add_trace(label_trace(labels, fonts, [False] * len(nodes),
                              [palette.INK if n in on_path or n in drafted else palette.MUTED for n in nodes],
                              canvas.data))
    _add_notes(fig, notes, hidden=sum(1 for lab in labels if lab is None))
    fig.update_layout(
        height=canvas.height, margin=canvas.margin, plot_bgcolor=palette.CLEAR, paper_bgcolor=palette.CLEAR,
        hovermode="closest", dragmode=False,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left", font=dict(size=12),
                    entrywidth=LEGEND_ENTRY_PX, entrywidthmode="pixels", itemclick=False, itemdoubleclick=False),
        xaxis=dict(visible=False, range=[canvas.x0, canvas.x1], fixedrange=True),
        yaxis=dict(visible=False, range=[canvas.y0, canvas.y1], fixedrange=True))
    return fig


def _why_no_view(record: StepRecord) -> str:
    return ("the prefill drafts nothing" if record.tree is None else
            f"the {record.settings.drafter} drafter does not use the automaton"
            if record.settings.drafter not in ("racer", "retrieval") else
            "nothing was drafted this step (a budget of one node, or depth 0)")


@dataclass(frozen=True)
class _Canvas:
    """Where data coordinates (x = depth, y = -row) land in pixels, from the plotting
    area's top left corner: a plot ``PLOT_WIDTH_PX`` wide, ``ROW_PX`` a row within
    ``MIN_HEIGHT``..``MAX_HEIGHT``, with ``SIDE_PX`` around the outer nodes for labels."""
    height: float
    margin: dict
    plot_h: float
    x0: float
    x1: float
    y0: float
    y1: float
    sx: float     # pixels per data unit
    sy: float

    @classmethod
    def fit(cls, pos: dict[int, tuple[float, float]], top: int, bottom: int = MARGIN["b"]) -> "_Canvas":
        """The canvas for node positions ``pos``, under a legend ``top`` pixels tall and
        over ``bottom`` pixels of notes."""
        margin = dict(MARGIN, t=top, b=bottom)
        rows = 1 - min(y for _, y in pos.values())
        height = max(MIN_HEIGHT, min(MAX_HEIGHT, margin["t"] + margin["b"] + ROW_PX * (rows + 1)))
        xs = [p[0] for p in pos.values()]
        ys = [p[1] for p in pos.values()]
        plot_h = height - margin["t"] - margin["b"]
        # room in pixels around the outer nodes for their labels
        sx = (PLOT_WIDTH_PX - 2 * SIDE_PX) / ((max(xs) - min(xs)) or 1.0)
        sy = (plot_h - 2 * SIDE_PX) / ((max(ys) - min(ys)) or 1.0)
        return cls(height, margin, plot_h, min(xs) - SIDE_PX / sx, max(xs) + SIDE_PX / sx,
                   min(ys) - SIDE_PX / sy, max(ys) + SIDE_PX / sy, sx, sy)

    def px(self, x: float, y: float) -> tuple[float, float]:
        """Pixels of a point in data coordinates."""
        return (x - self.x0) * self.sx, (self.y1 - y) * self.sy

    def data(self, x: float, y: float) -> tuple[float, float]:
        """Data coordinates of a pixel (the inverse of ``px``)."""
        return self.x0 + x / self.sx, self.y1 - y / self.sy


def _add_nodes(fig: go.Figure, view: TrieView, pos, role: dict, size: dict, raws: list[str]) -> None:
    """A marker trace per role (one legend entry each), in ``ROLES`` order."""
    for name in ROLES:
        members = [n for n in range(len(view)) if role[n][0] == name]
        if not members:
            continue
        fig.add_trace(go.Scatter(
            x=[pos[n][0] for n in members], y=[pos[n][1] for n in members], mode="markers",
            cliponaxis=False, name=name,
            marker=dict(size=size[members[0]], symbol=role[members[0]][2],
                        color=role[members[0]][1], line=dict(width=2, color=role[members[0]][3])),
            hovertext=[_hover(n, view, raws[n], role[n][0]) for n in members],
            hovertemplate="%{hovertext}<extra></extra>"))


def _notes(view: TrieView) -> str:
    """What the graph needs said beside it: how retrieval matched when it had no border."""
    if view.borders:
        return ""
    if view.alone >= 0:
        return ("A 1-token match: the context's end never came before the root, but the root itself did;<br>"
                "retrieval drafted what followed it there (in its colour below the root's own node).")
    return "No earlier occurrence of the root: no border and no 1-token match, so retrieval had nothing to draft."


def _add_notes(fig: go.Figure, notes: str, hidden: int) -> None:
    """Below the plot, in the bottom margin (never over a node or a label): the notes,
    then how many labels were left out for room."""
    lines = [notes] if notes else []
    if hidden:
        lines.append(f"{hidden} labels left out for room: hover a node")
    if lines:
        fig.add_annotation(text="<br>".join(lines), x=0, y=0, xref="paper", yref="paper", xanchor="left",
                           yanchor="top", yshift=-4, showarrow=False, align="left",
                           font=dict(size=12, color=palette.MUTED))


def node_string(n: int, view: TrieView, raws: list[str], token_text: ShowToken | None = None,
                limit: int = LABEL_CHARS) -> str:
    """A node's label: its whole string (every token from the trie root down), made
    visible and shortened from the left ("…packing list: ␣passport"), so that nodes
    ending in the same token read apart. A node shown without its upper path starts
    with "…". With ``token_text`` the tokens' bytes are joined, so a character split
    over two tokens reads whole."""
    path = [k for k in view.path_to(n) if k != 0]
    whole = joined(token_text, [view.tokens[k] for k in path]) if token_text else "".join(raws[k] for k in path)
    text = visible(whole)
    if len(path) < view.depths[n] or len(text) > limit:
        text = left_cut(text if text.startswith("…") else "…" + text, limit)
    return text


def _role(n: int, view: TrieView, on_path: set[int], drafted: dict[int, str]) -> tuple[str, str, str, str]:
    """(legend name, fill, symbol, outline) of a node; the first that applies."""
    if n == 0:
        return "trie root", palette.DARK_GREY, "square", palette.INK
    if n in view.borders:
        return "border: the root after a match", colour("root"), "diamond", palette.INK
    if n == view.alone:
        return "the root alone: a 1-token match", colour("root"), "diamond", palette.INK
    if n in on_path:
        return "matched context", PATH_COLOUR, "circle", palette.INK
    if n in drafted:
        source = drafted[n]
        return f"drafted by {'retrieval' if source == RETRIEVAL else 'both sources'}", colour(source), "circle", \
            palette.INK
    if n == view.state:
        return "state: the context's end", palette.PAPER, "circle", PATH_COLOUR
    below_border = False
    up = view.parents[n]
    while up >= 0:
        if up in view.borders or up == view.alone:
            below_border = True
            break
        up = view.parents[up]
    if below_border:
        return "other continuation", palette.PAPER, "circle", palette.EDGE
    return "context suffix", palette.PAPER, "circle", palette.MUTED


def _hover(n: int, view: TrieView, raw: str, role: str) -> str:
    if n == 0:
        return "the trie root: the empty string"
    return (f"<b>{label(raw, 30)}</b> · token id {view.tokens[n]}<br>a string of {view.depths[n]} tokens, "
            f"seen {view.counts[n]} time{'s' if view.counts[n] != 1 else ''} in the context<br>{role}")


def _edges(fig: go.Figure, g: nx.MultiDiGraph, pos, on_path: set[int], column: float) -> None:
    """Trie edges; a node shown without its upper path gets a short dotted stub instead
    (``column``: the distance between two depths)."""
    groups = {"child": ([], []), "path": ([], []), "elided": ([], [])}
    for u, v, kind in g.edges(data="kind"):
        if kind == "failure":
            continue
        key = "path" if kind == "child" and u in on_path and v in on_path else kind
        xs, ys = groups[key]
        start = (pos[v][0] - 0.45 * column, pos[v][1]) if kind == "elided" else pos[u]
        xs += [start[0], pos[v][0], None]
        ys += [start[1], pos[v][1], None]
    styles = {"child": dict(color=palette.EDGE, width=1.5), "path": dict(color=PATH_COLOUR, width=5),
              "elided": dict(color=palette.EDGE, width=1.2, dash="dot")}
    names = {"child": "trie edge", "path": "matched path", "elided": "upper path left out"}
    for key, (xs, ys) in groups.items():
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=styles[key], hoverinfo="skip",
                                     name=names[key], showlegend=key != "child"))


def _failures(fig: go.Figure, view: TrieView, pos) -> list[tuple[float, float]]:
    """Failure links as dashed arcs, bowed so they do not hide the trie edges, with an
    arrowhead short of the suffix they point to; returns where the arrowheads are."""
    xs, ys, heads_x, heads_y = [], [], [], []
    for node, target in view.failures:
        (ax, ay), (bx, by) = pos[node], pos[target]
        mx, my = (ax + bx) / 2, (ay + by) / 2
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy) or 1.0
        bend = 0.18 * length
        cx, cy = mx - dy / length * bend, my + dx / length * bend   # control point off the chord
        def at(t: float) -> tuple[float, float]:   # the quadratic Bezier curve at t
            return ((1 - t) ** 2 * ax + 2 * (1 - t) * t * cx + t ** 2 * bx,
                    (1 - t) ** 2 * ay + 2 * (1 - t) * t * cy + t ** 2 * by)
        for k in range(13):
            x, y = at(k / 12)
            xs.append(x)
            ys.append(y)
        xs.append(None)
        ys.append(None)
        for t in (0.72, 0.8):   # the arrowhead short of the node, pointing along the curve
            x, y = at(t)
            heads_x.append(x)
            heads_y.append(y)
        heads_x.append(None)
        heads_y.append(None)
    if not xs:
        return []
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=palette.MUTED, width=1.3, dash="dash"),
                             hoverinfo="skip", name="failure link (→ longest suffix)"))
    fig.add_trace(go.Scatter(x=heads_x, y=heads_y, mode="markers", hoverinfo="skip", showlegend=False,
                             marker=dict(symbol="arrow", size=[0, 10, 0] * len(view.failures),
                                         angleref="previous", color=palette.MUTED)))
    return [(x, y) for x, y in zip(heads_x[1::3], heads_y[1::3])]


def _note(text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color=palette.MUTED))
    fig.update_layout(height=200, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor=palette.CLEAR,
                      paper_bgcolor=palette.CLEAR, xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig
