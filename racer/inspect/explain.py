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

What each source contributed is ``racer.inspect.explain_sources`` (``SourceAccount`` and its
reasons); this module adds the tree's size, the verdict, the ending and the tally.

Left out on purpose: HTML, figures and token texts (``components/`` renders these
sentences; the engine knows token ids only).
"""
from __future__ import annotations

from dataclasses import dataclass

from racer.drafting.budget import EXPLORE_EVERY
from racer.drafting.registry import PLAIN
from racer.inspect.explain_sources import DRAFTED, Quote, SourceAccount, count, source_accounts
from racer.engine.records import REJECTED, StepRecord

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
    return Account(record.index, source_accounts(record, quote, size == ADAPTIVE_PLAIN),
                   SizeAccount(size, _size_sentence(record, size)),
                   _verdict(record, quote), _ending(record), _tally(record), record.changed)


# what the tree view writes over a proposal the adaptive budget did not verify
UNVERIFIED_NOTE = "the tree the drafter proposed"
UNVERIFIED_LABEL = "not verified: one forward of this size was expected to cost more than it would gain"


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
        view = record.automaton
        new = (" (the root token is new to the text: the logits cache holds no row of the model's guesses "
               "after it, and the automaton no earlier occurrence to copy from)"
               if not view.cached and not view.offered else "")
        return f"Nothing was drafted, as no source had a guess{new}: {one}."
    if size == ADAPTIVE_PLAIN:
        offers = record.automaton.offered + record.automaton.cached
        best = f" (the likeliest estimated {max(e for _, e in offers):.2f})" if offers else ""
        guesses = ("the one drafted token proposed" + best + " was" if proposed == 2 else
                   f"the {proposed - 1} drafted tokens proposed{best} were")
        said = (f"The adaptive budget chose a plain step: on this machine {guesses} not expected to pay "
                f"for a bigger forward, so {one}.")
        if record.unverified is not None:
            said += f" {UNVERIFIED_NOTE[0].upper()}{UNVERIFIED_NOTE[1:]} is drawn greyed: " + (
                "the model's own token matched one of its guesses." if record.unverified_match is not None
                else "the model's own token matched none of its guesses.")
        return said
    # counts are drafted tokens (the root is not drafted); a budget is in nodes, the root included
    drafted, offered = n - 1, proposed - 1
    if size == ADAPTIVE:
        if n == proposed:
            return f"The adaptive budget verified all {count(drafted, 'drafted token')} proposed."
        return (f"The adaptive budget verified the {drafted} likeliest of the {offered} drafted tokens proposed: "
                f"the size it expected to give the most tokens per second on this machine.")
    if size == EXPLORE:
        which = (f"all {count(drafted, 'drafted token')}" if n == proposed else
                 f"the {drafted} likeliest of the {offered} drafted tokens")
        return (f"The adaptive budget verified {which} proposed, more than it expected to pay: one step in "
                f"{EXPLORE_EVERY} it tries a bigger tree, paid for out of the time it has saved so far, so that guesses "
                "it underrates still get checked.")
    capped = f"; the draft budget of {s.budget}, capped by the room left in the model's context" \
        if record.budget < s.budget else ""
    budget = f"budget of {count(record.budget, 'node')} (the root and {record.budget - 1} drafted tokens{capped})"
    if size == BUDGET_FULL:
        return f"The tree filled its {budget} with the likeliest guesses."
    return (f"The sources had {count(drafted, 'drafted token')} within the depth limit of {s.depth}, fewer "
            f"than its {budget} allows; all were verified.")


# -- what the model made of it -----------------------------------------------------------

RECHECKED = ("Two of the model's likeliest tokens were nearly tied there, closer than the last bits a "
             "tree forward may differ by, so one more forward of that token alone decided, as plain "
             "decoding would, and the path stopped there.")


def _verdict(record: StepRecord, quote: Quote) -> str:
    said = _choice(record, quote)
    return f"{said} {RECHECKED}" if record.rechecked else said


def _choice(record: StepRecord, quote: Quote) -> str:
    tree, acc, bonus = record.tree, record.accepted_drafts, record.bonus
    if len(tree) == 1:
        return f"The model chose {quote([bonus])} (probability {record.bonus_prob:.2f})."
    drafts = [tree.tokens[i] for i in record.accepted[1:]]
    head = (f"The model accepted {count(acc, 'drafted token')} in a row ({quote(drafts)})" if acc else
            "The model accepted none of the drafted tokens")
    last = record.accepted[-1]
    offered = [i for i, p in enumerate(tree.parents) if p == last and record.verdicts[i] == REJECTED]
    if offered:
        first = offered[0]
        est = f" (estimated {tree.estimates[first]:.2f})" if tree.estimates else ""
        others = f" and {count(len(offered) - 1, 'other token')}" if len(offered) > 1 else ""
        return (f"{head}, then chose {quote([bonus])} (probability {record.bonus_prob:.2f}) where the tree "
                f"offered {quote([tree.tokens[first]])}{est}{others}.")
    return (f"{head}; the tree had nothing after that, and the model added its own next token "
            f"{quote([bonus])} (probability {record.bonus_prob:.2f}).")


def _ending(record: StepRecord) -> str:
    if not record.finished:
        return ""
    made = record.accepted_drafts + 1 if record.tree is not None else 1
    kept = len(record.emitted)
    cut = (f" Of the {made} tokens this forward yielded (accepted drafts and the model's own), {kept} "
           f"reached the output." if kept < made else "")
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
    return (f"This forward added {count(n, 'token')} to the output where plain decoding adds 1; so far "
            f"{count(record.total_tokens, 'token')} in {count(record.forwards, 'forward')} "
            f"(MAT {record.mat:.2f}).")


def _prefill(record: StepRecord, quote: Quote, prompt_len: int) -> Account:
    prompt = f"the {prompt_len}-token prompt" if prompt_len else "the prompt"
    first = quote([record.emitted[0]]) if record.emitted else "nothing"
    size = SizeAccount(PREFILL, f"The model read {prompt} in one forward pass (the prefill) and chose {first} "
                                f"as its first token. There is no draft yet: from step 1 on, each forward "
                                f"checks a tree of guesses.")
    return Account(record.index, (), size, "", _ending(record), "", record.changed)
