"""The drafter registry: all that the app, the CLI, the benchmark and the views know of a
drafter, one ``DrafterSpec`` per name in one table (``REGISTRY``, written out below), and
the lookups they make (menus, names, a new drafter by name).

A spec names its drafter class by import path ("racer.drafting.drafters:RacerDrafter"),
imported when a drafter is first made. So the registry sits below the drafters: the
settings can check a drafter's name against it, the drafters can read the settings, and
nothing is registered as a side effect of importing a module. Adding a drafter is its
class and one line here (or ``register`` at run time, as a test does).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from racer.errors import UserError
from racer.palette import (BLUE, BLUISH_GREEN, ORANGE, PLAIN_GREY, REDDISH_PURPLE, SKY_BLUE, VERMILLION,
                           YELLOW)


@dataclass(frozen=True)
class DrafterSpec:
    """One drafter, as everything outside racer/drafting/drafters.py sees it."""
    name: str                                # Settings.drafter, the CLI choice, the bench method
    label: str                               # in tables, legends and sentences: "retrieval only"
    colour: str                              # its bars in the comparison charts (racer.palette)
    # "module:Class", built by Class.build(vocab_size, keep_state, **options); or a callable
    # (vocab_size, keep_state) -> a new drafter
    factory: str | Callable[[int, bool], Any]
    options: tuple[tuple[str, object], ...] = ()  # keyword arguments of Class.build
    uses_automaton: bool = False             # drafts from the retrieval automaton
    # drafts from the logits cache (the target's top-k after every context token): only such
    # a drafter has the prompt's rows computed at prefill
    uses_logits_cache: bool = False
    menu: str = ""                           # its name in menus, where longer than the label

    @property
    def menu_label(self) -> str:
        return self.menu or self.label


PLAIN = "plain"  # the drafter every speedup is measured against
DRAFTERS = "racer.drafting.drafters"
POLICIES = "racer.drafting.policies"

# name -> spec, in menu order: ours, the other tree policies, the ablations, the baselines
REGISTRY: dict[str, DrafterSpec] = {spec.name: spec for spec in (
    DrafterSpec("racer", "RACER (ours)", BLUE, f"{DRAFTERS}:RacerDrafter", uses_automaton=True,
                uses_logits_cache=True, menu="RACER (ours: best-first tree, retrieval + logits)"),
    DrafterSpec("racer_paper", "RACER (paper)", VERMILLION, f"{POLICIES}:PaperDrafter", uses_automaton=True,
                uses_logits_cache=True, menu="RACER (paper: retrieval pool, then halving logits tree)"),
    DrafterSpec("racer_sglang", "RACER (SGLang)", REDDISH_PURPLE, f"{POLICIES}:SglangDrafter",
                uses_automaton=True, uses_logits_cache=True, menu="RACER (SGLang port: exactly K nodes, padded)"),
    DrafterSpec("retrieval", "retrieval only", SKY_BLUE, f"{DRAFTERS}:RacerDrafter",
                options=(("use_logits", False),), uses_automaton=True),
    DrafterSpec("logits", "logits only", ORANGE, f"{DRAFTERS}:RacerDrafter",
                options=(("use_retrieval", False),), uses_logits_cache=True),
    DrafterSpec("suffix", "SuffixDecoding", YELLOW, f"{POLICIES}:SuffixDrafter",
                menu="SuffixDecoding (suffix tree, frequency-scored)"),
    DrafterSpec("prompt_lookup", "prompt lookup", BLUISH_GREEN, f"{DRAFTERS}:PromptLookupDrafter"),
    DrafterSpec(PLAIN, "plain decoding", PLAIN_GREY, f"{DRAFTERS}:PlainDrafter"),
)}


def register(spec: DrafterSpec, before: str | None = None) -> DrafterSpec:
    """Adds a drafter to the menus, the CLI and the benchmark, last or ``before`` a
    registered one; names are unique."""
    if spec.name in REGISTRY:
        raise ValueError(f"a drafter called {spec.name!r} is registered already")
    if before is None:
        REGISTRY[spec.name] = spec
        return spec
    if before not in REGISTRY:
        raise ValueError(f"no drafter called {before!r} to register {spec.name!r} before")
    entries = list(REGISTRY.items())
    at = [name for name, _ in entries].index(before)
    REGISTRY.clear()
    REGISTRY.update(entries[:at] + [(spec.name, spec)] + entries[at:])
    return spec


def drafter_names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def drafter_menu() -> list[tuple[str, str]]:
    """(menu label, name) per drafter, as the page's menus list them."""
    return [(spec.menu_label, spec.name) for spec in REGISTRY.values()]


def find_drafter(name: str) -> DrafterSpec | None:
    """The spec of a registered drafter; None for any other name."""
    return REGISTRY.get(name)


def drafter_label(name: str) -> str:
    """The label a page or a sentence gives a drafter ("RACER (SGLang)"); its bare name
    if unknown.

    >>> drafter_label("racer_sglang"), drafter_label("mine")
    ('RACER (SGLang)', 'mine')
    """
    spec = find_drafter(name)
    return spec.label if spec else name


def drafter_spec(name: str) -> DrafterSpec:
    spec = find_drafter(name)
    if spec is None:
        raise UserError(f"unknown drafter {name!r}; choose one of {', '.join(REGISTRY)}")
    return spec


def make_drafter(name: str, vocab_size: int, keep_state: bool = False):
    """A new ``racer.drafting.drafters.Drafter``. ``keep_state`` applies to the RACER
    drafters (see ``RacerDrafter``); the others draft from the current context alone."""
    spec = drafter_spec(name)
    if callable(spec.factory):
        drafter = spec.factory(vocab_size, keep_state)
    else:
        module, _, cls = spec.factory.partition(":")
        drafter = getattr(importlib.import_module(module), cls).build(vocab_size, keep_state, **dict(spec.options))
    drafter.name = name  # what Generation compares with Settings.drafter
    return drafter
