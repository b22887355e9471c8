"""Where the automaton figure's nodes go: the step's ``TrieView`` as a networkx graph
(``trie_graph``), its grid cells (``trie_layout``) and which nodes stand for drafted
tree nodes (``drafted_sources``). Pure data; the figure is
``components.figures.automaton``.
"""
from __future__ import annotations

import networkx as nx

from racer.engine.records import StepRecord
from racer.engine.tree import BOTH, RETRIEVAL
from racer.drafting.automaton import TrieView


def trie_graph(view: TrieView) -> nx.MultiDiGraph:
    """The view as a graph: node attributes token, count, depth; edges of kind
    "child" (parent -> child), "elided" (trie root -> a node shown without its upper
    path) and "failure" (node -> its longest proper suffix in the trie).

    >>> from racer.drafting.automaton import Automaton
    >>> from racer.drafting.automaton import trie_view
    >>> a = Automaton(window=3, capacity=100); a.reset([1, 2, 3, 1, 2])
    >>> g = trie_graph(trie_view(a, 3))
    >>> sorted(k for _, _, k in g.edges(data="kind"))[:3], g.nodes[0]["depth"]
    (['child', 'child', 'child'], 0)
    """
    g = nx.MultiDiGraph()
    for i in range(len(view)):
        g.add_node(i, token=view.tokens[i], count=view.counts[i], depth=view.depths[i])
    for i, p in enumerate(view.parents):
        if i == 0:
            continue
        g.add_edge(p if p >= 0 else 0, i, kind="child" if p >= 0 else "elided")
    for node, target in view.failures:
        g.add_edge(node, target, kind="failure")
    return g


def trie_layout(g: nx.MultiDiGraph, first: list[int]) -> dict[int, tuple[int, int]]:
    """(column, row) per node: the column is the string's length; rows come from a
    depth-first walk of networkx (children of the matched path ``first`` first):
    each leaf takes the next row, a parent its first child's. A node shown without its
    upper path starts a piece of its own, put in the first rows where its cells are
    free, so the context's suffixes (one node each, at different depths) share a row.

    (``nx.multipartite_layout`` centres each column on its own, which crossed the edges.)
    """
    tree = nx.DiGraph((u, v) for u, v, kind in g.edges(data="kind") if kind == "child")
    tree.add_nodes_from(g.nodes)
    depth = nx.get_node_attributes(g, "depth")
    lead = set(first)

    def children(nodes):
        return sorted(nodes, key=lambda k: (k not in lead, k))

    pieces = [0] + [n for n in sorted(g.nodes) if n and tree.in_degree(n) == 0]
    taken: set[tuple[int, int]] = set()
    out: dict[int, tuple[int, int]] = {}
    for top in pieces:
        rows: dict[int, int] = {}
        leaves = 0
        for node in nx.dfs_postorder_nodes(tree, top, sort_neighbors=children):
            kids = children(tree.successors(node))
            if kids:
                rows[node] = rows[kids[0]]
            else:
                rows[node] = leaves
                leaves += 1
        shift = 0
        while any((depth[n], r + shift) in taken for n, r in rows.items()):
            shift += 1
        for n, r in rows.items():
            out[n] = (depth[n], r + shift)
            taken.add(out[n])
    return out


def drafted_sources(view: TrieView, record: StepRecord) -> dict[int, str]:
    """View node -> the source of the draft-tree node it stands for: a node below a
    border whose tokens after the border spell a retrieval (or both) node's path."""
    tree = record.tree
    if tree is None:
        return {}
    wanted: dict[tuple[int, ...], str] = {}
    for i in range(1, len(tree)):
        if tree.sources[i] in (RETRIEVAL, BOTH):
            wanted[tuple(tree.tokens[j] for j in tree.path_to(i)[1:])] = tree.sources[i]
    borders = set(view.borders) | ({view.alone} if view.alone >= 0 else set())   # where drafts hang
    found = {}
    for node in range(len(view)):
        tokens, up = [], node
        while up >= 0 and up not in borders:
            tokens.append(view.tokens[up])
            up = view.parents[up]
        if up >= 0 and tokens:
            source = wanted.get(tuple(reversed(tokens)))
            if source:
                found[node] = source
    return found
