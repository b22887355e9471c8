"""The draft tree figure: colours by source whatever the verdict, rejection as a shape,
readable glyphs, and labels that never land on a marker or on each other."""
from __future__ import annotations

import html
import json
import random
import re

import plotly.graph_objects as go
import pytest

from components.figures.charts import mask_figure
from components.figures.labels import FONT_PX, GLYPH_FONT_PX, label_height, legend_px, place_labels, text_width
from components.figures.tokens import colour, is_glyph, visible
from components.figures.tree_layout import MARGIN_PX, MAX_PLOT_PX, PLOT_WIDTH_PX, Frame, tree_layout
from components.figures.tree import REJECTED_SYMBOL, STAR_REACH, tree_figure
from racer import palette
from racer.engine import sources
from racer.engine.records import ACCEPTED, NOT_REACHED, REJECTED, StepRecord
from racer.engine.settings import Settings
from racer.engine.tree import DraftTree
from tests.test_components import hand_record, text_of


def node_traces(fig: go.Figure) -> list[go.Scatter]:
    """The traces that draw nodes (legend-only entries have no points)."""
    return [t for t in fig.data if isinstance(t, go.Scatter) and t.mode and "markers" in t.mode
            and t.x and t.x[0] is not None]


def legend_entries(fig: go.Figure) -> dict[str, go.Scatter]:
    return {t.name: t for t in fig.data if t.x == (None,) and t.showlegend is not False}


def points(fig: go.Figure) -> list[dict]:
    """Every drawn node as a dict: x, y, symbol, size, colour, name."""
    out = []
    for t in node_traces(fig):
        n = len(t.x)
        def each(v):
            return list(v) if isinstance(v, (list, tuple)) else [v] * n
        for x, y, sym, size in zip(t.x, t.y, each(t.marker.symbol), each(t.marker.size)):
            out.append(dict(x=x, y=y, symbol=sym or "circle", size=size, colour=t.marker.color, name=t.name))
    return out


def labels(fig: go.Figure) -> list[dict]:
    """Every label as a dict: text (as drawn, maybe bold), plain (as read), x, y, font."""
    trace = next(t for t in fig.data if t.name == "labels")
    return [dict(text=text, plain=html.unescape(re.sub(r"</?b>", "", text)), x=x, y=y, font=font)
            for text, x, y, font in zip(trace.text, trace.x, trace.y, trace.textfont.size)]


def bushy_record(n: int = 64, fanout: int = 3) -> StepRecord:
    """A tree of n nodes, each with ``fanout`` children, sources cycling; the root, its
    first child and that one's first child accepted."""
    accepted = (0, 1, fanout + 1)
    parents = [-1] + [(i - 1) // fanout for i in range(1, n)]
    depths = [0] * n
    for i in range(1, n):
        depths[i] = depths[parents[i]] + 1
    tree = DraftTree(tuple(range(100, 100 + n)), tuple(parents), tuple(depths),
                     ("root",) + tuple(("retrieval", "logits", "both")[i % 3] for i in range(1, n)))
    verdicts = tuple(ACCEPTED if i in accepted else REJECTED if parents[i] in accepted else NOT_REACHED
                     for i in range(n))
    return StepRecord(index=1, settings=Settings(budget=n), tree=tree, verdicts=verdicts,
                      target_tokens=tuple(7 if i == accepted[-1] else (tree.tokens[i + 1] if i in accepted else None)
                                          for i in range(n)),
                      target_probs=(0.5,) * n, accepted=tuple(accepted),
                      emitted=tuple(tree.tokens[i] for i in accepted[1:]) + (7,),
                      emitted_sources=tuple(tree.sources[i] for i in accepted[1:]) + ("bonus",),
                      context_len=10, total_tokens=4, forwards=2, budget=n)


def chain_record(n: int = 64) -> StepRecord:
    """A single 63-deep chain (the authors' depth 64), the first 5 drafts accepted."""
    tree = DraftTree(tuple(range(200, 200 + n)), (-1,) + tuple(range(n - 1)), tuple(range(n)),
                     ("root",) + ("retrieval",) * (n - 1))
    acc = tuple(range(6))
    verdicts = tuple(ACCEPTED if i < 6 else REJECTED if i == 6 else NOT_REACHED for i in range(n))
    return StepRecord(index=2, settings=Settings(budget=n, depth=64), tree=tree, verdicts=verdicts,
                      target_tokens=tuple(tree.tokens[i + 1] if i < 5 else 9 if i == 5 else None for i in range(n)),
                      target_probs=(0.5,) * n, accepted=acc, emitted=tree.tokens[1:6] + (9,),
                      emitted_sources=("retrieval",) * 5 + ("bonus",), context_len=10, total_tokens=7,
                      forwards=3, budget=n)


def spaced_text(token: int) -> str:
    """Long words and glyphs mixed, as real text is."""
    return {0: " ", 1: ".", 2: "\n", 3: ","}.get(token % 7, f" token{token}word")


# -- colour and shape ---------------------------------------------------------------

def test_every_node_keeps_its_source_colour_whatever_its_verdict():
    record = hand_record()
    fig = tree_figure(record, text_of)
    drawn = points(fig)
    assert len(drawn) == len(record.tree) + 1  # seven tree nodes and the bonus star
    by_source = {"root (already committed)": "root", "retrieval (automaton)": "retrieval",
                 "logits cache": "logits", "both sources": "both", "the model's own token": "bonus"}
    for p in drawn:
        assert p["colour"] == colour(by_source[p["name"]])
    for t in node_traces(fig):
        assert t.marker.opacity in (None, 1.0)  # nothing faded: a pale blue read as a pale green
    retrieval = [p for p in drawn if p["name"] == "retrieval (automaton)"]
    assert [p["symbol"] for p in retrieval] == ["circle", REJECTED_SYMBOL, "circle"]  # accepted, rejected, not reached


def test_rejection_is_a_shape_no_source_uses():
    fig = tree_figure(hand_record(), text_of)
    drawn = points(fig)
    rejected = [p for p in drawn if p["symbol"] == REJECTED_SYMBOL]
    assert len(rejected) == 3  # nodes 13, 16, 14
    assert {p["name"] for p in rejected} == {"logits cache", "retrieval (automaton)"}
    legend = legend_entries(fig)
    for name, entry in legend.items():
        if "rejected" not in name and "not reached" not in name:
            assert entry.marker.symbol != REJECTED_SYMBOL
    crossed = next(e for n, e in legend.items() if "rejected" in n)
    assert crossed.marker.symbol == REJECTED_SYMBOL and crossed.marker.color == palette.PAPER
    assert palette.PAPER not in sources.COLOURS.values()


def test_accepted_path_is_bold_and_on_the_top_row():
    fig = tree_figure(hand_record(), text_of)
    path = [t for t in fig.data if t.name == "accepted path"]
    assert len(path) == 1 and path[0].line.width >= 4
    assert [x for x in path[0].x if x is not None] == [0, 1, 1, 2]  # 10->11 and 11->12
    assert all(y == 0 for y in path[0].y if y is not None)
    bold = {lab["plain"] for lab in labels(fig) if lab["text"].startswith("<b>")}
    assert bold == {"The", "␣cat", "␣sat", "␣mat"}  # the accepted path and the model's token, and only they
    star = next(p for p in points(fig) if p["symbol"] == "star")
    assert star["y"] == 0 and star["x"] == 3


def test_whitespace_and_punctuation_get_large_glyphs():
    fig = tree_figure(hand_record(), text_of)   # token 15 is "\n"
    newline = next(lab for lab in labels(fig) if lab["plain"] == "↵")
    word = next(lab for lab in labels(fig) if lab["plain"] == "␣cat")
    assert newline["font"] == GLYPH_FONT_PX > word["font"] == FONT_PX
    assert is_glyph(" ") and is_glyph(",") and is_glyph("\n") and not is_glyph(" a")


# -- labels ------------------------------------------------------------------------------

def label_boxes(fig: go.Figure) -> tuple[list, list, tuple]:
    """(label boxes, marker boxes, plotting area) in pixels, recomputed from the figure
    alone, for a plot PLOT_WIDTH_PX wide."""
    lay = fig.layout
    x0, x1 = lay.xaxis.range
    y0, y1 = lay.yaxis.range
    plot_h = lay.height - lay.margin.t - lay.margin.b
    sx, sy = PLOT_WIDTH_PX / (x1 - x0), plot_h / (y1 - y0)
    boxes, markers = [], []
    for p in points(fig):
        x, y = (p["x"] - x0) * sx, (y1 - p["y"]) * sy
        r = p["size"] / 2 * (STAR_REACH if p["symbol"] == "star" else 1.0)
        markers.append((x - r, y - r, x + r, y + r))
    for lab in labels(fig):
        x, y = (lab["x"] - x0) * sx, (y1 - lab["y"]) * sy
        w, h = text_width(lab["plain"], lab["font"]), label_height(lab["font"])
        boxes.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
    return boxes, markers, (0, 0, PLOT_WIDTH_PX, plot_h)


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("case", ["hand", "bushy-64", "bushy-64-wide", "chain-64"])
def test_labels_never_overlap_markers_or_each_other(case):
    if case == "hand":
        fig = tree_figure(hand_record(), text_of)
    elif case == "chain-64":
        fig = tree_figure(chain_record(), spaced_text)
    else:
        record = bushy_record(64, fanout=3 if case == "bushy-64" else 8)
        fig = tree_figure(record, spaced_text)
    boxes, markers, area = label_boxes(fig)
    assert boxes, "no label at all"
    slack = 1e-6
    for i, a in enumerate(boxes):
        assert area[0] - slack <= a[0] and a[2] <= area[2] + slack and area[1] - slack <= a[1] and a[3] <= area[3] + slack
        assert not any(overlaps(a, m) for m in markers)
        assert not any(overlaps(a, b) for b in boxes[i + 1:])
    for i, a in enumerate(markers):  # markers do not touch either
        assert not any(overlaps(a, b) for b in markers[i + 1:])


def test_a_dense_tree_thins_its_labels_and_says_so():
    record = bushy_record(64, fanout=8)
    fig = tree_figure(record, spaced_text)
    drawn, shown = points(fig), labels(fig)
    assert len(drawn) == 65 and len(shown) < len(drawn)
    note = fig.layout.annotations[-1].text
    assert f"{len(drawn) - len(shown)} of 65 labels left out" in note
    # the top row (what the step emitted: three nodes and the model's token) keeps its labels
    assert sum(lab["text"].startswith("<b>") for lab in shown) == 4
    chain = tree_figure(chain_record(), spaced_text)
    assert len(node_traces(chain)) >= 1 and chain.layout.height <= 460
    json.loads(fig.to_json())  # serialises for the browser


def test_a_small_tree_labels_every_node():
    fig = tree_figure(hand_record(), text_of)
    assert len(labels(fig)) == len(points(fig)) == 8
    assert not fig.layout.annotations


def test_place_labels_shortens_before_it_gives_up():
    got = place_labels([(20, 50), (60, 50)], [6, 6], ["ab", "abcdefghij"], [12, 12], [0, 1], (0, 0, 80, 100))
    assert [g.text for g in got] == ["ab", "ab…"]
    crowded = place_labels([(10, 30), (14, 30)], [6, 6], ["x", "y"], [12, 12], [0, 1], (0, 0, 30, 40))
    assert crowded[0] is not None and crowded[1] is None   # the first choice wins; the other has no room
    assert visible(" a") == "␣a"


def test_rows_shrink_to_fit_the_screen_before_the_figure_grows():
    small, mid, big = Frame.fit(5, 3), Frame.fit(12, 20), Frame.fit(12, 60)
    assert small.height >= 260 and mid.height <= 460
    assert small.row_px > mid.row_px >= big.row_px >= 12
    assert big.height > 460  # 60 rows cannot fit without crushing the markers
    record = bushy_record(64, fanout=3)
    assert mask_figure(record, text_of).layout.height > 600
    assert MARGIN_PX >= 0


def test_the_top_margin_holds_the_legend():
    fig = tree_figure(bushy_record(64, fanout=3), spaced_text)
    entries = [t for t in fig.data if t.showlegend is not False and t.name]
    assert len(entries) <= 8 and fig.layout.margin.t >= legend_px(len(entries))
    assert legend_px(4) < legend_px(5) < legend_px(9)


def unique_text(token: int) -> str:
    return f"w{token}"


def pixel_geometry(fig: go.Figure):
    """(node token -> pixel centre, label text -> pixel centre) of a tree figure."""
    lay = fig.layout
    sx = PLOT_WIDTH_PX / (lay.xaxis.range[1] - lay.xaxis.range[0])
    sy = (lay.height - lay.margin.t - lay.margin.b) / (lay.yaxis.range[1] - lay.yaxis.range[0])
    def px(x, y):
        return (x - lay.xaxis.range[0]) * sx, (lay.yaxis.range[1] - y) * sy
    nodes = {}
    for t in node_traces(fig):
        for x, y, hover in zip(t.x, t.y, t.hovertext):
            nodes[int(re.search(r"token id (\d+)", hover).group(1))] = px(x, y)
    return nodes, {lab["plain"]: px(lab["x"], lab["y"]) for lab in labels(fig)}


def random_record(seed: int) -> StepRecord:
    """A random tree of 4 to 24 nodes (each node's parent drawn among the earlier ones),
    the root's first child accepted."""
    rnd = random.Random(seed)
    n = rnd.choice([4, 6, 8, 12, 16, 24])
    parents = [-1] + [rnd.randrange(0, i) for i in range(1, n)]
    depths = [0] * n
    for i in range(1, n):
        depths[i] = depths[parents[i]] + 1
    tree = DraftTree(tuple(range(100, 100 + n)), tuple(parents), tuple(depths), ("root",) + ("logits",) * (n - 1))
    acc = (0, 1)
    verdicts = tuple(ACCEPTED if i in acc else REJECTED if parents[i] in acc else NOT_REACHED for i in range(n))
    return StepRecord(index=1, settings=Settings(budget=n), tree=tree, verdicts=verdicts,
                      target_tokens=tuple(101 if i == 0 else 7 if i == 1 else None for i in range(n)),
                      target_probs=(0.5,) * n, accepted=acc, emitted=(101, 7), emitted_sources=("logits", "bonus"),
                      context_len=10, total_tokens=4, forwards=2, budget=n)


@pytest.mark.parametrize("seed", [68, 157, 163, 196, *range(8)])
def test_no_label_of_a_random_tree_sits_nearer_another_node(seed):
    nodes, placed = pixel_geometry(tree_figure(random_record(seed), unique_text))
    for text, (lx, ly) in placed.items():
        nearest = min(nodes, key=lambda t: (nodes[t][0] - lx) ** 2 + (nodes[t][1] - ly) ** 2)
        assert unique_text(nearest) == text, (text, unique_text(nearest))


@pytest.mark.parametrize("record", [hand_record(), bushy_record(64, fanout=3), bushy_record(64, fanout=8),
                                    bushy_record(24, fanout=4), chain_record(20)], ids=["hand", "64x3", "64x8",
                                                                                      "24x4", "chain"])
def test_every_label_is_nearest_the_node_it_names(record):
    nodes, placed = pixel_geometry(tree_figure(record, unique_text))
    assert placed
    for text, (lx, ly) in placed.items():
        nearest = min(nodes, key=lambda t: (nodes[t][0] - lx) ** 2 + (nodes[t][1] - ly) ** 2)
        assert unique_text(nearest) == text, (text, unique_text(nearest))


@pytest.mark.parametrize("fanout", [3, 8])
def test_a_64_node_tree_shows_its_accepted_path_and_first_level_at_the_top(fanout):
    """At 1440x900 the plot's first MAX_PLOT_PX pixels are above the fold; the accepted
    path and every child of the root are drawn there, the root's children right
    under one another (near their parent), not below the deeper subtrees."""
    record = bushy_record(64, fanout=fanout)
    fig = tree_figure(record, unique_text)
    nodes, _ = pixel_geometry(fig)
    tree = record.tree
    first_level = [tree.tokens[i] for i in range(1, len(tree)) if tree.parents[i] == 0]
    shown = [tree.tokens[i] for i in record.accepted] + first_level
    assert all(nodes[t][1] <= MAX_PLOT_PX for t in shown)
    ys = sorted(nodes[t][1] for t in first_level)
    gaps = {round(b - a, 3) for a, b in zip(ys, ys[1:])}
    assert len(gaps) == 1   # one row apart each: siblings stacked under their parent, nothing between


def test_siblings_sit_just_below_their_first_sibling_not_after_its_subtree():
    rows = [r for _, r in tree_layout([-1, 0, 1, 1, 1, 2, 2, 0, 0])]
    assert rows[7] == 1 and rows[8] == 2   # the root's later children: rows 1 and 2 of column 1


@pytest.mark.parametrize("fanout", [3, 8])
def test_a_64_node_tree_labels_a_third_of_its_nodes_or_more(fanout):
    """Leaves take labels on their right, where no edge runs: packed rows leave no room
    above or below them (issue 14: half the labels were dropped)."""
    fig = tree_figure(bushy_record(64, fanout=fanout), unique_text)
    assert 3 * len(labels(fig)) >= len(points(fig))
