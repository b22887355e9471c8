"""One account of each step: what each draft source contributed (and why it fell
short), why the tree has its size, what the model made of it and how the step ended,
each stated once.

Every view of a step (the tree's caption, the narration, the outcome panel, the
automaton panel) is built from the same ``Account``, so they cannot contradict each
other. ``explain`` derives it from the ``StepRecord`` alone:

    account = explain(record, quote)
    account.source(RETRIEVAL).reason   # e.g. OUTRANKED
    account.size.sentence              # e.g. "The adaptive budget chose a plain step: ..."

Sentences name tokens through ``quote`` (token ids -> how to show them, e.g.
``lambda ids: repr(tokenizer.decode(ids))``); the words around them hold no
HTML-special characters, so a ``quote`` that escapes makes the sentences HTML-safe.

Left out on purpose: HTML, figures and token texts (``components/`` renders these
sentences; the engine knows token ids only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from .budget import EXPLORE_EVERY
from .drafters import PLAIN, find_drafter
from .records import REJECTED, StepRecord
from .tree import BOTH, LOGITS, RETRIEVAL

Quote = Callable[[Sequence[int]], str]   # token ids -> their text as a sentence shows it

# Why a source drafted what it did (SourceAccount.reason)
DRAFTED = "drafted"                  # it has nodes in the tree
NO_MATCH = "no_match"                # retrieval: the root never followed the context's end before
NOTHING_FOLLOWED = "nothing_followed"  # retrieval: a match, but nothing after it in the automaton
UNSEEN = "unseen"                    # logits cache: the root was never read, nothing is cached after it
OUTRANKED = "outranked"              # it offered tokens, but every node of the tree was likelier
PLAIN_STEP = "plain_step"            # it offered tokens, but the adaptive budget chose the root alone
NOT_ASKED = "not_asked"              # the settings left no room to draft (see Account.size)
FOUND_NOTHING = "found_nothing"      # a drafter of its own (prompt lookup) had nothing to propose

# Why the tree has its size (SizeAccount.reason)
PREFILL = "prefill"                  # no tree: the prompt in one forward
PLAIN_DRAFTER = "plain_drafter"      # the plain drafter never drafts
DEPTH_ZERO = "depth_zero"            # tree depth 0
BUDGET_ONE = "budget_one"            # draft budget setting of 1 node
CONTEXT_FULL = "context_full"        # room for one more token only
NOTHING_TO_DRAFT = "nothing_to_draft"  # no source had a guess
ADAPTIVE_PLAIN = "adaptive_plain"    # the adaptive budget kept the root alone
ADAPTIVE = "adaptive"                # the adaptive budget kept the likeliest nodes (maybe all)
EXPLORE = "explore"                  # the adaptive budget's occasional bigger tree
BUDGET_FULL = "budget_full"          # a fixed budget, filled
ALL_OFFERED = "all_offered"          # a fixed budget the sources could not fill

ENDINGS = {"eos": "the end-of-sequence token", "length": "the max-new-tokens limit",
           "context": "the end of the model's context window"}


@dataclass(frozen=True)
class SourceAccount:
    """One draft source's part in a step."""
    name: str        # RETRIEVAL, LOGITS, or the drafter's name for a drafter with one source of its own
    drafted: int     # its nodes in the verified tree ("both" nodes count for each source)
    accepted: int    # of those, how many the model accepted
    reason: str      # DRAFTED, or why it has none: NO_MATCH, UNSEEN, OUTRANKED, ...
    sentence: str


@dataclass(frozen=True)
class SizeAccount:
    reason: str      # PREFILL, NOTHING_TO_DRAFT, ADAPTIVE_PLAIN, BUDGET_FULL, ...
    sentence: str

    @property
    def plain(self) -> bool:
        """The step verified the root alone: one forward, one token."""
        return self.reason in (PLAIN_DRAFTER, DEPTH_ZERO, BUDGET_ONE, CONTEXT_FULL, NOTHING_TO_DRAFT,
                               ADAPTIVE_PLAIN)


@dataclass(frozen=True)
class Account:
    """Everything a view says about one step, each fact in one sentence."""
    index: int
    sources: tuple[SourceAccount, ...]   # the drafter's sources, in order (none for the plain drafter)
    size: SizeAccount                    # why the tree has its size
    verdict: str                         # what the model accepted, and what it chose after
    ending: str                          # how the generation ended at this step ("" if it goes on)
    tally: str                           # tokens from this forward, and the run so far
    changed: str                         # settings changed since the previous step, in words ("" if none)

    def source(self, name: str) -> SourceAccount | None:
        return next((s for s in self.sources if s.name == name), None)

    @property
    def shortfalls(self) -> tuple[SourceAccount, ...]:
        """The sources that drafted nothing, with their reasons."""
        return tuple(s for s in self.sources if s.reason != DRAFTED)

    def story(self) -> list[str]:
        """The step in order: sources, tree size, verdict, ending, tally."""
        said = [s.sentence for s in self.sources] + [self.size.sentence, self.verdict, self.ending, self.tally]
        return [sentence for sentence in said if sentence]


def explain(record: StepRecord, quote: Quote, prompt_len: int = 0) -> Account:
    """The account of one step. ``prompt_len`` (tokens) is only said at the prefill."""
    if record.tree is None:
        return _prefill(record, quote, prompt_len)
    size = _size(record)
    return Account(record.index, _sources(record, quote, size), SizeAccount(size, _size_sentence(record, size)),
                   _verdict(record, quote), _ending(record), _tally(record), record.changed)


# -- the sources -------------------------------------------------------------------------

def _sources(record: StepRecord, quote: Quote, size: str) -> tuple[SourceAccount, ...]:
    spec = find_drafter(record.settings.drafter)
    if spec is None or spec.name == PLAIN:
        return ()
    if not (spec.uses_automaton or spec.uses_logits_cache):   # one source of its own
        return (_own_source(record, spec.name, spec.label, size),)
    out = []
    if spec.uses_automaton:
        out.append(_retrieval(record, quote, size))
    if spec.uses_logits_cache:
        out.append(_logits(record, quote, size))
    return tuple(out)


def _counts(record: StepRecord, kinds: tuple[str, ...]) -> tuple[int, int]:
    """(drafted, accepted) nodes whose source is one of ``kinds``."""
    tree, kept = record.tree, set(record.accepted)
    nodes = [i for i in range(1, len(tree)) if tree.sources[i] in kinds]
    return len(nodes), sum(i in kept for i in nodes)


def _min_path_estimate(record: StepRecord) -> float | None:
    """The lowest path estimate among the tree's drafted nodes (None without estimates)."""
    probs = record.tree.path_probs() if record.tree.estimates else None
    return min(probs[1:]) if probs and len(probs) > 1 else None


def _passed_over(record: StepRecord, offers, what: tuple[str, str], quote: Quote, size: str) -> tuple[str, str]:
    """(reason, clause) for a source whose offers made no node of the tree; ``what``
    names one offer and several."""
    token, estimate = offers[0]
    offered = (f"it offered {_count(len(offers), *what)} (the likeliest {quote([token])}, "
               f"estimated {estimate:.2f})")
    if size == ADAPTIVE_PLAIN:
        return PLAIN_STEP, f"{offered}, not verified in this plain step"
    floor = _min_path_estimate(record)
    likelier = f" (estimated {floor:.2f} or more along their paths)" if floor is not None else ""
    drafted = len(record.tree) - 1
    return OUTRANKED, (f"{offered}, but the {_count(drafted, 'drafted node')} of this tree went to "
                       f"likelier guesses{likelier}")


def _retrieval(record: StepRecord, quote: Quote, size: str) -> SourceAccount:
    view, root = record.automaton, record.tree.root
    drafted, accepted = _counts(record, (RETRIEVAL, BOTH))
    last = "last token" if len(view.matched) == 1 else f"last {len(view.matched)} tokens"
    if view.borders:
        match = f"the context's {last} followed by the root {quote([root])} occurred earlier in the text"
    else:  # retrieval continues from the root token alone too (a 1-token match)
        match = (f"the context's last token never came before the root {quote([root])} earlier, but the "
                 f"root itself occurred earlier in the text (a 1-token match)")
    if drafted:
        reason, clause = DRAFTED, (f"{match}; it drafted {_count(drafted, 'token')} from what followed there, "
                                   f"{accepted} accepted")
    elif record.proposed == 0:
        reason, clause = NOT_ASKED, "not consulted, as this step drafted nothing (below)"
    elif not view.borders and not view.offered:
        reason, clause = NO_MATCH, (f"nowhere earlier in the text did the context's last token come before "
                                    f"the root {quote([root])}, nor was the root itself followed by anything "
                                    f"earlier, so there was no match to copy from")
    elif not view.offered:
        reason, clause = NOTHING_FOLLOWED, (
            f"{match}, but nothing follows that match in the automaton yet (it comes at the very end of "
            f"the text, or fills the {record.settings.window}-token window), so there was nothing to copy")
    else:
        reason, clause = _passed_over(record, view.offered, ("continuation", "continuations"), quote, size)
        clause = f"{match}; {clause}"
    return SourceAccount(RETRIEVAL, drafted, accepted, reason, f"Retrieval: {clause}.")


def _logits(record: StepRecord, quote: Quote, size: str) -> SourceAccount:
    view, root = record.automaton, record.tree.root
    drafted, accepted = _counts(record, (LOGITS, BOTH))
    if drafted:
        both = sum(source == BOTH for source in record.tree.sources)
        also = f" ({both} of them retrieval proposed too)" if both else ""
        reason, clause = DRAFTED, (f"it drafted {_count(drafted, 'token')} from the model's own earlier "
                                   f"top guesses{also}, {accepted} accepted")
    elif record.proposed == 0:
        reason, clause = NOT_ASKED, "not consulted, as this step drafted nothing (below)"
    elif not view.cached:
        reason, clause = UNSEEN, (f"the root {quote([root])} has no cached successors (the model has not "
                                  f"read this token before), so it had nothing to draft")
    else:
        reason, clause = _passed_over(record, view.cached, ("guess", "guesses"), quote, size)
    return SourceAccount(LOGITS, drafted, accepted, reason, f"Logits cache: {clause}.")


def _own_source(record: StepRecord, name: str, label: str, size: str) -> SourceAccount:
    """A drafter that is its own source (prompt lookup): all drafted nodes are its."""
    tree = record.tree
    drafted = len(tree) - 1
    accepted = record.accepted_drafts
    head = label[0].upper() + label[1:]
    if drafted:
        how = tree.evidence[1].describe() if tree.evidence and tree.evidence[1] is not None else ""
        reason, clause = DRAFTED, (f"it drafted {_count(drafted, 'token')}" + (f", {how}" if how else "")
                                   + f", {accepted} accepted")
    elif record.proposed == 0:
        reason, clause = NOT_ASKED, "not consulted, as this step drafted nothing (below)"
    elif size == ADAPTIVE_PLAIN:
        reason, clause = PLAIN_STEP, (f"it offered {_count(record.proposed - 1, 'token')}, "
                                      f"not verified in this plain step")
    else:
        reason, clause = FOUND_NOTHING, "it found no earlier occurrence of the text's last tokens to copy from"
    return SourceAccount(name, drafted, accepted, reason, f"{head}: {clause}.")


# -- the tree's size ---------------------------------------------------------------------

def _size(record: StepRecord) -> str:
    s, n = record.settings, len(record.tree)
    if s.drafter == PLAIN:
        return PLAIN_DRAFTER
    if record.proposed == 0:   # no drafter was asked
        return DEPTH_ZERO if s.depth == 0 else BUDGET_ONE if s.budget == 1 else CONTEXT_FULL
    if record.proposed == 1:
        return NOTHING_TO_DRAFT
    adaptive = s.adaptive_budget
    if adaptive and n == 1:
        return ADAPTIVE_PLAIN
    if adaptive:
        return EXPLORE if record.explored else ADAPTIVE
    return BUDGET_FULL if n >= record.budget else ALL_OFFERED


def _size_sentence(record: StepRecord, size: str) -> str:
    s, n, proposed = record.settings, len(record.tree), record.proposed
    one = "plain decoding, one forward for one token"
    if size == PLAIN_DRAFTER:
        return f"The plain drafter never drafts: {one}."
    if size == DEPTH_ZERO:
        return f"The tree depth is 0, so nothing was drafted: {one}."
    if size == BUDGET_ONE:
        return f"The draft budget is 1 node, the root alone: {one}."
    if size == CONTEXT_FULL:
        return f"The model's context window has room for one more token only, so nothing was drafted: {one}."
    if size == NOTHING_TO_DRAFT:
        return f"Nothing was drafted, as no source had a guess: {one}."
    if size == ADAPTIVE_PLAIN:
        offers = record.automaton.offered + record.automaton.cached
        best = f" (the likeliest estimated {max(e for _, e in offers):.2f})" if offers else ""
        guesses = ("the one guess proposed" + best + " was" if proposed == 2 else
                   f"the {proposed - 1} guesses proposed{best} were")
        return (f"The adaptive budget chose a plain step: on this machine {guesses} not expected to pay "
                f"for a bigger forward, so {one}.")
    if size == ADAPTIVE:
        if n == proposed:
            return f"The adaptive budget verified all {_count(n, 'node')} proposed."
        return (f"The adaptive budget verified the {n} likeliest of the {proposed} nodes proposed: the size it "
                f"expected to give the most tokens per second on this machine.")
    if size == EXPLORE:
        which = f"all {n} nodes" if n == proposed else f"the {n} likeliest of the {proposed} nodes"
        return (f"The adaptive budget verified {which} proposed, more than it expected to pay: one step in "
                f"{EXPLORE_EVERY} it tries a bigger tree, so that guesses it underrates still get checked.")
    capped = f" (the draft budget of {s.budget}, capped by the room left in the model's context)" \
        if record.budget < s.budget else ""
    if size == BUDGET_FULL:
        return f"The tree filled its budget of {_count(record.budget, 'node')}{capped} with the likeliest guesses."
    return (f"The sources had {_count(n - 1, 'guess', 'guesses')} within the depth limit of {s.depth}, fewer "
            f"than the budget of {_count(record.budget, 'node')}{capped} allows; all were verified.")


# -- what the model made of it -----------------------------------------------------------

def _verdict(record: StepRecord, quote: Quote) -> str:
    tree, acc, bonus = record.tree, record.accepted_drafts, record.bonus
    if len(tree) == 1:
        return f"The model chose {quote([bonus])} (probability {record.bonus_prob:.2f})."
    drafts = [tree.tokens[i] for i in record.accepted[1:]]
    head = (f"The model accepted {_count(acc, 'drafted token')} in a row ({quote(drafts)})" if acc else
            "The model accepted none of the drafted tokens")
    last = record.accepted[-1]
    offered = [i for i, p in enumerate(tree.parents) if p == last and record.verdicts[i] == REJECTED]
    if offered:
        first = offered[0]
        est = f" (estimated {tree.estimates[first]:.2f})" if tree.estimates else ""
        others = f" and {_count(len(offered) - 1, 'other token')}" if len(offered) > 1 else ""
        return (f"{head}, then chose {quote([bonus])} (probability {record.bonus_prob:.2f}) where the tree "
                f"offered {quote([tree.tokens[first]])}{est}{others}.")
    return (f"{head}; the tree had nothing after that, and the model added its own next token "
            f"{quote([bonus])} (probability {record.bonus_prob:.2f}).")


def _ending(record: StepRecord) -> str:
    if not record.finished:
        return ""
    made = record.accepted_drafts + 1 if record.tree is not None else 1
    kept = len(record.emitted)
    cut = (f" {kept} of this forward's {made} tokens reached the output." if kept < made else "")
    if record.finish_reason == "eos":
        where = "among the accepted drafts" if kept < made else "as the model's own token"
        return f"The end-of-sequence token came {where}: the answer is complete.{cut}"
    if record.finish_reason == "length":
        return f"The max-new-tokens limit ({record.settings.max_new_tokens}) was reached.{cut}"
    if record.finish_reason == "context":
        return "The model's context window is full: the generation stops here."
    return "The generation ended here."


def _tally(record: StepRecord) -> str:
    n = len(record.emitted)
    return (f"This forward produced {_count(n, 'token')} where plain decoding makes 1; so far "
            f"{_count(record.total_tokens, 'token')} in {_count(record.forwards, 'forward')} "
            f"(MAT {record.mat:.2f}).")


def _prefill(record: StepRecord, quote: Quote, prompt_len: int) -> Account:
    prompt = f"the {prompt_len}-token prompt" if prompt_len else "the prompt"
    first = quote([record.emitted[0]]) if record.emitted else "nothing"
    size = SizeAccount(PREFILL, f"The model read {prompt} in one forward pass (the prefill) and chose {first} "
                                f"as its first token. There is no draft yet: from step 1 on, each forward "
                                f"checks a tree of guesses.")
    return Account(record.index, (), size, "", _ending(record), "", record.changed)


def _count(n: int, word: str, plural: str | None = None) -> str:
    """_count(1, "token") -> "1 token"; _count(3, "guess", "guesses") -> "3 guesses"."""
    return f"{n} {word if n == 1 else plural or word + 's'}"
