"""Immutable records the generation loop yields, one per target forward pass.

The UI and the benchmark read only these; they never reach into the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from racer.engine import metrics as measure
from racer.engine.settings import Settings
from racer.engine.tree import DraftTree
from racer.drafting.automaton import TrieView

ACCEPTED, REJECTED, NOT_REACHED = "accepted", "rejected", "not_reached"


@dataclass(frozen=True)
class AutomatonView:
    """What the draft sources saw for this step's root: the automaton's match (empty
    for drafters without an automaton), and the first draft tokens each source offered
    below the root, drafted or not (``racer.inspect.explain`` says why one was not)."""
    matched: tuple[int, ...] = ()           # longest context suffix followed by the root earlier
    borders: tuple[tuple[int, ...], ...] = ()  # per border: context tokens matched before the root
    node_count: int = 0
    capacity: int = 0
    # (token, estimate) per candidate below the root, likeliest first: what followed the
    # match (retrieval), and the root's cached successors (logits cache; () = the root
    # was never processed, so nothing is cached for it). A token both offered is in both.
    offered: tuple[tuple[int, float], ...] = ()
    cached: tuple[tuple[int, float], ...] = ()
    trie: TrieView | None = None            # the trie around the match, for drawing (racer.drafting.automaton)


@dataclass(frozen=True)
class Timings:
    draft_s: float = 0.0    # building the tree
    verify_s: float = 0.0   # the target forward (incl. mask construction)
    update_s: float = 0.0   # acceptance, KV compaction, cache and automaton updates
    # cores other processes kept busy meanwhile (``racer.engine.clock``; None: not read)
    others_cores: float | None = None

    @property
    def total_s(self) -> float:
        return self.draft_s + self.verify_s + self.update_s


@dataclass(frozen=True)
class StepRecord:
    index: int                       # 0 = prefill, then one per verify forward
    settings: Settings               # settings in force for this step
    tree: DraftTree | None           # None for the prefill
    verdicts: tuple[str, ...]        # per tree node: ACCEPTED / REJECTED / NOT_REACHED
    target_tokens: tuple[int | None, ...]  # per node: the target's pick there (None if not visited)
    target_probs: tuple[float, ...]  # per node: target probability of the node's token given its parent (root: 1.0)
    accepted: tuple[int, ...]        # node indices of the accepted path, root first
    emitted: tuple[int, ...]         # tokens this forward added to the output
    emitted_sources: tuple[str, ...]  # per emitted token: retrieval / logits / both / bonus
    context_len: int                 # tokens in the KV cache before this step
    total_tokens: int                # output length after this step
    forwards: int                    # target forwards so far, this one included
    timings: Timings = field(default_factory=Timings)
    automaton: AutomatonView = field(default_factory=AutomatonView)
    budget: int = 0                  # the draft budget actually used this step
    emitted_drafts: int = 0          # accepted drafts that made it into the output (EOS / max tokens can cut)
    bonus_prob: float = 1.0          # the target's probability of its own token after the accepted path
    finished: bool = False
    finish_reason: str | None = None  # "eos" / "length" / "context" / None
    # nodes the drafter proposed (root included) before the adaptive budget kept the
    # first ``budget`` of them; 0 when no drafter was asked (prefill, depth 0, budget 1)
    proposed: int = 0
    explored: bool = False           # the adaptive budget tried a bigger tree than it expected to pay
    changed: str = ""                # settings changed since the previous step, in words
    # the drafter's proposal when the adaptive budget cut it to the root alone: drawn
    # greyed, never verified (None otherwise)
    unverified: DraftTree | None = None
    # a greedy pick whose top two logits were closer than the model's error bound was
    # re-decided by a one-token forward (one more forward; ``Generation._guard``)
    rechecked: bool = False

    @property
    def unverified_match(self) -> int | None:
        """The node of ``unverified`` below the root whose token is the model's own
        token (the one guess that would have been accepted); None when none is."""
        if self.unverified is None or self.bonus is None:
            return None
        tree = self.unverified
        return next((i for i in range(1, len(tree)) if tree.parents[i] == 0 and tree.tokens[i] == self.bonus),
                    None)

    @property
    def accepted_drafts(self) -> int:
        """Drafted tokens the target agreed with (root not counted)."""
        return max(0, len(self.accepted) - 1)

    @property
    def bonus(self) -> int | None:
        """The target's own token after the accepted path (next step's root)."""
        if self.tree is None:
            return self.emitted[0] if self.emitted else None
        return self.target_tokens[self.accepted[-1]] if self.accepted else None

    @property
    def mat(self) -> float:
        return measure.mat(self.total_tokens, self.forwards)


def timeline_of(records: Iterable[StepRecord]) -> list[float]:
    """timeline[t] = engine seconds until t + 1 tokens were out (a step that emits
    three tokens gives three equal entries)."""
    timeline, elapsed = [], 0.0
    for r in records:
        elapsed += r.timings.total_s
        timeline.extend([elapsed] * len(r.emitted))
    return timeline
