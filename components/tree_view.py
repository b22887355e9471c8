"""The draft tree of one step as a Plotly figure.

Layout (``tree_layout``): depth runs left to right, like the text; every leaf gets
its own row; a parent sits on the row of its first child, and the accepted child is
always first. So the top row reads, left to right, exactly what the step emitted:
the root, the accepted drafts and the model's own token after them. Rejected
siblings hang below the node they branch from.

Left out on purpose: networkx. The drafted tree is already a tree stored parents
first, so a two-pass layout (rows for leaves, then parents) is exact and tiny.
"""
from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass

import plotly.graph_objects as go

from racer.explain import explain
from racer.records import ACCEPTED, REJECTED, StepRecord

from .tokens import SOURCE_STYLE, TokenText, colour, label, quoter

ROW_PX = 36          # vertical room per row: a marker plus its label above it
LEGEND_PX = 70       # the legend (up to three lines) sits above the plotting area
MIN_HEIGHT = 260
REJECT_COLOUR = "#D55E00"
FADED = 0.3


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


def tree_figure(record: StepRecord | None, token_text: TokenText) -> go.Figure:
    """The figure of one step's draft tree (a short note for prefill / no step)."""
    if record is None:
        return _note_figure("No step yet: press Step or Run to draft and verify a tree.")
    if record.tree is None:
        return _prefill_figure(record, token_text)
    nodes = drawn_nodes(record)
    emitted_bonus = len(record.emitted) == len(record.accepted)
    first = set(record.accepted)
    if nodes[-1].source == "bonus":
        first.add(len(nodes) - 1)
    pos = tree_layout([n.parent for n in nodes], first)
    columns = max(c for c, _ in pos) + 1
    rows = max(r for _, r in pos) + 1
    limit = max(3, min(14, 120 // columns))  # label characters that fit a column

    fig = go.Figure()
    _add_edges(fig, nodes, pos)
    for source in ("root", "retrieval", "logits", "both"):
        members = [i for i, n in enumerate(nodes) if n.source == source]
        if members:
            fig.add_trace(_node_trace(nodes, pos, members, source, token_text, limit))
    rejected = [i for i, n in enumerate(nodes) if n.verdict == REJECTED]
    if rejected:
        fig.add_trace(go.Scatter(
            x=[pos[i][0] for i in rejected], y=[-pos[i][1] for i in rejected], mode="markers",
            marker=dict(symbol="x-thin", size=16, line=dict(width=2.5, color=REJECT_COLOUR)),
            name="rejected by the model", hoverinfo="skip"))
    if nodes[-1].source == "bonus":
        fig.add_trace(_bonus_trace(nodes[-1], pos[-1], token_text, limit, emitted_bonus))

    if len(record.tree) == 1:
        note = caption(record, token_text)
        fig.add_annotation(text=note, x=0.5, y=0.02, xref="paper", yref="paper",
                           showarrow=False, font=dict(size=13, color="#555555"))
        rows += note.count("<br>") + 1  # room for the note
    height = max(MIN_HEIGHT, ROW_PX * rows + 60 + LEGEND_PX)
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
        paper_bgcolor="white", hovermode="closest", dragmode=False,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left",
                    font=dict(size=12)),
        xaxis=dict(visible=False, range=[-0.6, columns - 0.4], fixedrange=True),
        yaxis=dict(visible=False, range=[-rows + 0.4, 0.9], fixedrange=True),
    )
    return fig


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
                                 line=dict(color="#c8c8c8", width=1.5), showlegend=False))
    if bold_x:
        fig.add_trace(go.Scatter(x=bold_x, y=bold_y, mode="lines", hoverinfo="skip",
                                 line=dict(color="#111111", width=5), name="accepted path"))
    bonus = nodes[-1]
    if bonus.source == "bonus":
        (x0, y0), (x1, y1) = pos[bonus.parent], pos[len(nodes) - 1]
        fig.add_trace(go.Scatter(x=[x0, x1], y=[-y0, -y1], mode="lines", hoverinfo="skip",
                                 line=dict(color=colour("bonus"), width=3, dash="dot"),
                                 showlegend=False))


def _node_trace(nodes, pos, members, source, token_text: TokenText, limit: int) -> go.Scatter:
    texts, hovers, opacity, outline, text_colour = [], [], [], [], []
    for i in members:
        n = nodes[i]
        raw = token_text(n.token)
        shown = label(raw, limit)
        accepted = n.verdict == ACCEPTED
        texts.append(f"<b>{shown}</b>" if accepted else shown)
        opacity.append(1.0 if accepted else FADED)
        outline.append(3 if accepted else 1)
        text_colour.append("#111111" if accepted else "#9a9a9a")
        hovers.append(hover_text(n, raw))
    size = 20 if source == "root" else 15
    return go.Scatter(
        x=[pos[i][0] for i in members], y=[-pos[i][1] for i in members],
        mode="markers+text", text=texts, textposition="top center",
        textfont=dict(size=12, color=text_colour),
        marker=dict(size=size, color=colour(source), opacity=opacity,
                    symbol="square" if source == "root" else "circle",
                    line=dict(width=outline, color="#111111")),
        hovertext=hovers, hovertemplate="%{hovertext}<extra></extra>",
        name=SOURCE_STYLE[source][1])


VERDICT_WORDS = {"accepted": "accepted", "rejected": "rejected (the model chose otherwise here)",
                 "not_reached": "not reached (an ancestor was rejected)"}


def hover_text(node: Node, raw: str) -> str:
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


def _bonus_trace(node: Node, xy, token_text: TokenText, limit: int, emitted: bool) -> go.Scatter:
    raw = token_text(node.token)
    note = ("emitted; it is the root of the next step" if emitted
            else "not emitted: the generation stopped first")
    return go.Scatter(
        x=[xy[0]], y=[-xy[1]], mode="markers+text", text=[f"<b>{label(raw, limit)}</b>"],
        textposition="top center", textfont=dict(size=12, color=colour("bonus")),
        marker=dict(size=20, symbol="star", color=colour("bonus"), line=dict(width=1, color="#111111")),
        hovertext=[f"<b>{label(raw, 40)}</b><br>token id {node.token}<br>the model's own token "
                   f"after the accepted path<br>{note}"],
        hovertemplate="%{hovertext}<extra></extra>", name="the model's own token (next root)")


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
    fig = go.Figure(_bonus_trace(Node(-1, token, -1, 0, "bonus", "bonus", None), (0, 0),
                                 token_text, 24, True))
    fig.add_annotation(
        text=caption(record, token_text), x=0.5, y=0.15, xref="paper", yref="paper", showarrow=False,
        font=dict(size=13, color="#555555"))
    fig.update_layout(height=MIN_HEIGHT, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      paper_bgcolor="white", showlegend=True,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left"),
                      xaxis=dict(visible=False, range=[-1, 1], fixedrange=True),
                      yaxis=dict(visible=False, range=[-1.5, 0.8], fixedrange=True))
    return fig


def _note_figure(text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color="#555555"), align="center")
    fig.update_layout(height=MIN_HEIGHT, margin=dict(l=10, r=10, t=10, b=10),
                      plot_bgcolor="white", paper_bgcolor="white",
                      xaxis=dict(visible=False), yaxis=dict(visible=False))
    return fig
