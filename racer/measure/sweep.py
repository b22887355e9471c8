"""A tuning sweep: the same prompts decoded a few times (``repeats``, 3 by default) per
cell of a settings grid.

    grid = Grid(widths=(4, 8), depths=(4, 8))
    for progress in sweep(target, prompts, Settings(max_new_tokens=64), grid):
        print(progress.runs_done, "of", progress.runs_total, "runs; next:", progress.running)
    result = progress.result          # the cells finished so far, in grid order
    result.best(), result.rows()

Each cell decodes every prompt with ``Generation`` and ordinary ``Settings``: the
engine the step view and the benchmark run, with a fresh drafter per prompt. Per cell:
MAT (tokens / target forwards, prefill included, over all prompts), engine seconds
(the sum of the steps' ``timings.total_s``, so nothing outside the engine counts) and
the measured speedup over plain decoding of the same prompts (``racer.engine.metrics``).
The runs are not inspected (``Generation(inspect=False)``): no trie snapshots or
per-node probabilities are built, and only decoding is timed (``TIMING_NOTE``).

Speedup, honestly. Plain decoding of all the prompts is timed the same way before the
first cell, again after every ``plain_every`` cells, and after the last one. A cell's
speedup compares its seconds with plain decoding's seconds for as many tokens, plain
taken at the mean rate of the two plain runs just before and just after the cell:
drift of the machine (other processes, heat) within a block of cells is shared
between both sides.
The grid runs ``repeats`` rounds, one after the other, plain runs between blocks as
above; a setting's speedup is the mean over its runs and its interval the lowest to the
highest run. Plain decoding's own spread (each plain run against the mean of all) is the
noise: ``SweepResult.verdict`` names a winner only when its lowest run beats plain
decoding's highest and every other setting's highest, and never a setting whose MAT is 1.00
(``racer.engine.metrics.standout``). The adaptive budget is off when the grid varies tree size
(``adaptive_default``); ``SweepResult.adaptive_budget`` says which it was.
A sweep stopped early has no closing plain run for its last block; those cells are
compared with the plain run before them only (``plain_runs`` = 1 in their row).

The generator yields after every prompt run; a consumer that stops iterating (a Stop
button) keeps every finished cell and loses only the cell that was running.

Left out on purpose: RACER state kept across prompts (the warm policy; see
``racer.bench.cli``) — every cell starts each prompt from nothing, as the app does.
"""
from __future__ import annotations

import csv
import io
import itertools
import statistics
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Sequence

from racer.engine import metrics as measure
from racer.measure.baseline import plain_settings
from racer.drafting.registry import PLAIN
from racer.errors import UserError
from racer.engine.generate import Generation
from racer.model.target import TargetModel
from racer.engine.settings import Settings

MAX_CELLS = 36     # a grid is a few minutes of decoding on a small CPU, not an hour
MAX_PROMPTS = 6
PLAIN_EVERY = 4    # cells between two timings of plain decoding (each costs one cell or more)
TIMING_NOTE = "Runs without inspection: only decoding is timed (no trie snapshots, no per-node probabilities)."


@dataclass(frozen=True)
class Grid:
    """Values to try per setting; an empty tuple keeps the base setting's value.
    Values are de-duplicated and sorted: Grid((8, 4, 8), (2,)).widths == (4, 8)."""
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    windows: tuple[int, ...] = ()
    budgets: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("widths", "depths", "windows", "budgets"):
            object.__setattr__(self, name, tuple(sorted({int(v) for v in getattr(self, name)})))
        if not self.widths or not self.depths:
            raise UserError("Choose at least one tree width and one tree depth.")
        if self.size > MAX_CELLS:
            raise UserError(
                f"That grid has {self.size} settings; at most {MAX_CELLS} fit in one sweep. "
                "Untick some values (the sweep decodes every prompt once per setting).")

    @property
    def varies_tree_size(self) -> bool:
        """True when the grid tries more than one width, depth or budget: it then tunes
        the tree, which the adaptive budget would otherwise resize."""
        return any(len(v) > 1 for v in (self.widths, self.depths, self.budgets))

    @property
    def size(self) -> int:
        return len(self.widths) * len(self.depths) * max(1, len(self.windows)) * max(1, len(self.budgets))

    def cells(self, base: Settings) -> list[Settings]:
        """Settings per cell: window and budget vary slowest, depth fastest. Raises
        UserError (from Settings) when a value is out of range."""
        windows = self.windows or (base.window,)
        budgets = self.budgets or (base.budget,)
        return [base.with_changes(window=win, budget=b, width=w, depth=d)
                for win, b, w, d in itertools.product(windows, budgets, self.widths, self.depths)]

    def label(self, s: Settings) -> str:
        """The varied settings of a cell in words: "width 8 · depth 4" (window and
        budget only when the grid varies them)."""
        parts = [f"width {s.width}", f"depth {s.depth}"]
        parts += [f"window {s.window}"] if self.windows else []
        parts += [f"budget {s.budget}"] if self.budgets else []
        return " · ".join(parts)


@dataclass(frozen=True)
class PromptRun:
    """One prompt decoded once."""
    output: tuple[int, ...]
    forwards: int
    seconds: float  # engine seconds, prefill included


@dataclass(frozen=True)
class Pass:
    """All prompts decoded with one setting: a cell of the grid, or a plain run."""
    settings: Settings
    runs: tuple[PromptRun, ...]   # one per prompt, in prompt order
    plain_before: int = 0         # cells: index of the plain run timed just before
    repeat: int = 0               # cells: which run of the setting (0 = the first)

    @property
    def tokens(self) -> int:
        return sum(len(r.output) for r in self.runs)

    @property
    def forwards(self) -> int:
        return sum(r.forwards for r in self.runs)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.runs)

    @property
    def mat(self) -> float:
        return measure.mat(self.tokens, self.forwards)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class SweepResult:
    """What a sweep has measured so far: finished cells and plain runs."""
    grid: Grid
    base: Settings
    prompt_count: int
    cells: tuple[Pass, ...] = ()      # the first run of each setting, in grid order
    plains: tuple[Pass, ...] = ()
    total_cells: int = 0
    passes: tuple[Pass, ...] = ()     # every run of every setting (the first ones included)
    repeats: int = 1                  # runs planned per setting

    @property
    def complete(self) -> bool:
        return len(self.cells) == self.total_cells and (
            not self.passes or len(self.passes) >= self.total_cells * self.repeats)

    @property
    def adaptive_budget(self) -> bool:
        """Whether the adaptive budget was on for the sweep's cells."""
        return self.base.adaptive_budget

    def runs_of(self, cell: Pass) -> tuple[Pass, ...]:
        """Every finished run of the cell's setting, in the order they ran."""
        return tuple(p for p in self.passes if p.settings == cell.settings) or (cell,)

    def plain_around(self, cell: Pass) -> tuple[Pass, ...]:
        """The plain runs timed just before and just after the cell (one when the
        sweep stopped before the closing run)."""
        return self.plains[cell.plain_before : cell.plain_before + 2]

    def plain_tokens_per_s(self, cell: Pass) -> float | None:
        around = self.plain_around(cell)
        if not around:
            return None
        seconds = statistics.fmean(p.seconds for p in around)
        return around[0].tokens / seconds if seconds > 0 else None

    def pass_speedup(self, cell: Pass) -> float | None:
        """One run: plain decoding's seconds for the run's tokens (at its rate around
        the run) over the run's seconds; None if not measured."""
        plain = self.plain_tokens_per_s(cell)
        return measure.speedup(cell.tokens / plain, cell.seconds) if plain else None

    def speedups(self, cell: Pass) -> list[float]:
        """The measured speedup of every finished run of the cell's setting."""
        return [v for v in (self.pass_speedup(p) for p in self.runs_of(cell)) if v is not None]

    def speedup(self, cell: Pass) -> float | None:
        """The mean speedup over the setting's runs; None if not measured."""
        found = measure.spread(self.speedups(cell))
        return None if found is None else found[0]

    def interval(self, cell: Pass) -> tuple[float, float] | None:
        """(lowest, highest) speedup over the setting's runs; None if not measured."""
        found = measure.spread(self.speedups(cell))
        return None if found is None else found[1:]

    def plain_speedups(self) -> list[float]:
        """Plain decoding against itself (``measure.plain_speedups``): its noise."""
        return measure.plain_speedups([p.seconds for p in self.plains])

    def verdict(self) -> measure.Verdict:
        """``measure.standout`` over the finished settings: the leader is a winner only
        when its runs clear plain decoding's and every other setting's."""
        return measure.standout([(c, c.mat, self.speedups(c)) for c in self.cells], self.plain_speedups())

    def winner(self) -> Pass | None:
        """The setting that stood out, or None (see ``verdict``)."""
        return self.verdict().winner

    def same_as_plain(self, cell: Pass) -> bool | None:
        """Greedy only: did every prompt give plain decoding's tokens? (None = not checked.)"""
        if not self.base.greedy or not self.plains:
            return None
        return all(a.output == b.output for a, b in zip(cell.runs, self.plains[0].runs))

    def best(self) -> Pass | None:
        """The cell with the highest measured mean speedup (MAT when no speedup was
        measured); ties go to the higher MAT, then the smaller tree. The leader, not
        necessarily a winner: see ``winner``."""
        if not self.cells:
            return None
        return max(self.cells, key=lambda c: (self.speedup(c) or 0.0, c.mat,
                                              -c.settings.budget, -c.settings.width, -c.settings.depth))

    def best_mat(self) -> Pass | None:
        return max(self.cells, key=lambda c: (c.mat, -c.settings.budget, -c.settings.width,
                                              -c.settings.depth), default=None)

    def rows(self) -> list[dict]:
        """One dict per finished cell, for a table or CSV."""
        rows = []
        for cell in self.cells:
            s, speedup, plain = cell.settings, self.speedup(cell), self.plain_tokens_per_s(cell)
            low, high = self.interval(cell) or (None, None)
            rows.append(dict(
                width=s.width, depth=s.depth, window=s.window, budget=s.budget, prompts=len(cell.runs),
                tokens=cell.tokens, forwards=cell.forwards, mat=round(cell.mat, 4),
                engine_s=round(cell.seconds, 4), tokens_per_s=round(cell.tokens_per_s, 3),
                plain_tokens_per_s=None if plain is None else round(plain, 3),
                speedup=None if speedup is None else round(speedup, 4),
                speedup_low=None if low is None else round(low, 4),
                speedup_high=None if high is None else round(high, 4),
                runs=len(self.speedups(cell)), adaptive_budget=s.adaptive_budget,
                plain_runs=len(self.plain_around(cell)), same_as_plain=self.same_as_plain(cell)))
        return rows

    def csv(self) -> str:
        """The rows as CSV text with a header line (empty cells for unmeasured values)."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return out.getvalue()


CSV_FIELDS = ("width", "depth", "window", "budget", "prompts", "tokens", "forwards", "mat", "engine_s",
              "tokens_per_s", "plain_tokens_per_s", "speedup", "speedup_low", "speedup_high", "runs",
              "adaptive_budget", "plain_runs", "same_as_plain")


@dataclass(frozen=True)
class Progress:
    """Yielded after every prompt run: where the sweep is, and what it has measured."""
    runs_done: int              # prompt runs finished, plain ones included
    runs_total: int             # prompt runs the whole sweep needs
    running: str                # what runs next, in words
    result: SweepResult
    elapsed_s: float = 0.0      # wall-clock seconds since the sweep started

    @property
    def fraction(self) -> float:
        return self.runs_done / self.runs_total if self.runs_total else 1.0


def plan(cells: int, plain_every: int, repeats: int = 1) -> list[int | None]:
    """The order of passes: None = a plain run, i = cell i. Plain runs open the sweep,
    follow every ``plain_every`` cells and close it; the whole grid runs ``repeats``
    times, one round after the other, so every run of a setting has plain runs close by.

    >>> plan(5, 2)
    [None, 0, 1, None, 2, 3, None, 4, None]
    >>> plan(2, 4, repeats=2)
    [None, 0, 1, None, 0, 1, None]
    """
    order: list[int | None] = [None]
    for _ in range(repeats):
        for i in range(cells):
            order.append(i)
            if (i + 1) % plain_every == 0 or i == cells - 1:
                order.append(None)
    return order


def decode(target: TargetModel, prompt_ids: Sequence[int], settings: Settings) -> PromptRun:
    """One whole generation, timed by the engine's step timings."""
    gen = Generation(target, prompt_ids, settings, inspect=False)
    seconds = sum(record.timings.total_s for record in gen.steps())
    return PromptRun(tuple(gen.output), gen.forwards, seconds)


def adaptive_default(grid: Grid, base: Settings) -> bool:
    """The adaptive budget during a sweep: off when the grid varies tree size (the grid
    then tunes the tree, and the budget would resize it behind the grid's back), else
    the base settings' choice."""
    return False if grid.varies_tree_size else base.adaptive_budget


def _schedule(base: Settings, grid: Grid, plain_every: int, repeats: int,
              adaptive: bool | None) -> tuple[Settings, list[Settings], Settings, list[int | None]]:
    """(base as the cells run it, the cells' settings, plain decoding's, the order of passes)."""
    on = adaptive_default(grid, base) if adaptive is None else bool(adaptive)
    base = base.with_changes(drafter="racer" if base.drafter == PLAIN else base.drafter, adaptive_budget=on)
    settings = grid.cells(base)
    return base, settings, plain_settings(base), plan(len(settings), plain_every, repeats)


def _warm_ups(plain: Settings, settings: list[Settings]) -> list[Settings]:
    """The untimed runs before a sweep: plain decoding and the first cell, 8 tokens at most."""
    return [s.with_changes(max_new_tokens=min(8, s.max_new_tokens)) for s in (plain, settings[0])]


def sweep_calls(prompts: Sequence[Sequence[int]], base: Settings, grid: Grid, plain_every: int = PLAIN_EVERY,
                warm_up: bool = True, repeats: int = measure.DEFAULT_REPEATS,
                adaptive: bool | None = None) -> list[tuple[Sequence[int], Settings]]:
    """Every run ``sweep`` hands its decoder, in order, as (prompt, settings): what a
    ZeroGPU Space sizes its GPU calls by, one per run."""
    _, settings, plain, order = _schedule(base, grid, plain_every, repeats, adaptive)
    runs = [(prompts[0], s) for s in _warm_ups(plain, settings)] if warm_up else []
    return runs + [(ids, plain if what is None else settings[what]) for what in order for ids in prompts]


def sweep(target: TargetModel, prompts: Sequence[Sequence[int]], base: Settings, grid: Grid,
          plain_every: int = PLAIN_EVERY, warm_up: bool = True, repeats: int = measure.DEFAULT_REPEATS,
          adaptive: bool | None = None, max_prompts: int = MAX_PROMPTS,
          decoder: Callable[[TargetModel, Sequence[int], Settings], PromptRun] = decode) -> Iterator[Progress]:
    """Decodes every prompt ``repeats`` times per grid cell, round after round, with
    plain runs in between (see the module docstring). ``base`` gives every setting the
    grid does not vary, the drafter included (RACER when it is plain decoding).
    ``adaptive``: the adaptive budget on or off for every cell; None =
    ``adaptive_default``. ``max_prompts``: a tuner's own file may hold more prompts
    (``racer.bench.data.MAX_UPLOAD_PROMPTS``) than the page's category picker offers.
    ``decoder``: runs one prompt to the end (``decode``; the app passes one that runs it
    in a ZeroGPU call there, so a sweep goes in chunks of one prompt run).
    Raises UserError for an empty prompt list, too many prompts,
    too many repeats, or a cell whose settings are out of range — before anything runs."""
    if not prompts:
        raise UserError("No prompts to sweep over.")
    if len(prompts) > max_prompts:
        raise UserError(f"At most {max_prompts} prompts per sweep; {len(prompts)} were given.")
    if not 1 <= repeats <= measure.MAX_REPEATS:
        raise UserError(f"Run each setting 1 to {measure.MAX_REPEATS} times; {repeats} was asked.")
    if plain_every < 1:
        raise ValueError("plain_every must be at least 1")
    base, settings, plain, order = _schedule(base, grid, plain_every, repeats, adaptive)
    total = len(order) * len(prompts)
    result = SweepResult(grid, base, len(prompts), total_cells=len(settings), repeats=repeats)
    started = time.perf_counter()
    if warm_up:  # untimed: one-off costs (allocations, lazy inits) land on no cell
        for s in _warm_ups(plain, settings):
            decoder(target, prompts[0], s)

    rounds, seen = [], [0] * len(settings)   # rounds[step]: which run of its cell a step is
    for what in order:
        rounds.append(0 if what is None else seen[what])
        if what is not None:
            seen[what] += 1

    def running(step: int, prompt: int) -> str:
        what = order[step]
        name = "plain decoding (the reference)" if what is None else grid.label(settings[what])
        again = f" (run {rounds[step] + 1} of {repeats})" if what is not None and repeats > 1 else ""
        return f"{name}{again}, prompt {prompt + 1} of {len(prompts)}"

    done = 0
    yield Progress(done, total, running(0, 0), result, time.perf_counter() - started)
    for step, what in enumerate(order):
        s = plain if what is None else settings[what]
        runs = []
        for i, ids in enumerate(prompts):
            runs.append(decoder(target, ids, s))
            done += 1
            if i + 1 < len(prompts):
                nxt = running(step, i + 1)
            else:
                finished = Pass(s, tuple(runs), plain_before=max(0, len(result.plains) - 1), repeat=rounds[step])
                if what is None:
                    result = replace(result, plains=result.plains + (finished,))
                else:
                    first = (finished,) if rounds[step] == 0 else ()
                    result = replace(result, cells=result.cells + first, passes=result.passes + (finished,))
                nxt = running(step + 1, 0) if step + 1 < len(order) else "nothing: done"
            yield Progress(done, total, nxt, result, time.perf_counter() - started)
