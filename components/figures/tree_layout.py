"""Where the draft tree's nodes go: the nodes drawn for one step (``drawn_nodes``),
their grid cells (``tree_layout``) and the grid in pixels (``Frame``). Pure data; the
figure is ``components.figures.tree``.

Layout (``tree_layout``): depth runs left to right, like the text; a first child
shares its parent's row, and the accepted child is always first. So the top row
reads, left to right, exactly what the step emitted: the root, the accepted drafts
and the model's own token after them. Other children take the next free rows of
their column, just below the node they branch from, so a 64-node tree stays compact
and its first level sits at the top.

The figure is sized in pixels for a plot at least ``PLOT_WIDTH_PX`` wide (the app's
tree column never gets narrower), so labels can be placed in pixels
(``components.figures.labels``).

Left out on purpose: networkx. The drafted tree is already a tree stored parents
first, so a two-pass layout (rows for leaves, then parents) is exact and tiny.
"""
from __future__ import annotations

from dataclasses import dataclass

from racer.engine.records import REJECTED, StepRecord
from racer.engine.sources import BONUS

PLOT_WIDTH_PX = 840  # the narrowest the tree's plotting area gets in the app (its column's min width)
MARGIN_PX = 10
LEGEND_PX = 54       # = legend_px(8): the legend (up to 8 entries) sits in the top margin, above the plot
TOP_ROOM_PX = 34     # above the top row: its labels
ROW_PX, MIN_ROW_PX = 38, 12   # vertical room per row: ideal, and the least before the figure grows
MAX_PLOT_PX = 350    # the plotting area grows to this before rows get closer (a 1440x900 screen, its card in view)
# The tree's card on the page, and the least height of every tree figure: a tree of up to
# 10 rows, a prefill or a note all fill it exactly, so the history slider and the tabs
# below never move from step to step (a taller tree scrolls inside the card).
CARD_PX = MAX_PLOT_PX + LEGEND_PX + MARGIN_PX
MIN_HEIGHT = CARD_PX


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
    evidence: object = None         # why it was drafted (racer.drafting.calibration.Evidence)


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
        nodes.append(Node(-1, bonus, last, tree.depths[last] + 1, BONUS, BONUS, None))
    return nodes


def tree_layout(parents: list[int], first: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, int]]:
    """(column, row) per node; parents come before children (index order).

    Children keep index order except that those in ``first`` go first. Nodes are
    placed depth first, each in its depth's column on the first free row at or below
    its parent's row: the first child shares its parent's row, and a sibling sits just
    below its earlier siblings' nodes in that column, near its parent, however many rows
    the subtrees before it take further right. Every column fills top down in the same
    depth-first order, so no two edges cross.

    >>> tree_layout([-1, 0, 0, 1])          # root, two children, a grandchild under 1
    [(0, 0), (1, 0), (1, 1), (2, 0)]
    >>> tree_layout([-1, 0, 0, 1], first={2})
    [(0, 0), (1, 1), (1, 0), (2, 1)]
    >>> tree_layout([-1, 0, 1, 1, 0])       # the root's second child right under its first
    [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1)]
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
    free: dict[int, int] = {}   # column -> its first free row
    stack = [i for i in range(n) if parents[i] < 0][::-1]
    while stack:  # iterative depth-first walk: a 64-deep chain must not recurse
        node = stack.pop()
        above = row[parents[node]] if parents[node] >= 0 else 0
        row[node] = max(above, free.get(depth[node], 0))
        free[depth[node]] = row[node] + 1
        stack.extend(reversed(kids[node]))
    return [(depth[i], row[i]) for i in range(n)]


@dataclass(frozen=True)
class Frame:
    """Where the grid of columns and rows lands in pixels, for a plot ``PLOT_WIDTH_PX``
    wide. Data coordinates: x = column, y = -row."""
    columns: int
    rows: int
    row_px: float
    plot_h: float
    legend_px: int = LEGEND_PX   # the top margin, which holds the legend

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
        return int(round(self.plot_h + self.legend_px + MARGIN_PX))

    def px(self, column: int, row: int) -> tuple[float, float]:
        """Pixel centre of a grid cell, from the plotting area's top left corner."""
        return (column + 0.6) * self.col_px, TOP_ROOM_PX + row * self.row_px

    def data(self, x: float, y: float) -> tuple[float, float]:
        """Data coordinates of a pixel (the inverse of ``px``, y = -row)."""
        return x / self.col_px - 0.6, -(y - TOP_ROOM_PX) / self.row_px

    @classmethod
    def fit(cls, columns: int, rows: int, extra_rows: int = 0, legend_px: int = LEGEND_PX) -> "Frame":
        """Rows as far apart as ``ROW_PX`` allows within ``MAX_PLOT_PX``, never closer than
        ``MIN_ROW_PX`` (then the figure grows); at least ``MIN_HEIGHT`` tall. ``legend_px``:
        the legend's height (``components.figures.labels.legend_px``), above the plot."""
        span = rows - 1 + 0.7 + extra_rows
        row_px = max(MIN_ROW_PX, min(ROW_PX, (MAX_PLOT_PX - TOP_ROOM_PX) / span))
        plot_h = max(TOP_ROOM_PX + span * row_px, MIN_HEIGHT - legend_px - MARGIN_PX)
        return cls(columns, rows, row_px, plot_h, legend_px)


def marker_px(row_px: float) -> float:
    """Diameter of a drafted node's marker: smaller as rows get closer."""
    return max(9.0, min(15.0, row_px * 0.5))

