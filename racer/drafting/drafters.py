"""Drafters only propose. Each one, given the root token, returns a draft tree;
after the target has verified it, the drafter observes what happened.

All drafters run through the same generation loop, KV cache and acceptance code,
so their numbers compare on equal terms:

- ``RacerDrafter``: retrieval automaton + logits cache merged in one best-first tree
  (RACER); with one source switched off it is the "retrieval only" / "logits only"
  ablation.
- ``PromptLookupDrafter``: one chain copied after the latest n-gram match.
- ``PlainDrafter``: the root alone, i.e. plain autoregressive decoding.

Drafters that draft attach to every node an estimate of its chance of acceptance
(``racer.drafting.calibration``) and learn from each verified tree, so the tree they build
for a budget of b nodes is their best b nodes, and the loop can size the tree.

``racer.drafting.registry`` describes each drafter once (name, label, colour, class,
which sources it drafts from); the app, the CLI, the benchmark and the views read it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from racer.drafting.automaton import Automaton
from racer.drafting.calibration import Calibration, Evidence
from racer.drafting.growth import Candidate, Enough, grow
from racer.drafting.logits_cache import LogitsCache, TopK
from racer.engine.records import AutomatonView
from racer.engine.settings import Settings
from racer.engine.tree import BOTH, LOGITS, RETRIEVAL, DraftTree, TreeBuilder, root_only
from racer.drafting.automaton import trie_view


# One automaton node's memory: the node, its entry in its parent's children and its LRU
# entry (measured with tracemalloc: 412-429 bytes at windows 4-32).
AUTOMATON_NODE_BYTES = 430


class Drafter:
    """Interface, and the plain drafter's behaviour: propose the root alone."""

    name = "plain"
    # the tree's size is the policy's (the paper's and SGLang's fixed budget): the
    # adaptive budget leaves it alone
    fixed_size = False

    @classmethod
    def build(cls, vocab_size: int, keep_state: bool = False, **options) -> "Drafter":
        """A new drafter as the registry makes one (``racer.drafting.registry``); one that
        drafts from the current context alone takes neither argument."""
        return cls(**options)

    def reset(self, context: Sequence[int], top: TopK, settings: Settings) -> None:
        """Start of a generation: the prompt, and the target's top-k at each prompt
        token (n, k)."""

    def propose(self, root: int, settings: Settings, budget: int,
                enough: Enough | None = None) -> tuple[DraftTree, AutomatonView]:
        """A tree of at most ``budget`` nodes (root included), depth at most settings.depth,
        its nodes created likeliest first. ``enough``: the adaptive budget's rule for
        where drafting may stop (``AdaptiveBudget.enough_rule``); a drafter whose trees
        cost little to build may ignore it."""
        return root_only(root), AutomatonView()

    def inspect(self, tree: DraftTree, view: AutomatonView, settings: Settings) -> AutomatonView:
        """``view`` (what ``propose`` returned) with what the page draws and explains:
        what each source offered below the root, and the piece of the automaton's trie
        around the match showing what retrieval drafted in ``tree`` (the tree as
        verified, after any cut). Read-only; called after ``propose`` and before
        ``observe``, outside the step's timers."""
        return view

    def observe(self, tree: DraftTree, top: TopK, accepted: Sequence[int],
                proposal: DraftTree | None = None, judged: Sequence[tuple[int, bool]] | None = None) -> None:
        """After a verify: the target's top-k at every tree node (n, k), and the
        accepted node indices (root first), whose tokens entered the context. ``proposal``:
        the tree ``propose`` returned, of which the budget verified ``tree``; ``judged``:
        its nodes judged by the model's picks (``DraftTree.judged``)."""

    def reconfigure(self, settings: Settings, context: Sequence[int]) -> None:
        """Settings changed between steps; ``context`` is everything in the KV cache."""

    def held_bytes(self) -> int:
        """About how much memory its state holds (what a server weighs to free)."""
        return 0


class PlainDrafter(Drafter):
    name = "plain"


def learn(calibration: Calibration, tree: DraftTree, accepted: Sequence[int],
          proposal: DraftTree | None = None, judged: Sequence[tuple[int, bool]] | None = None) -> None:
    """Every node whose parent was accepted is a labelled example: accepted or not.
    Nodes below a rejected one were never tested and teach nothing. With ``judged``
    (``proposal.judged(picks)``: the whole proposal the budget cut ``tree`` from, judged
    by the model's picks), a plain step still teaches what its unverified guesses were
    worth, so estimates that overrate this text fall before they buy trees."""
    source, labels = (tree, tree.tested(accepted)) if judged is None else (proposal, judged)
    for i, hit in labels:
        if source.evidence and source.evidence[i] is not None:
            calibration.observe(source.evidence[i], hit)


class SourcesState(Drafter):
    """What every RACER drafter keeps: the retrieval automaton and the logits cache (each
    when used), and the context length that stamps the cache's rows. ``keep_state``: a new
    generation adds its prompt to the earlier ones' state instead of starting empty (the
    authors' evaluation keeps one automaton and cache across all prompts)."""

    def __init__(self, vocab_size: int, keep_state: bool = False, use_retrieval: bool = True,
                 use_logits: bool = True) -> None:
        self.vocab_size = vocab_size
        self.keep_state = keep_state
        self.use_retrieval = use_retrieval
        self.use_logits = use_logits
        self.automaton: Automaton | None = None
        self.cache: LogitsCache | None = None
        self.length = 0   # context tokens so far (the logits cache's clock)

    def reset(self, context, top, settings) -> None:
        if self.use_retrieval:
            a = self.automaton
            if self.keep_state and a is not None and (a.window, a.capacity) == (settings.window, settings.capacity):
                a.append(context)
            else:
                self.automaton = Automaton(settings.window, settings.capacity)
                self.automaton.reset(context)
        start = self.length if self.keep_state else 0
        if self.use_logits:
            width = max(settings.width, top.ids.shape[1])
            if self.keep_state and self.cache is not None:
                self.cache.ensure_width(width)
            else:
                self.cache = LogitsCache(self.vocab_size, width)
            # a row is stamped with the context length once its token is in it
            self.cache.update(context, top, at=np.arange(start + 1, start + len(context) + 1))
        self.length = start + len(context)

    def reconfigure(self, settings, context) -> None:
        a = self.automaton
        if a is not None and (a.window != settings.window or a.capacity != settings.capacity):
            self.automaton = Automaton(settings.window, settings.capacity)
            self.automaton.reset(context)
        if self.cache is not None:
            self.cache.ensure_width(settings.width)


class RacerDrafter(SourcesState):
    """RACER: retrieval drafts from an automaton over the context, logits drafts from
    the copy-logits cache, merged into one trie grown best first (``racer.drafting.growth``)."""

    @classmethod
    def build(cls, vocab_size: int, keep_state: bool = False, **options) -> "RacerDrafter":
        return cls(vocab_size, keep_state=keep_state, **options)

    def __init__(self, vocab_size: int, use_retrieval: bool = True, use_logits: bool = True,
                 keep_state: bool = False) -> None:
        if not (use_retrieval or use_logits):
            raise ValueError("RACER needs at least one draft source")
        super().__init__(vocab_size, keep_state, use_retrieval, use_logits)
        self.name = {(True, True): "racer", (True, False): "retrieval", (False, True): "logits"}[
            (use_retrieval, use_logits)]
        self.calibration = Calibration()

    def reset(self, context, top, settings) -> None:
        super().reset(context, top, settings)
        if not self.keep_state:
            self.calibration = Calibration()

    def propose(self, root, settings, budget, enough=None):
        retrieved = self.automaton.retrieve(root) if self.automaton is not None else None
        borders = retrieved.states if retrieved is not None else ()
        tree = grow(root, borders, budget, settings.depth, self._expander(settings), enough)
        return tree, self._view(retrieved, [])  # the lean view: inspect adds the offers

    def _expander(self, settings: Settings):
        """The candidates below a token and its automaton states, with their estimates,
        from the drafter's state now (it reads, never writes)."""
        width, now = settings.width, self.length + 1   # the root is the next context token

        def expand(token: int, states: tuple) -> list[tuple[Candidate, float]]:
            found: dict[int, Candidate] = {}
            if self.cache is not None:
                age = now - self.cache.written_at(token)
                for rank, (tok, prob) in enumerate(self.cache.candidates(token, width)):
                    found[tok] = Candidate(tok, LOGITS, Evidence(rank=rank, prob=prob, age=age))
            if states:
                for c in self.automaton.continuations(states, width):
                    evidence = Evidence(match=c.match, count=c.count, total=c.total, latest=c.latest)
                    other = found.get(c.token)
                    found[c.token] = (Candidate(c.token, RETRIEVAL, evidence, c.states) if other is None else
                                      Candidate(c.token, BOTH, other.evidence.merged(evidence), c.states))
            return [(c, self.calibration.estimate(c.evidence)) for c in found.values()]

        return expand

    def _view(self, retrieved, below_root: list[tuple[Candidate, float]]) -> AutomatonView:
        """What each source offered below the root, likeliest first (for the step's account)."""
        ranked = sorted(below_root, key=lambda ce: -ce[1])
        offered = tuple((c.token, e) for c, e in ranked if c.source in (RETRIEVAL, BOTH))
        cached = tuple((c.token, e) for c, e in ranked if c.source in (LOGITS, BOTH))
        if retrieved is None:
            return AutomatonView(cached=cached)
        return AutomatonView(retrieved.matched, retrieved.borders, self.automaton.node_count, self.automaton.capacity,
                             offered, cached)

    def inspect(self, tree, view, settings):
        retrieved = self.automaton.retrieve(tree.root) if self.automaton is not None else None
        borders = retrieved.states if retrieved is not None else ()
        view = self._view(retrieved, self._expander(settings)(tree.root, borders))
        if self.automaton is None:
            return view
        drafted = [[tree.tokens[j] for j in tree.path_to(i)[1:]] for i in range(1, len(tree))
                   if tree.sources[i] in (RETRIEVAL, BOTH)]
        return replace(view, trie=trie_view(self.automaton, tree.root, drafted))

    def held_bytes(self) -> int:
        nodes = self.automaton.node_count if self.automaton is not None else 0
        return (self.cache.nbytes if self.cache is not None else 0) + AUTOMATON_NODE_BYTES * nodes

    def observe(self, tree, top, accepted, proposal=None, judged=None) -> None:
        if self.cache is not None:
            self.cache.update(tree.tokens, top, at=self.length + 1 + np.asarray(tree.depths))
        self.length += len(accepted)
        if self.automaton is not None:
            self.automaton.append([tree.tokens[i] for i in accepted])
        learn(self.calibration, tree, accepted, proposal, judged)


class PromptLookupDrafter(Drafter):
    """Prompt lookup decoding: find the latest earlier occurrence of the last n tokens
    (n = MAX_NGRAM down to 1) of context + root, and draft the tokens that followed
    it as a single chain. Its estimates come from a calibration by n."""

    name = "prompt_lookup"
    MAX_NGRAM = 3  # longer keys rarely match; shorter ones match noise

    def __init__(self) -> None:
        self.context: list[int] = []
        self.calibration = Calibration()

    def reset(self, context, top, settings) -> None:
        self.context = list(context)
        self.calibration = Calibration()

    def reconfigure(self, settings, context) -> None:
        self.context = list(context)

    def propose(self, root, settings, budget, enough=None):
        length = min(settings.depth, budget - 1)
        n, chain = find_continuation(self.context + [root], self.MAX_NGRAM, length) if length > 0 else (0, [])
        builder = TreeBuilder(root, max_nodes=budget, max_depth=settings.depth)
        evidence = Evidence(match=n, lookup=True)
        estimate = self.calibration.estimate(evidence)
        node = 0
        for token in chain:  # the chain fits: it is at most depth long and budget - 1 nodes
            node = builder.add_child(node, token, RETRIEVAL, estimate, evidence)
        return builder.build(), AutomatonView()

    def observe(self, tree, top, accepted, proposal=None, judged=None) -> None:
        self.context.extend(tree.tokens[i] for i in accepted)
        learn(self.calibration, tree, accepted, proposal, judged)


def find_continuation(seq: Sequence[int], max_ngram: int, length: int) -> tuple[int, list[int]]:
    """(n, tokens that followed the latest earlier occurrence of seq's last n tokens),
    for the largest n <= max_ngram that has one; (0, []) if none.

    >>> find_continuation([1, 2, 3, 9, 1, 2], max_ngram=2, length=2)
    (2, [3, 9])
    """
    for n in range(min(max_ngram, len(seq) - 1), 0, -1):
        key = list(seq[-n:])
        for start in range(len(seq) - n - 1, -1, -1):  # latest match first, not the suffix itself
            if list(seq[start : start + n]) == key:
                follow = list(seq[start + n : start + n + length])
                if follow:
                    return n, follow
    return 0, []
