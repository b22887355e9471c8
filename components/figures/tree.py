"""The draft tree of one step as a Plotly figure.

Where the nodes go is ``components.figures.tree_layout`` (the top row reads what the step
emitted); where their labels go is ``components.figures.labels`` (first the top row, then
rejected nodes, then the rest).

Drawing: a node's fill is its source's colour whatever the model did with it
(``racer.palette``); the verdict is a shape. Accepted: a full marker with a black
ring on the bold path. Rejected: the same colour crossed out (``circle-x``, a symbol
no source uses). Not reached (an ancestor was rejected): a smaller marker. Tokens
without letters or digits (a space, a newline, a full stop) get larger labels.
"""
from __future__ import annotations

import html
import textwrap

import plotly.graph_objects as go

from racer import palette
from racer.inspect.explain import UNVERIFIED_LABEL, explain
from racer.engine.records import ACCEPTED, NOT_REACHED, REJECTED, StepRecord
from racer.engine.sources import BONUS

from components.figures.labels import (FONT_PX, GLYPH_FONT_PX, LEGEND_ENTRY_PX, Label, label_trace, legend_px, place_labels,
                                       visible_cut)
from components.numbers import fmt
from components.figures.tokens import (SOURCE_LABELS, ShowToken, colour, is_glyph, label, quoted, quoter, tree_texts,
                                       visible)
from components.figures.tree_layout import (MARGIN_PX, MIN_HEIGHT, PLOT_WIDTH_PX, Frame, Node, drawn_nodes, marker_px,
                          tree_layout)

REJECTED_SYMBOL = "circle-x"   # no source is drawn with it
STAR_REACH = 1.35    # Plotly's star reaches this far beyond half its size (measured in Chromium)
SOURCES = ("root", "retrieval", "logits", "both", "padding")


def tree_figure(record: StepRecord | None, token_text: ShowToken) -> go.Figure:
    """The figure of one step's draft tree (a short note for prefill / no step)."""
    if record is None:
        return _note_figure("No step yet: press Step or Run to draft and verify a tree.")
    if record.tree is None:
        return _prefill_figure(record, token_text)
    if record.unverified is not None and len(record.tree) == 1:
        return _unverified_figure(record, token_text)
    nodes = drawn_nodes(record)
    first = set(record.accepted)   # the accepted path, then the model's own token, on the top row
    if nodes[-1].source == BONUS:
        first.add(len(nodes) - 1)
    pos = tree_layout([n.parent for n in nodes], first)
    note = caption(record, token_text) if len(record.tree) == 1 else ""
    if record.tree.notes:   # a policy's quirks as this tree shows them (racer.drafting.policies)
        quirks = "<br>".join(line for n in record.tree.notes for line in textwrap.wrap(n, 100))
        note = f"{note}<br>{quirks}" if note else quirks
    frame = Frame.fit(max(c for c, _ in pos) + 1, max(r for _, r in pos) + 1,
                      extra_rows=note.count("<br>") + 1 if note else 0, legend_px=legend_px(_legend_entries(nodes)))
    raws = tree_texts(token_text, [n.token for n in nodes], [n.parent for n in nodes])
    sizes, radii = _marker_sizes(nodes, frame)
    fonts = [GLYPH_FONT_PX if is_glyph(raw) else FONT_PX for raw in raws]
    labels = _place(nodes, pos, raws, radii, fonts, frame, named_tokens(record, token_text))

    fig = go.Figure()
    _add_edges(fig, nodes, pos)
    _add_leaders(fig, labels, pos, frame)
    _add_nodes(fig, nodes, pos, raws, sizes, emitted_bonus=len(record.emitted) == len(record.accepted),
               alone=[token_text(n.token) for n in nodes])
    fig.add_trace(_labels_trace(nodes, labels, fonts, frame))
    _add_legend(fig, {n.source for n in nodes}, {n.verdict for n in nodes})
    _add_note(fig, note, labels)
    return _framed(fig, frame)


def _marker_sizes(nodes: list[Node], frame: Frame) -> tuple[list[float], list[float]]:
    """Marker diameters, and how far each marker reaches from its centre (a star's
    points reach beyond half its size)."""
    base = marker_px(frame.row_px)
    # markers in neighbouring rows or columns never touch: none is wider than a row or a column
    reach = [STAR_REACH if n.source == BONUS else 1.0 for n in nodes]
    sizes = [min(_marker_size(n, base), (frame.row_px - 1) / k, (frame.col_px - 1) / k)
             for n, k in zip(nodes, reach)]
    return sizes, [s / 2 * k for s, k in zip(sizes, reach)]


def _leaves(nodes: list[Node]) -> list[bool]:
    """Which nodes have no child drawn: no edge leaves their right side, so a label fits there."""
    parents = {n.parent for n in nodes}
    return [i not in parents for i in range(len(nodes))]


def named_tokens(record: StepRecord, token_text: ShowToken) -> set[int]:
    """The token ids the step's account names (the narration, the outcome, the caption):
    their labels choose their spot before any other, so the figure shows every token the
    sentences talk about (a crowded tree leaves labels out)."""
    named: set[int] = set()
    show = quoter(token_text)

    def quote(ids):
        named.update(ids)
        return show(ids)
    explain(record, quote)
    return named


def _place(nodes: list[Node], pos, raws: list[str], radii, fonts, frame: Frame, named: set[int]) -> list:
    """Every node's label (None: no room), the nodes whose token the sentences name
    placed before the rest and never left out while any spot is free."""
    must = [i for i, n in enumerate(nodes) if n.token in named]
    return place_labels([frame.px(c, r) for c, r in pos], radii, [visible(raw) for raw in raws], fonts,
                        _label_order(nodes, pos, named), (0.0, 0.0, PLOT_WIDTH_PX, frame.plot_h),
                        right=_leaves(nodes), must=must)


def _add_leaders(fig: go.Figure, labels: list, pos, frame: Frame) -> None:
    """A thin line from each label placed away from its marker to that marker."""
    xs, ys = [], []
    for lab, (c, r) in zip(labels, pos):
        if lab is not None and lab.leader:
            (x0, y0), (x1, y1) = frame.data(*frame.px(c, r)), frame.data(*lab.centre)
            xs += [x0, x1, None]
            ys += [y0, y1, None]
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False, name="leaders",
                                 line=dict(color=palette.MUTED, width=0.8, dash="dot")))


def _label_order(nodes: list[Node], pos: list[tuple[int, int]], named: set[int] = frozenset()) -> list[int]:
    """Which labels choose their spot first: the top row (accepted, the model's own
    token), then the nodes whose token the sentences name, then rejected nodes, then the
    rest; left to right, top to bottom."""
    priority = {BONUS: 0, ACCEPTED: 0, REJECTED: 2, NOT_REACHED: 3}

    def rank(i: int) -> int:
        first = priority.get(nodes[i].verdict, 3)
        return 1 if first > 0 and nodes[i].token in named else first
    return sorted(range(len(nodes)), key=lambda i: (rank(i), pos[i][0], pos[i][1]))


def _labels_trace(nodes: list[Node], labels: list[Label | None], fonts: list[float], frame: Frame) -> go.Scatter:
    """The placed labels: bold on the accepted path, the model's own token in its colour."""
    bold = [n.verdict in (ACCEPTED, BONUS) for n in nodes]
    ink = [colour(BONUS) if n.source == BONUS else palette.INK if n.verdict == ACCEPTED else palette.MUTED
           for n in nodes]
    return label_trace(labels, fonts, bold, ink, frame.data)


def _add_note(fig: go.Figure, note: str, labels: list[Label | None]) -> None:
    """The caption of a root-alone step, else how many labels were left out for room."""
    hidden = sum(1 for lab in labels if lab is None)
    if note:
        fig.add_annotation(text=note, x=0.5, y=0.02, xref="paper", yref="paper",
                           showarrow=False, font=dict(size=13, color=palette.MUTED))
    elif hidden:
        fig.add_annotation(text=f"{hidden} of {len(labels)} labels left out for room: hover a node to read it",
                           x=1, y=0, xref="paper", yref="paper", xanchor="right", yanchor="bottom",
                           showarrow=False, font=dict(size=11, color=palette.MUTED))


def _marker_size(node: Node, base: float) -> float:
    if node.source == "root":
        return base + 5
    if node.source == BONUS:
        return base + 7
    return base + 2 if node.verdict in (ACCEPTED, REJECTED) else base - 2


def _add_edges(fig: go.Figure, nodes: list[Node], pos) -> None:
    plain_x, plain_y, bold_x, bold_y = [], [], [], []
    for i, n in enumerate(nodes):
        if n.parent < 0 or n.source == BONUS:
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
    if bonus.source == BONUS:
        (x0, y0), (x1, y1) = pos[bonus.parent], pos[len(nodes) - 1]
        fig.add_trace(go.Scatter(x=[x0, x1], y=[-y0, -y1], mode="lines", hoverinfo="skip",
                                 line=dict(color=colour(BONUS), width=3, dash="dot"),
                                 showlegend=False))


VERDICT_WORDS = {"accepted": "accepted", "rejected": "rejected (the model chose otherwise here)",
                 "not_reached": "not reached (an ancestor was rejected)"}


def node_hover(node: Node, raw: str, alone: str = "") -> str:
    """A tree node's hover: its token, source and place, then what the drafter expected
    against what the model decided ("estimated 0.72 · accepted") and why it was drafted.
    ``alone``: the token's text on its own, shown where its label reads it under its
    ancestors (a character whose first bytes were the parent's)."""
    judged = VERDICT_WORDS.get(node.verdict, node.verdict)
    if node.estimate is not None and node.source != "root":
        judged = f"estimated {fmt('probability', node.estimate)} · {judged}"
    own = [f"the token alone: {label(alone, 40)} (its parent began the character)"] if alone and alone != raw else []
    lines = [f"<b>{label(raw, 40)}</b>", *own, f"token id {node.token}", f"source: {node.source}",
             f"depth {node.depth} · node {node.index}", judged]
    if node.evidence is not None:
        lines.append(html.escape(node.evidence.describe()))
    lines.append("target probability: " + fmt("probability", node.prob))
    return "<br>".join(lines)


def _add_nodes(fig: go.Figure, nodes: list[Node], pos, raws: list[str], sizes: list[float],
               emitted_bonus: bool, alone: list[str]) -> None:
    """A marker trace per source drawn, then the model's own token (a star)."""
    for source in SOURCES:
        members = [i for i, n in enumerate(nodes) if n.source == source]
        if members:
            fig.add_trace(_node_trace(nodes, pos, members, raws, sizes, alone))
    if nodes[-1].source == BONUS:
        fig.add_trace(_bonus_trace(nodes[-1], pos[-1], raws[-1], sizes[-1], emitted_bonus))


def _node_trace(nodes, pos, members, raws, sizes, alone) -> go.Scatter:
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
        hovertext=[node_hover(nodes[i], raws[i], alone[i]) for i in members],
        hovertemplate="%{hovertext}<extra></extra>", name=SOURCE_LABELS[source], showlegend=False)


def _legend_entries(nodes: list[Node]) -> int:
    """How many entries ``_add_legend`` (and the accepted path's line) will make, so that
    the top margin holds them all: a legend taller than its margin pushes the plot down,
    under its own labels."""
    path = any(n.verdict == ACCEPTED and n.parent >= 0 and n.source != BONUS for n in nodes)
    verdicts = {n.verdict for n in nodes} & {REJECTED, NOT_REACHED}
    return len({n.source for n in nodes}) + len(verdicts) + path


def _add_legend(fig: go.Figure, sources: set[str], verdicts: set[str]) -> None:
    """Legend-only entries: one per source drawn (its colour), then the verdict shapes
    (in a neutral white, so a shape never reads as a source)."""
    def entry(name, size=12, **marker):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                 marker=dict(size=size, **marker)))
    for source in (*SOURCES, BONUS):
        if source in sources:
            entry(SOURCE_LABELS[source], color=colour(source),
                  symbol={"root": "square", BONUS: "star"}.get(source, "circle"),
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
        marker=dict(size=size, symbol="star", color=colour(BONUS), line=dict(width=1, color=palette.INK)),
        hovertext=[f"<b>{label(raw, 40)}</b><br>token id {node.token}<br>the model's own token "
                   f"after the accepted path<br>{note}"],
        hovertemplate="%{hovertext}<extra></extra>", name=SOURCE_LABELS[BONUS], showlegend=False)


def unverified_caption(record: StepRecord, token_text: ShowToken, width: int = 100) -> str:
    """The caption over a proposal the adaptive budget did not verify: why it is grey,
    and which guess (if any) the model's own token matched."""
    quote = quoter(token_text)
    match = record.unverified_match
    bonus = quote([record.bonus]) if record.bonus is not None else "nothing"
    said = (f"The model's own token {bonus} matched the ringed guess: verifying this tree would have "
            f"accepted it." if match is not None else
            f"The model's own token {bonus} matched none of these guesses.")
    lines = [f"Greyed: {UNVERIFIED_LABEL}."] + textwrap.wrap(said, width)
    return "<br>".join(lines) + "<br>" + caption(record, token_text, width)   # the step's account, as elsewhere


def _unverified_figure(record: StepRecord, token_text: ShowToken) -> go.Figure:
    """The tree the drafter proposed in a step the adaptive budget cut to the root
    alone: every node greyed (nothing was verified), the guess the model's own token
    matched ringed and on the top row, and the caption below the tree."""
    tree, match = record.unverified, record.unverified_match
    nodes = [Node(i, tree.tokens[i], tree.parents[i], tree.depths[i], tree.sources[i],
                  ACCEPTED if i in (0, match) else NOT_REACHED, None,
                  tree.estimates[i] if i < len(tree.estimates) else None,
                  tree.evidence[i] if i < len(tree.evidence) else None)
             for i in range(len(tree))]
    pos = tree_layout(list(tree.parents), {0} | ({match} if match is not None else set()))
    note = unverified_caption(record, token_text)
    frame = Frame.fit(max(c for c, _ in pos) + 1, max(r for _, r in pos) + 1, extra_rows=note.count("<br>") + 1)
    raws = tree_texts(token_text, [n.token for n in nodes], [n.parent for n in nodes])
    sizes, radii = _marker_sizes(nodes, frame)
    fonts = [GLYPH_FONT_PX if is_glyph(raw) else FONT_PX for raw in raws]
    labels = _place(nodes, pos, raws, radii, fonts, frame, named_tokens(record, token_text))
    fig = go.Figure()
    _add_leaders(fig, labels, pos, frame)
    xs, ys = [], []
    for i, n in enumerate(nodes):
        if n.parent >= 0:
            xs += [pos[n.parent][0], pos[i][0], None]
            ys += [-pos[n.parent][1], -pos[i][1], None]
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                                 line=dict(color=palette.EDGE, width=1.5, dash="dot")))
    hover = [f"{node_hover(n, raw).rsplit('<br>', 2)[0]}<br>not verified" for n, raw in zip(nodes, raws)]
    fig.add_trace(go.Scatter(
        x=[c for c, _ in pos], y=[-r for _, r in pos], mode="markers", cliponaxis=False, opacity=0.45,
        marker=dict(size=sizes, color=[colour(n.source) for n in nodes],
                    symbol=["square" if n.source == "root" else "circle" for n in nodes],
                    line=dict(width=[3 if i == match else 1 for i in range(len(nodes))],
                              color=[palette.INK if i == match else palette.PAPER for i in range(len(nodes))])),
        hovertext=hover, hovertemplate="%{hovertext}<extra></extra>", name="proposed, not verified",
        showlegend=True))
    fig.add_trace(label_trace(labels, fonts, [i == match for i in range(len(nodes))],
                              [palette.MUTED] * len(nodes), frame.data))
    fig.add_annotation(text=note, x=0.5, y=0.02, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=13, color=palette.MUTED))
    return _framed(fig, frame)


def _framed(fig: go.Figure, frame) -> go.Figure:
    """The tree card's layout, the same for every tree figure: the frame's size and ranges
    (``tree_layout``), a clear background, the legend on one band above the plot."""
    fig.update_layout(
        height=frame.height, margin=dict(l=MARGIN_PX, r=MARGIN_PX, t=frame.legend_px, b=MARGIN_PX),
        plot_bgcolor=palette.CLEAR, paper_bgcolor=palette.CLEAR, hovermode="closest", dragmode=False,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left", font=dict(size=12),
                    entrywidth=LEGEND_ENTRY_PX, entrywidthmode="pixels", itemclick=False, itemdoubleclick=False),
        xaxis=dict(visible=False, range=frame.x_range, fixedrange=True),
        yaxis=dict(visible=False, range=frame.y_range, fixedrange=True))
    return fig


def caption(record: StepRecord, token_text: ShowToken, width: int = 100) -> str:
    """Why a step verified the root alone, or what the prefill did: the step's account
    (``racer.inspect.explain``), the same sentences as the outcome and the narration, in short
    lines (a Plotly annotation does not wrap, and a long line is cut off at both sides)."""
    account = explain(record, quoter(token_text))
    said = [account.size.sentence] + [s.sentence for s in account.shortfalls]
    return "<br>".join(line for sentence in said for line in textwrap.wrap(sentence, width))


def _prefill_figure(record: StepRecord, token_text: ShowToken) -> go.Figure:
    """Prefill has no draft: one node, the first token the model chose."""
    if not record.emitted:
        return _note_figure("Prefill: the model read the prompt and stopped at once.")
    token = record.emitted[0]
    raw = token_text(token)
    text = visible_cut(visible(raw), 24)
    fig = go.Figure(_bonus_trace(Node(-1, token, -1, 0, BONUS, BONUS, None), (0, 0), raw, 20, True))
    fig.data[0].showlegend = True
    size = GLYPH_FONT_PX if is_glyph(raw) else FONT_PX   # the label clear of the star's points (y = 0.3)
    fig.add_trace(label_trace([Label(text, (0, 0, 0, 0))], [size], [True], [colour(BONUS)], lambda x, y: (0, 0.3)))
    fig.add_annotation(
        text=caption(record, token_text), x=0.5, y=0.15, xref="paper", yref="paper", showarrow=False,
        font=dict(size=13, color=palette.MUTED))
    fig.update_layout(height=MIN_HEIGHT, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor=palette.CLEAR,
                      paper_bgcolor=palette.CLEAR, showlegend=True,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left"),
                      xaxis=dict(visible=False, range=[-1, 1], fixedrange=True),
                      yaxis=dict(visible=False, range=[-1.5, 0.8], fixedrange=True))
    return fig


def _note_figure(text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color=palette.MUTED), align="center")
    fig.update_layout(height=MIN_HEIGHT, margin=dict(l=10, r=10, t=10, b=10),
                      plot_bgcolor=palette.CLEAR, paper_bgcolor=palette.CLEAR,
                      xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig


def tree_words_html(record: StepRecord | None, token_text: ShowToken) -> str:
    """The draft tree in words, the figure's text alternative (a screen reader reads it;
    the page hides it from sight): its size by source, the accepted path and the model's
    own token after it, then what was rejected and what was not reached."""
    if record is None:
        return "<p>Draft tree: no step yet.</p>"
    if record.tree is None:
        first = quoter(token_text)(record.emitted[:1]) if record.emitted else "nothing"
        return f"<p>Draft tree of step 0, the prefill: no draft; the model's first token is {first}.</p>"
    tree = record.unverified if record.unverified is not None and len(record.tree) == 1 else record.tree
    nodes = drawn_nodes(record) if tree is record.tree else []
    if not nodes:   # the adaptive budget verified the root alone: the proposal, greyed
        return (f"<p>Draft tree of step {record.index}: the drafter proposed {len(tree)} nodes, but the adaptive "
                f"budget verified the root alone, {quoter(token_text)([tree.tokens[0]])}.</p>")
    texts = tree_texts(token_text, [n.token for n in nodes], [n.parent for n in nodes])
    drafted = [n for n in nodes if n.source not in ("root", BONUS)]
    by_source = ", ".join(f"{sum(n.source == s for n in drafted)} {SOURCE_LABELS[s].split(' (')[0]}"
                          for s in SOURCES[1:] if any(n.source == s for n in drafted))
    said = [f"Draft tree of step {record.index}: the root {quoted(texts[0])} and {len(drafted)} drafted "
            f"node{'s' if len(drafted) != 1 else ''}{f' ({by_source})' if by_source else ''}."]
    path = [i for i in record.accepted if i > 0]
    said.append("Accepted: " + " → ".join(quoted(texts[i]) for i in path) + "." if path else
                "No drafted node was accepted.")
    if nodes[-1].source == BONUS:
        said.append(f"Then the model's own token {quoted(texts[-1])}.")
    for verdict, words in ((REJECTED, "Rejected"), (NOT_REACHED, "Not reached")):
        which = [quoted(texts[i]) for i, n in enumerate(nodes) if n.verdict == verdict]
        if which:
            more = f" and {len(which) - 8} more" if len(which) > 8 else ""
            said.append(f"{words}: {len(which)} ({', '.join(which[:8])}{more}).")
    return f"<p>{' '.join(said)}</p>"
