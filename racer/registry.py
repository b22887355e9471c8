"""The drafter registry: all that the app, the CLI, the benchmark and the views know of a
drafter, one ``DrafterSpec`` per name, and the lookups they make (menus, names, a new
drafter by name).

Left out on purpose: the drafters themselves and their ``register`` calls, which live
at the bottom of ``racer.drafters`` (and of ``racer.policies``, the tree policies built
on its ``Drafter``) so that adding a drafter touches its own module alone; importing the
``racer`` package imports both, so the registry is full before any lookup.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .errors import UserError

if TYPE_CHECKING:
    from .drafters import Drafter


@dataclass(frozen=True)
class DrafterSpec:
    """One drafter, as everything outside racer/drafters.py sees it."""
    name: str                                # Settings.drafter, the CLI choice, the bench method
    label: str                               # in tables, legends and sentences: "retrieval only"
    colour: str                              # its bars in the comparison charts (racer.palette)
    factory: Callable[[int, bool], Drafter]  # (vocab_size, keep_state) -> a new drafter
    uses_automaton: bool = False             # drafts from the retrieval automaton
    uses_logits_cache: bool = False          # drafts from the logits cache
    menu: str = ""                           # its name in menus, where longer than the label

    @property
    def menu_label(self) -> str:
        return self.menu or self.label


PLAIN = "plain"  # the drafter every speedup is measured against
REGISTRY: dict[str, DrafterSpec] = {}  # name -> spec, in menu order


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


def drafter_spec(name: str) -> DrafterSpec:
    spec = find_drafter(name)
    if spec is None:
        raise UserError(f"unknown drafter {name!r}; choose one of {', '.join(REGISTRY)}")
    return spec


def make_drafter(name: str, vocab_size: int, keep_state: bool = False) -> Drafter:
    """``keep_state`` applies to the RACER drafters (see ``RacerDrafter``); the others
    draft from the current context alone."""
    drafter = drafter_spec(name).factory(vocab_size, keep_state)
    drafter.name = name  # what Generation compares with Settings.drafter
    return drafter
