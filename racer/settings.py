"""One validated dataclass holds every knob of a generation.

Values outside their range raise ``ValueError`` with a sentence a user can act on;
the app turns that sentence into a message instead of a traceback.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

DRAFTERS = ("racer", "retrieval", "logits", "prompt_lookup", "plain")


@dataclass(frozen=True)
class Settings:
    # top-k successors per token kept in the logits cache; also the root breadth of the
    # logits tree. 8 is the authors' default.
    width: int = 8
    # longest draft path below the root (0 = plain decoding). The authors leave it
    # unbounded (only the budget limits it); 12 keeps one step's tree readable.
    depth: int = 12
    # n-gram length inserted into the retrieval automaton (authors: 10).
    window: int = 10
    # most nodes in the verified tree, root included. On a GPU 64 costs about as much
    # as 1; on a 2-core CPU each extra row costs, so the CPU default is smaller.
    budget: int = 16
    # most automaton nodes; the least recently used leaf is recycled beyond it.
    capacity: int = 10000
    # 0 = greedy; otherwise the target is sampled (lossless tree walk).
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    drafter: str = "racer"
    # choose each step's budget (up to ``budget``) from the measured verify cost and
    # the observed acceptance, so drafting does not make decoding slower than plain
    # decoding when trees do not pay on this machine. On by default for that reason.
    adaptive_budget: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.width <= 64, "tree width must be between 1 and 64"),
            (0 <= self.depth <= 64, "tree depth must be between 0 and 64"),
            (2 <= self.window <= 32, "retrieval window must be between 2 and 32 tokens"),
            (1 <= self.budget <= 256, "draft budget must be between 1 and 256 nodes"),
            (64 <= self.capacity <= 1_000_000, "automaton capacity must be between 64 and 1,000,000 nodes"),
            (0.0 <= self.temperature <= 5.0, "temperature must be between 0 and 5 (0 = greedy)"),
            (0.0 < self.top_p <= 1.0, "top-p must be above 0 and at most 1"),
            (1 <= self.max_new_tokens <= 4096, "max new tokens must be between 1 and 4096"),
            (self.drafter in DRAFTERS, f"drafter must be one of {', '.join(DRAFTERS)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def with_changes(self, **changes) -> "Settings":
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)
