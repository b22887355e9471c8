"""One validated dataclass holds every knob of a generation, and describes itself.

Each field carries a ``Knob`` in its metadata: its label, the phrase sentences name it
by, range, unit, step and help text, and whether it is a main control or an advanced one. The page's controls,
the clamping of raw control values, the CLI's and the benchmark's flags, the status
line's "changed" notes and the Tune tab's grid values are generated from ``KNOBS``,
so a new setting is written here once, next to its default.

Values outside their range raise ``UserError`` with a sentence a user can act on;
the app turns that sentence into a message instead of a traceback.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable, Sequence

from racer.errors import UserError
from racer.drafting.registry import drafter_label, drafter_menu


@dataclass(frozen=True)
class Knob:
    """What everything outside the engine knows about one setting."""
    label: str                                # the control's label: "Tree width"
    phrase: str                               # its name in sentences: "tree width"
    help: str = ""                            # what it does: the control's info line, the CLI's help
    span: tuple[float, float] | None = None   # allowed values, ends included (Settings refuses others)
    # the page's narrower span: what one visitor may ask of a shared CPU (None: span)
    page_span: tuple[float, float] | None = None
    step: float = 1                           # slider step
    unit: str = ""                            # after the range in messages: "tokens", "(0 = greedy)"
    low_excluded: bool = False                # the low end itself is refused (top-p 0 keeps nothing)
    main: bool = False                        # on the Explore tab's face; others sit under "Advanced"
    grid: tuple[int, ...] = ()                # values the Tune tab offers to sweep over
    info: str | None = None                   # the page's info line where it differs from help ("" = none)
    number_box: bool = False                  # a number box instead of a slider (seed: 2**32 values)
    # a text setting's allowed values, as (menu label, value) pairs
    choices: Callable[[], Sequence[tuple[str, str]]] | None = None
    name: str = ""                            # the field's name (filled in by KNOBS)
    kind: type = object                       # int, float, bool or str: the default's type (ditto)

    @property
    def limits(self) -> tuple[float, float] | None:
        """The span the page's control offers and clamps to."""
        return self.page_span or self.span

    def values(self) -> tuple[str, ...]:
        """The allowed values of a text setting."""
        return tuple(value for _, value in self.choices())

    def problem(self, value) -> str | None:
        """Why ``value`` is not allowed, in words; None when it is.

        >>> KNOBS["window"].problem(1)
        'retrieval window must be between 2 and 32 tokens'
        >>> KNOBS["top_p"].problem(0.0), KNOBS["top_p"].problem(1.0)
        ('top-p must be above 0 and at most 1', None)
        """
        if self.choices is not None:
            allowed = self.values()
            return None if value in allowed else f"{self.phrase} must be one of {', '.join(allowed)}"
        if self.span is None:
            return None
        low, high = self.span
        if (low < value <= high) if self.low_excluded else (low <= value <= high):
            return None
        if self.low_excluded:
            return f"{self.phrase} must be above {quantity(low)} and at most {quantity(high)}"
        tail = f" {self.unit}" if self.unit else ""
        return f"{self.phrase} must be between {quantity(low)} and {quantity(high)}{tail}"


def quantity(x: float) -> str:
    """A number for a sentence (thousands marked from 10,000 on).

    >>> quantity(4096), quantity(1_000_000), quantity(5.0), quantity(0.05)
    ('4096', '1,000,000', '5', '0.05')
    """
    if float(x).is_integer():
        return f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))
    return f"{x:g}"


def setting(default, label: str, phrase: str, **knob):
    """A Settings field: its default, and its Knob (see ``Knob`` for the keywords)."""
    return field(default=default, metadata={"knob": Knob(label, phrase, **knob)})


@dataclass(frozen=True)
class Settings:
    # top-k successors per token kept in the logits cache; also the root breadth of the
    # logits tree. 8 is the authors' default.
    width: int = setting(8, "Tree width", "tree width", span=(1, 64), main=True,
                         grid=(1, 2, 4, 6, 8, 12, 16, 24, 32),
                         help="top-k guesses kept per token in the logits cache; root breadth")
    # longest draft path below the root (0 = plain decoding). The authors leave it
    # unbounded (only the budget limits it); 12 keeps one step's tree readable.
    depth: int = setting(12, "Tree depth", "tree depth", span=(0, 64), main=True,
                         grid=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32),
                         help="longest draft path (0 = plain decoding)")
    # n-gram length inserted into the retrieval automaton (authors: 10).
    window: int = setting(10, "Retrieval window", "retrieval window", span=(2, 32), unit="tokens",
                          main=True, grid=(2, 3, 4, 6, 8, 10, 12, 16, 24, 32),
                          help="n-gram length indexed by the automaton")
    # most nodes in the verified tree, root included. On a GPU 64 costs about as much
    # as 1; on a 2-core CPU each extra row costs, so the CPU default is smaller.
    budget: int = setting(16, "Draft budget", "draft budget", span=(1, 256), unit="nodes",
                          grid=(4, 8, 12, 16, 24, 32, 48, 64, 96, 128),
                          help="most nodes per tree (verified in one forward)")
    # most automaton nodes; the least recently used leaf is recycled beyond it.
    capacity: int = setting(10000, "Automaton capacity", "automaton capacity", span=(64, 1_000_000),
                            page_span=(64, 200_000), unit="nodes", help="most automaton nodes (LRU beyond)")
    # 0 = greedy; otherwise the target is sampled (lossless tree walk).
    temperature: float = setting(0.0, "Temperature", "temperature", span=(0.0, 5.0), page_span=(0.0, 2.0),
                                 step=0.05, unit="(0 = greedy)", help="0 = greedy")
    top_p: float = setting(1.0, "Top-p", "top-p", span=(0.0, 1.0), low_excluded=True, page_span=(0.05, 1.0),
                           step=0.05, info="",
                           help="sample from the fewest likeliest tokens whose probability reaches p")
    max_new_tokens: int = setting(128, "Max new tokens", "max new tokens", span=(1, 4096), page_span=(1, 1024),
                                  help="stop after this many generated tokens", info="")
    drafter: str = setting("racer", "Drafter", "drafter", choices=drafter_menu,
                           help="what proposes the draft tree", info="a change takes over from the next step")
    # choose each step's budget (up to ``budget``) from the measured verify cost and
    # the observed acceptance, so drafting does not make decoding slower than plain
    # decoding when trees do not pay on this machine. On by default for that reason.
    adaptive_budget: bool = setting(True, "Adaptive budget", "adaptive budget",
                                    help="pick each step's tree size from measured cost and acceptance")
    seed: int = setting(0, "Seed (sampling)", "seed", page_span=(0, 2**32 - 1), number_box=True,
                        help="seed of the sampler (temperature > 0)", info="")

    def __post_init__(self) -> None:
        for knob in KNOBS.values():
            problem = knob.problem(getattr(self, knob.name))
            if problem:
                raise UserError(problem)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def with_changes(self, **changes) -> "Settings":
        return replace(self, **changes)

    def with_preset(self, name: str) -> "Settings":
        """These settings with a named preset's values (``PRESETS``); UserError for an
        unknown name.

        >>> Settings().with_preset("teaching").adaptive_budget
        False
        """
        if name not in PRESETS:
            raise UserError(f"There is no preset called {str(name)[:40]!r}; choose one of {', '.join(PRESETS)}.")
        return replace(self, **PRESETS[name])

    def as_dict(self) -> dict:
        return asdict(self)


# Named groups of settings the page sets in one click. "teaching": a fixed tree that
# reads well on the Explore tab's plot (the adaptive budget off, so every step with a
# guess draws one): 16 nodes, 4 guesses per token, 6 deep.
PRESETS: dict[str, dict] = {
    "teaching": dict(adaptive_budget=False, budget=16, width=4, depth=6),
}

# field name -> its Knob, in field order
KNOBS: dict[str, Knob] = {f.name: replace(f.metadata["knob"], name=f.name, kind=type(f.default))
                          for f in fields(Settings)}


def settings_change(old: Settings | None, new: Settings) -> str:
    """The settings that differ, in words; empty when nothing changed.

    >>> settings_change(Settings(), Settings(budget=32, depth=6))
    'tree depth 12 → 6, draft budget 16 → 32'
    >>> settings_change(Settings(), Settings(drafter="racer_sglang", adaptive_budget=False))
    'drafter RACER (ours) → RACER (SGLang), adaptive budget on → off'
    """
    if old is None or old == new:
        return ""
    return ", ".join(f"{k.phrase} {_word(k, getattr(old, k.name))} → {_word(k, getattr(new, k.name))}"
                     for k in KNOBS.values() if getattr(old, k.name) != getattr(new, k.name))


def _word(knob: Knob, value) -> str:
    """A setting's value as the page names it: a drafter by its label, a switch on or off."""
    if knob.name == "drafter":
        return drafter_label(value)
    if knob.kind is bool:
        return "on" if value else "off"
    return str(value)


# -- command-line flags ---------------------------------------------------------------

def add_flags(parser: argparse.ArgumentParser, names: Sequence[str] | None = None,
              defaults: bool = True) -> None:
    """One flag per setting (``names``: a subset), typed and explained by its Knob:
    ``--top-p 0.9``, ``--drafter racer``, ``--adaptive-budget`` / ``--no-adaptive-budget``.
    Without ``defaults`` every flag defaults to None, i.e. "not given" (``given_flags``)."""
    base = Settings()
    for knob in KNOBS.values():
        if names is not None and knob.name not in names:
            continue
        default = getattr(base, knob.name) if defaults else None
        flag = "--" + knob.name.replace("_", "-")
        text = knob.help + (f" (default: {default})" if defaults else " (default: the app's)")
        if knob.kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif knob.choices is not None:
            parser.add_argument(flag, default=default, choices=knob.values(), help=text)
        else:
            parser.add_argument(flag, type=knob.kind, default=default, help=text)


def given_flags(args: argparse.Namespace) -> dict:
    """The settings a parsed command line gave (see ``add_flags``), as Settings keywords."""
    return {name: getattr(args, name) for name in KNOBS if getattr(args, name, None) is not None}
