"""A run as JSON: settings, every step record and the final text.

Pure serialisation, no I/O: ``trace_dict`` builds a JSON-ready dict, ``dumps`` /
``loads`` turn it into text and back, and ``records_from_trace`` rebuilds the
``StepRecord`` objects, equal to the originals (``loads(dumps(t))`` round-trips).

Fields are read with ``dataclasses.fields``, so a field added to a record later is
saved and restored without touching this file. Token texts are added for people
reading the file (``emitted_text``) and ignored when loading.
"""
from __future__ import annotations

import json
from dataclasses import asdict, fields, is_dataclass
from typing import Callable, Sequence

from .automaton import TrieView
from .calibration import Evidence
from .errors import UserError
from .records import AutomatonView, StepRecord, Timings
from .settings import Settings
from .tree import DraftTree

FORMAT = "racer-explorer-trace/1"
_NESTED = {"settings": Settings, "tree": DraftTree, "timings": Timings, "automaton": AutomatonView,
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
