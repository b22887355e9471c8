"""The automaton graph: built from the step record's plain view of the trie, drawn with
the matched path in bold, failure links dashed, counts on the nodes and the drafted
continuations in their source's colour."""
from __future__ import annotations

import json

import networkx as nx

from components.figures.automaton_layout import drafted_sources, trie_graph, trie_layout
from components.figures.automaton import automaton_figure
from components.figures.labels import legend_px
from components.figures.tokens import colour
from racer.drafting.automaton import Automaton
from racer.engine.records import ACCEPTED, REJECTED, AutomatonView, StepRecord
from racer.engine.settings import Settings
from racer.engine.tree import DraftTree
from racer.drafting.automaton import trie_view
from tests.test_components import prefill_record

TEXT = {1: " one", 2: " two", 3: ".", 4: " four"}


def text_of(token: int) -> str:
    return TEXT.get(token, f"t{token}")


def automaton_record() -> StepRecord:
    """window 3, context 1 2 3 1 2, root 3: borders (1,2,3) (a whole window) and (2,3),
    after which 1 followed: the tree drafts 1 from retrieval (accepted) and 4 from the
    logits cache (rejected)."""
    a = Automaton(window=3, capacity=100)
    a.reset([1, 2, 3, 1, 2])
    tree = DraftTree(tokens=(3, 1, 4), parents=(-1, 0, 0), depths=(0, 1, 1), sources=("root", "retrieval", "logits"))
    view = trie_view(a, 3, drafted=[(1,)])
    found = a.retrieve(3)
    return StepRecord(index=1, settings=Settings(window=3), tree=tree, verdicts=(ACCEPTED, ACCEPTED, REJECTED),
                      target_tokens=(1, 2, None), target_probs=(1.0, 0.9, 0.1), accepted=(0, 1), emitted=(1, 2),
                      emitted_sources=("retrieval", "bonus"), context_len=5, total_tokens=3, forwards=2,
                      automaton=AutomatonView(found.matched, found.borders, a.node_count, 100, trie=view), budget=3)


def test_the_graph_holds_trie_edges_and_failure_links():
    record = automaton_record()
    view = record.automaton.trie
    g = trie_graph(view)
    kinds = [k for _, _, k in g.edges(data="kind")]
    assert kinds.count("failure") == len(view.failures) > 0
    assert kinds.count("child") + kinds.count("elided") == len(view) - 1
    trie = nx.DiGraph((u, v) for u, v, k in g.edges(data="kind") if k != "failure")
    assert nx.is_arborescence(trie)   # without failure links it is a tree from the trie root
    assert {g.nodes[n]["count"] for n in g} >= {2}


def test_layout_puts_depths_in_columns_and_the_matched_path_on_top():
    view = automaton_record().automaton.trie
    path = view.path_to(view.borders[0])
    pos = trie_layout(trie_graph(view), path)
    assert all(pos[n][0] == view.depths[n] for n in pos)          # a column per string length
    assert all(pos[n][1] == 0 for n in path)                      # the matched path is the top row
    assert len(set(pos.values())) == len(pos)                     # no two nodes on one spot
    for n, p in enumerate(view.parents):                          # a parent sits on its first child's row
        if p >= 0 and min(c for c, q in enumerate(view.parents) if q == p) == n:
            assert pos[p][1] == pos[n][1]


def test_drafted_continuations_are_found_below_their_border():
    record = automaton_record()
    view = record.automaton.trie
    drafted = drafted_sources(view, record)
    assert len(drafted) == 1
    (node, source), = drafted.items()
    assert view.tokens[node] == 1 and view.parents[node] in view.borders and source == "retrieval"


def test_figure_draws_path_failures_counts_and_drafts():
    fig = automaton_figure(automaton_record(), text_of)
    by_name = {t.name: t for t in fig.data}
    assert by_name["matched path"].line.width >= 4
    assert by_name["failure link (→ longest suffix)"].line.dash == "dash"
    drafted = by_name["drafted by retrieval"]
    assert drafted.marker.color == colour("retrieval") and len(drafted.x) == 1
    texts = by_name["labels"].text
    # a node reads its whole string, not its last token: the drafted continuation "2 3 1",
    # and "1 2" apart from "2"; the state "3 1 2", shown without its upper path, starts with "…"
    assert "␣two.␣one" in texts and "␣one␣two" in texts and "␣two" in texts
    assert "…␣two" in texts
    assert not any("×" in t for t in texts)                   # the counts are in the hovers
    assert "trie root" in texts
    assert by_name["border: the root after a match"].marker.symbol == "diamond"
    legend = [t for t in fig.data if t.showlegend is not False and t.name]
    assert fig.layout.margin.t >= legend_px(len(legend))   # a taller legend would shift every label
    json.loads(fig.to_json())


def test_no_view_gives_a_note_saying_why():
    assert "prefill" in automaton_figure(prefill_record(), text_of).layout.annotations[0].text
    plain = automaton_record()
    plain = StepRecord(**{**plain.__dict__, "settings": Settings(drafter="logits"),
                          "automaton": AutomatonView()})
    assert "does not use the automaton" in automaton_figure(plain, text_of).layout.annotations[0].text
    assert automaton_figure(None, text_of).layout.annotations


def test_trace_round_trips_the_trie_view():
    from racer.inspect import trace as traces
    record = automaton_record()
    trace = traces.trace_dict([record], prompt="p", prompt_ids=[1], output_ids=[1, 2], final_text="x")
    assert traces.records_from_trace(traces.loads(traces.dumps(trace))) == [record]


def test_the_draft_tree_as_node_link_json():
    from racer.inspect.trace import tree_node_link
    record = automaton_record()
    data = json.loads(json.dumps(tree_node_link(record, text_of)))
    g = nx.node_link_graph(data, edges="edges")
    assert sorted(g.edges) == [(0, 1), (0, 2)] and g.graph["step"] == 1 and g.graph["bonus"] == 2
    assert g.nodes[1].items() >= {"token": 1, "text": " one", "source": "retrieval", "verdict": "accepted",
                                  "accepted": True, "depth": 1}.items()
    assert g.nodes[2]["verdict"] == "rejected" and not g.nodes[2]["accepted"]
    assert tree_node_link(prefill_record())["nodes"] == []


def one_token_match_record() -> StepRecord:
    """window 4, context 10 11 12 5, root 10: the context's end (5) never came before
    10, but 10 itself did, followed by 11 12: retrieval drafts 11 12 from the root
    token alone (a 1-token match)."""
    a = Automaton(window=4, capacity=100)
    a.reset([10, 11, 12, 5])
    found = a.retrieve(10)
    tree = DraftTree(tokens=(10, 11, 12), parents=(-1, 0, 1), depths=(0, 1, 2),
                     sources=("root", "retrieval", "retrieval"))
    view = trie_view(a, 10, drafted=[(11,), (11, 12)])
    return StepRecord(index=1, settings=Settings(window=4), tree=tree, verdicts=(ACCEPTED, ACCEPTED, REJECTED),
                      target_tokens=(11, 9, None), target_probs=(1.0, 0.9, 0.1), accepted=(0, 1), emitted=(11, 9),
                      emitted_sources=("retrieval", "bonus"), context_len=4, total_tokens=3, forwards=2,
                      automaton=AutomatonView(found.matched, found.borders, a.node_count, 100,
                                              offered=((11, 0.5),), trie=view), budget=3, proposed=3)


def test_a_one_token_match_draws_the_roots_own_node_and_its_drafts_in_retrievals_colour():
    record = one_token_match_record()
    view = record.automaton.trie
    assert not view.borders and view.alone >= 0 and view.tokens[view.alone] == 10
    assert set(drafted_sources(view, record).values()) == {"retrieval"}
    fig = automaton_figure(record, text_of)
    by_name = {t.name: t for t in fig.data}
    assert len(by_name["drafted by retrieval"].x) == 2
    assert by_name["drafted by retrieval"].marker.color == colour("retrieval")
    assert by_name["the root alone: a 1-token match"].marker.symbol == "diamond"
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "nothing to draft" not in notes and "1-token match" in notes
    for a in fig.layout.annotations:   # notes sit below the plot, in the margin, off every node and label
        assert a.yref == "paper" and a.y <= 0 and a.yanchor == "top"
