"""A run as JSON: settings, every step record and the final text.

Pure serialisation, no I/O: ``trace_dict`` builds a JSON-ready dict, ``dumps`` /
``loads`` turn it into text and back, and ``records_from_trace`` rebuilds the
``StepRecord`` objects, equal to the originals (``loads(dumps(t))`` round-trips).

``tree_node_link`` gives one step's draft tree as networkx node-link JSON, for tools
that read graphs.

Fields are read with ``dataclasses.fields``, so a field added to a record later is
saved and restored without touching this file. Token texts are added for people
reading the file (``emitted_text``) and ignored when loading.
"""
from __future__ import annotations

import json
from dataclasses import asdict, fields, is_dataclass
from typing import Callable, Sequence

import networkx as nx

from racer.drafting.calibration import Evidence
from racer.errors import UserError
from racer.engine.records import AutomatonView, StepRecord, Timings
from racer.engine.settings import Settings
from racer.engine.tree import DraftTree
from racer.drafting.automaton import TrieView

FORMAT = "racer-explorer-trace/1"
_NESTED = {"settings": Settings, "tree": DraftTree, "unverified": DraftTree, "timings": Timings, "automaton": AutomatonView,
           "trie": TrieView}
_NESTED_EACH = {"evidence": Evidence}  # tuples of these (None where a node has none)


def _json_value(obj):
    """What ``json`` cannot write itself: a dataclass (a node's Evidence) as a dict, a
    numpy scalar as a Python number."""
    if is_dataclass(obj):
        return asdict(obj)
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _plain(obj) -> dict:
    """A frozen dataclass as a dict of JSON values (tuples become lists)."""
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in _NESTED and value is not None:
            value = _plain(value)
        elif isinstance(value, tuple):
            value = json.loads(json.dumps(value, default=_json_value))  # nested tuples -> nested lists
        out[f.name] = value
    return out


def _tuples(value):
    """Lists (nested too) back to tuples, as the frozen records hold them."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _build(cls, data: dict):
    known = {f.name for f in fields(cls)}
    kwargs = {}
    for name, value in data.items():
        if name not in known:
            continue  # e.g. emitted_text, written for readers only
        if name in _NESTED and value is not None:
            value = _build(_NESTED[name], value)
        elif name in _NESTED_EACH and value is not None:
            value = tuple(None if v is None else _build(_NESTED_EACH[name], v) for v in value)
        else:
            value = _tuples(value)
        kwargs[name] = value
    return cls(**kwargs)


def record_to_dict(record: StepRecord, token_text: Callable[[int], str] | None = None) -> dict:
    data = _plain(record)
    if token_text is not None:
        data["emitted_text"] = [token_text(t) for t in record.emitted]
    return data


def record_from_dict(data: dict) -> StepRecord:
    return _build(StepRecord, data)


def trace_dict(records: Sequence[StepRecord], *, prompt: str, prompt_ids: Sequence[int],
               output_ids: Sequence[int], final_text: str, model: str = "",
               token_text: Callable[[int], str] | None = None, extra: dict | None = None) -> dict:
    """Everything needed to read a run back: the settings it started with, every step
    record kept (``steps_dropped`` counts older ones a capped history left out)."""
    first_index = records[0].index if records else 0
    return {
        "format": FORMAT,
        "model": model,
        "prompt": prompt,
        "prompt_ids": list(prompt_ids),
        "settings": _plain(records[0].settings) if records else None,
        "steps_dropped": first_index,
        "steps": [record_to_dict(r, token_text) for r in records],
        "output_ids": list(output_ids),
        "final_text": final_text,
        **(extra or {}),
    }


def dumps(trace: dict) -> str:
    return json.dumps(trace, ensure_ascii=False, indent=1)


def loads(text: str) -> dict:
    trace = json.loads(text)
    if trace.get("format") != FORMAT:
        raise UserError(f"not a RACER Explorer trace (format {trace.get('format')!r}, expected {FORMAT!r})")
    return trace


def records_from_trace(trace: dict) -> list[StepRecord]:
    return [record_from_dict(step) for step in trace["steps"]]


def draft_tree_graph(record: StepRecord, token_text: Callable[[int], str] | None = None) -> nx.DiGraph:
    """The step's draft tree as a directed graph, parent -> child, node ids the tree's
    indices (0 = the root). Node attributes: token, source, depth, verdict,
    target_prob, estimate (None without one), accepted (on the accepted path) and,
    with ``token_text``, text. Graph attributes: step, bonus (the model's own token
    after the accepted path). An empty graph for the prefill.

    root 5 -> children 7 (accepted), 8 (rejected): nodes 0, 1, 2; edges (0, 1), (0, 2).
    """
    bonus = record.bonus
    g = nx.DiGraph(step=record.index, bonus=None if bonus is None else int(bonus))
    tree = record.tree
    if tree is None:
        return g
    on_path = set(record.accepted)
    for i in range(len(tree)):   # plain Python numbers, so json.dumps takes the node-link data as it is
        attrs = dict(token=int(tree.tokens[i]), source=tree.sources[i], depth=int(tree.depths[i]),
                     verdict=record.verdicts[i] if i < len(record.verdicts) else None,
                     target_prob=float(record.target_probs[i]) if i < len(record.target_probs) else None,
                     estimate=float(tree.estimates[i]) if tree.estimates else None, accepted=i in on_path)
        if token_text is not None:
            attrs["text"] = token_text(tree.tokens[i])
        g.add_node(i, **attrs)
        if tree.parents[i] >= 0:
            g.add_edge(tree.parents[i], i)
    return g


def tree_node_link(record: StepRecord, token_text: Callable[[int], str] | None = None) -> dict:
    """``draft_tree_graph`` as node-link JSON (``networkx.node_link_data``, edges under
    "edges"); ``networkx.node_link_graph(data, edges="edges")`` reads it back."""
    return nx.node_link_data(draft_tree_graph(record, token_text), edges="edges")
