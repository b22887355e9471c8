"""The generation loop: prefill, then draft -> verify -> accept -> commit -> update,
one immutable ``StepRecord`` per target forward.

    gen = Generation(target, prompt_ids, Settings())
    for record in gen.steps():
        ...

Only decoding is timed. With ``inspect`` (off by default: only the page's session asks
for it; Compare, the plain baseline, the sweep, the benchmark and the CLI decode and
nothing else) each record also carries what the page draws and explains: the
per-node probabilities, the bonus token's probability and what each source offered
with the trie around the match (``Drafter.inspect``). They are built from the step's
tree, logits and the drafter's read-only state outside the step's timers. The verify
costs the adaptive budget reads are measured once per model, before any timed step.

Settings may be replaced between steps (``gen.settings = ...``); they apply from
the next step and every record carries the settings it ran with. A new drafter
starts from the whole context so far: the generation keeps the target's top-k
successors at every context position for that.

A generation pickles *parked* (``__getstate__``): without its KV cache, its drafter and
its model, as after ``release``, with the sampling generator's state as CPU bytes; whoever
unpickles it sets ``target`` and its next step rebuilds the rest. That is how a run travels
to a ZeroGPU call and back (``components.gpu``). The sampling generator is made at first
use, on the model's device, so a process that only holds a run never makes a CUDA one.
"""
from __future__ import annotations

import time
from typing import Iterator, Sequence

import torch

from racer.drafting.budget import AdaptiveBudget
from racer.engine.clock import OthersClock
from racer.drafting.drafters import Drafter
from racer.drafting.registry import PLAIN, drafter_spec, make_drafter
from racer.errors import UserError
from racer.drafting.logits_cache import TopK
from racer.model.target import TargetModel, Tops, chain_tree, row_tops
from racer.engine.records import AutomatonView, StepRecord, Timings
from racer.engine.settings import Settings, settings_change
from racer.engine.sources import BONUS
from racer.engine.tree import DraftTree, root_only
from racer.engine.verify import Walk, bonus_probability, node_probs, pick_token, verdicts, walk_tree


class Generation:
    def __init__(self, target: TargetModel, prompt_ids: Sequence[int], settings: Settings,
                 drafter: Drafter | None = None, inspect: bool = False) -> None:
        if len(prompt_ids) == 0:
            raise UserError("The prompt is empty: type something for the model to continue.")
        if len(prompt_ids) >= target.max_context:
            raise UserError(
                f"The prompt is {len(prompt_ids)} tokens long but the model reads at most "
                f"{target.max_context}; shorten it.")
        self.target = target
        self.prompt_ids = list(prompt_ids)
        self.settings = settings
        self.inspect = inspect    # records carry what the page draws (built untimed)
        self.drafter: Drafter | None = drafter or make_drafter(settings.drafter, target.vocab_size)
        self.output: list[int] = []       # generated tokens, root of the next step included
        self.context: list[int] = []      # tokens whose KV entries are in the cache
        self.cache = None
        self.forwards = 0
        self.steps_taken = 0             # records yielded (a guarded step makes two forwards)
        self.finished = False
        self.finish_reason: str | None = None
        self._seed = settings.seed        # a seed only starts a generation (later changes wait for the next)
        self._generator: torch.Generator | None = None   # made at first use (``_rng``)
        self._rng_state: torch.Tensor | None = None      # its state, after pickling
        self._applied = settings
        self._adaptive: AdaptiveBudget | None = None
        self._unverified: DraftTree | None = None  # the proposal the adaptive budget cut to the root
        self._proposal: DraftTree | None = None    # this step's proposal, before the budget's cut
        self._ceiling = 1                          # this step's draft budget ceiling
        self._stopped = False                      # and whether its drafting stopped early
        self._costs: dict[int, float] | None = None  # the model's verify costs, for the adaptive budget
        self._bound: float | None = None  # the model's logit error bound, for the greedy guard
        self.rechecks = 0  # greedy picks re-decided by a one-token forward (``_guard``)
        self._measure_costs()
        self._explored = False   # this step's size was the adaptive budget's exploration
        self._tops: list[TopK] = []  # the target's top-k at every context position, in chunks
        self._prompt_tops = True     # whether _tops holds the prompt's rows (``_prefill``)

    def steps(self) -> Iterator[StepRecord]:
        while not self.finished:
            yield self.step()

    def step(self) -> StepRecord:
        if self.finished:
            raise RuntimeError("this generation has finished")
        if self.forwards == 0:
            record = self._prefill()
        else:
            if self.cache is None:  # released while idle
                self._rebuild()
            changed = settings_change(self._applied, self.settings)
            if self.settings != self._applied:
                if self.settings.drafter != self.drafter.name:
                    self._switch_drafter()
                else:
                    self.drafter.reconfigure(self.settings, self.context)
                self._applied = self.settings
            self._measure_costs()  # before the step's timers (settings may have just asked)
            record = self._verify_step(changed)
        if self.finished:  # it never steps again: let the KV cache's memory go now
            self.cache = None
        return record

    def release(self) -> None:
        """Lets go of the KV cache and the drafter's state, the memory a run holds between
        steps: a server frees it when a run sits idle, and a finished run needs neither.

        The next step rebuilds both from the context: the KV cache in one prefill forward
        (untimed: memory housekeeping, not decoding), the drafter from the whole context
        as after a drafter switch. Its drafts can then differ from those of a run never
        released; the tokens do not (acceptance is lossless). A drafter passed in to
        keep its state across generations is dropped too.
        """
        if self.forwards == 0:
            return  # nothing built yet
        self.cache = None
        self.drafter = None
        if self.finished:
            self._tops = []

    def __getstate__(self) -> dict:
        """The run parked, for pickling (see the module docstring); the live run is untouched.
        The top-k rows go as one block (``TopK.concat``, as a drafter switch reads them)."""
        state = dict(self.__dict__, target=None, cache=None, drafter=None, _generator=None)
        if self._generator is not None:
            state["_rng_state"] = self._generator.get_state()   # a CPU byte tensor, whatever the device
        if len(self._tops) > 1:
            state["_tops"] = [TopK.concat(self._tops, width=max(t.ids.shape[1] for t in self._tops))]
        return state

    def held_bytes(self) -> int:
        """About how much memory ``release`` would free."""
        return self.target.cache_bytes(self.cache) + (self.drafter.held_bytes() if self.drafter else 0)

    # -- stages ---------------------------------------------------------------

    def _rng(self) -> torch.Generator:
        """The sampling generator, on the model's device: seeded at first use, or restored
        from the state it was pickled with."""
        if self._generator is None:
            self._generator = torch.Generator(device=self.target.device)
            if self._rng_state is None:
                self._generator.manual_seed(self._seed)
            else:
                self._generator.set_state(self._rng_state)
                self._rng_state = None
        return self._generator

    def _prefill(self) -> StepRecord:
        s = self.settings
        if self.drafter is None:  # pickled before its first step
            self.drafter = make_drafter(s.drafter, self.target.vocab_size)
        t0 = time.perf_counter()
        self.cache = self.target.new_cache()
        # the prompt's top-k at every token only for a drafter that drafts from them
        self._prompt_tops = drafter_spec(s.drafter).uses_logits_cache
        last, top = self.target.prefill(self.prompt_ids, self.cache, top_k=s.width if self._prompt_tops else 0)
        t1 = time.perf_counter()
        self.context = list(self.prompt_ids)
        self.forwards = 1
        root = pick_token(last, s, self._rng())
        self.drafter.reset(self.context, top, s)
        self._tops = [top]
        emitted = self._emit([root])
        t2 = time.perf_counter()
        bonus_prob = bonus_probability(last, root, s) if self.inspect else 1.0
        return StepRecord(
            index=0, settings=s, tree=None, verdicts=(), target_tokens=(), target_probs=(),
            accepted=(), emitted=tuple(emitted), emitted_sources=(BONUS,) * len(emitted),
            context_len=0, total_tokens=len(self.output), forwards=self.forwards,
            timings=Timings(0.0, t1 - t0, t2 - t1), budget=1,
            bonus_prob=bonus_prob, finished=self.finished, finish_reason=self.finish_reason)

    def _verify_step(self, changed: str) -> StepRecord:
        s = self.settings
        root = self.output[-1]
        context_len = len(self.context)
        others = OthersClock()
        t0 = time.perf_counter()
        tree, view, budget, proposed = self._draft(root, s, context_len)
        t1 = time.perf_counter()
        if self.inspect:  # untimed, before observe changes the drafter's state
            proposed = self._whole_proposal(root, s, budget, proposed)
            view = self.drafter.inspect(tree, view, s)
        t1v = time.perf_counter()
        logits = self.target.verify(tree, self.cache, context_len)  # (n, V)
        t2 = time.perf_counter()
        tops = row_tops(logits, max(s.width, 2))   # the guard reads the top two
        walk = walk_tree(tree, logits, s, self._rng(), picks=tops.picks)
        rechecked = False
        if s.greedy:
            walk, logits, rechecked = self._guard(tree, logits, walk, context_len, tops)
        if rechecked:  # the guard left the kept path in place; its forward is verify time
            self.rechecks += 1
            t2 = time.perf_counter()
        else:
            self.target.commit(self.cache, context_len, list(walk.accepted))
        appended = [tree.tokens[i] for i in walk.accepted]
        self.context.extend(appended)
        self.forwards += 1
        self.steps_taken += 1
        top = (row_tops(logits, s.width) if rechecked else tops).top_k(s.width)  # (n, width)
        judged = self._proposal.judged(walk.picks) if self._proposal is not None else None
        self.drafter.observe(tree, top, walk.accepted, self._proposal, judged)
        self._tops.append(top.rows(list(walk.accepted)))
        drafted = [tree.tokens[i] for i in walk.accepted[1:]]
        sources = [tree.sources[i] for i in walk.accepted[1:]] + [BONUS]
        emitted = self._emit(drafted + [walk.picks[-1]])
        kept = set(walk.accepted)
        estimated = self._estimated(judged) if self._adaptive is not None else ()
        t3 = time.perf_counter()
        if self._adaptive is not None:
            self._adaptive.observe(len(tree), t2 - t1v, (t1 - t0) + (t3 - t2), accepted=len(walk.accepted) - 1,
                                   judged=estimated)
        probs, bonus_prob = (), 1.0
        if self.inspect:  # untimed: softmaxes over the vocabulary, for the page
            probs = node_probs(tree, logits, s)
            bonus_prob = float(bonus_probability(logits[walk.accepted[-1]], walk.picks[-1], s))
        return StepRecord(
            index=self.steps_taken, settings=s, tree=tree, verdicts=verdicts(tree, walk.accepted),
            target_tokens=tuple(walk.picks[walk.accepted.index(i)] if i in kept else None
                                for i in range(len(tree))),
            target_probs=probs, accepted=walk.accepted, emitted=tuple(emitted),
            emitted_sources=tuple(sources[: len(emitted)]), context_len=context_len,
            emitted_drafts=min(len(drafted), len(emitted)), bonus_prob=bonus_prob,
            total_tokens=len(self.output), forwards=self.forwards,
            timings=Timings(t1 - t0, t2 - t1v, t3 - t2, others.cores((t1 - t0) + (t3 - t1v))),
            automaton=view, budget=budget,
            finished=self.finished, finish_reason=self.finish_reason, proposed=proposed,
            explored=self._explored, changed=changed, unverified=self._unverified, rechecked=rechecked)

    # -- helpers --------------------------------------------------------------

    def _rebuild(self) -> None:
        """After ``release``: the KV cache of the context, and the drafter."""
        self.cache = self.target.new_cache()
        self.target.prefill(self.context, self.cache, top_k=0)
        self._switch_drafter()
        self._applied = self.settings

    def _measure_costs(self) -> None:
        """The model's verify costs, once the settings ask for the adaptive budget, and the
        guard's error bound once they are greedy: one-off measurements (cached per model)
        that no step's timer may hold."""
        if self._costs is None and self.settings.adaptive_budget and self.drafter.name != PLAIN:
            self._costs = self.target.verify_costs()
        if self._bound is None and self.settings.greedy and self.drafter.name != PLAIN:
            self._bound = self.target.error_bound()

    def _guard(self, tree: DraftTree, logits: torch.Tensor, walk: Walk, context_len: int,
               tops: Tops) -> tuple[Walk, torch.Tensor, bool]:
        """Greedy picks made in a multi-node forward whose top two logits are closer than
        the model's error bound are not trusted: the first such pick is re-decided by a
        one-token forward, as plain decoding would make it, and the path ends there. Returns
        the walk, the logits (that row replaced) and whether it re-checked; the KV cache then
        holds the kept path in place."""
        if len(tree) == 1 or not self._bound:
            return walk, logits, False
        top2 = tops.values[list(walk.accepted), :2]  # (accepted, 2)
        gaps = (top2[:, 0] - top2[:, 1]).tolist()
        at = next((k for k, gap in enumerate(gaps) if gap < self._bound), None)
        if at is None:
            return walk, logits, False
        keep = list(walk.accepted[: at + 1])
        self.target.commit(self.cache, context_len, keep[:-1])
        row = self.target.verify(chain_tree(1, (tree.tokens[keep[-1]],)), self.cache, context_len + at)[0]
        self.forwards += 1
        logits = logits.clone()
        logits[keep[-1]] = row
        return Walk(tuple(keep), walk.picks[:at] + (int(row.argmax()),)), logits, True

    def _switch_drafter(self) -> None:
        """Builds the newly chosen drafter from the context so far, as if it had
        drafted from the start (its logits cache gets the context's rows only). A drafter
        with a logits cache after one without gets the prompt's rows, which the prefill
        left out, from one forward over the prompt (between steps, untimed)."""
        if not self._prompt_tops and drafter_spec(self.settings.drafter).uses_logits_cache:
            _, prompt = self.target.prefill(self.prompt_ids, self.target.new_cache(), top_k=self.settings.width)
            self._tops = [prompt] + [t for t in self._tops if len(t)]
            self._prompt_tops = True
        top = TopK.concat(self._tops, width=max(t.ids.shape[1] for t in self._tops))
        self.drafter = make_drafter(self.settings.drafter, self.target.vocab_size)
        self.drafter.reset(self.context, top, self.settings)
        self._tops = [top]

    def _draft(self, root: int, s: Settings, context_len: int) -> tuple[DraftTree, AutomatonView, int, int]:
        """This step's tree, what retrieval saw, the budget it was cut to, and the size
        of the drafter's proposal before that cut (0 when no drafter was asked).

        The budget setting is a ceiling, capped so the tree and the bonus token after
        it fit the model's context window. With the adaptive budget the drafter builds
        its best tree up to the ceiling, stopping where no bigger tree could be chosen
        (``AdaptiveBudget.enough_rule``), and ``AdaptiveBudget`` keeps the prefix that is
        expected to give the most tokens per second."""
        ceiling = max(1, min(s.budget, self.target.max_context - context_len - 1))
        self._ceiling = ceiling
        self._stopped = False   # drafting stopped where no bigger tree could be chosen
        self._explored = False
        self._unverified = None
        self._proposal = None
        if ceiling == 1 or s.depth == 0:
            return root_only(root), AutomatonView(), 1, 0
        adaptive = s.adaptive_budget and not self.drafter.fixed_size and self.drafter.name != PLAIN
        if adaptive and self._adaptive is None:
            self._adaptive = AdaptiveBudget(self._costs or self.target.verify_costs())
        enough = self._adaptive.enough_rule(ceiling) if adaptive else None
        tree, view = self.drafter.propose(root, s, ceiling, enough)
        self._proposal = tree
        self._stopped = enough is not None and self._adaptive.stopped
        proposed, budget = len(tree), ceiling
        if self._stopped and len(tree) == 1:
            budget = 1   # drafting stopped at the root: a plain step, as choose would say
        elif adaptive and len(tree) > 1:
            budget = self._adaptive.choose(tree)
            self._explored = self._adaptive.explored
            if budget == 1:
                self._unverified = tree   # kept for drawing, greyed (no extra work)
            tree = tree.prefix(budget)
        return tree, view, budget, proposed

    def _estimated(self, judged: list[tuple[int, bool]] | None) -> list[tuple[float, bool]]:
        """(estimate, borne out) for each judged node of this step's proposal, the nodes
        the budget cut included (``DraftTree.judged``), for the budget's trust."""
        proposal = self._proposal
        if not judged or not proposal.estimates:
            return []
        return [(proposal.estimates[i], hit) for i, hit in judged]

    def _whole_proposal(self, root: int, s: Settings, budget: int, proposed: int) -> int:
        """For the page (untimed): where drafting stopped early, the drafter's whole
        proposal is built again, read-only, so the step shows what the budget cut, as a
        full draft would (the cut tree is the same either way); the proposal's size."""
        if not self._stopped:
            return proposed
        whole, _ = self.drafter.propose(root, s, self._ceiling)
        if budget == 1 and len(whole) > 1:
            self._unverified = whole
        return len(whole)

    def _emit(self, tokens: list[int]) -> list[int]:
        """Appends tokens to the output, cutting at EOS and at max_new_tokens; marks
        the generation finished when either is reached."""
        out = []
        for token in tokens:
            if len(self.output) >= self.settings.max_new_tokens:
                break
            self.output.append(token)
            out.append(token)
            if token in self.target.eos_ids:
                self.finished, self.finish_reason = True, "eos"
                return out
        if len(self.output) >= self.settings.max_new_tokens:
            self.finished, self.finish_reason = True, "length"
        elif len(self.context) + 1 >= self.target.max_context:
            self.finished, self.finish_reason = True, "context"
        return out
