"""Status-line words shared by the tabs, and the one place that decides what an error
tells the person.

A ``racer.UserError`` carries a sentence meant for the person: it is shown as it is; so
is a call ZeroGPU's scheduler refused (``components.gpu.refusal``: what happened, when to
retry, what signing in gives). Anything else is a bug: it is logged with its traceback, and the page says that
something went wrong and what to do, never passing the bug off as advice.
"""
from __future__ import annotations

import logging
import traceback

from racer import UserError

from components.gpu import refusal

log = logging.getLogger("racer_explorer")
ICONS = {"error": "⚠ ", "done": "✓ ", "stop": "■ ", "run": "▶ "}


def error_message(error: Exception, where: str, todo: str) -> str:
    """The sentence to show for ``error``; a bug is logged with its traceback first.

    ``where`` names what failed ("engine", "comparison"), ``todo`` says what to do.
    """
    if isinstance(error, UserError):
        return str(error)
    refused = refusal(error)
    if refused is not None:
        log.warning("%s: ZeroGPU refused a call: %s", where, error)
        return refused
    log.error("%s error: %s", where, "".join(traceback.format_exception(error)))
    return (f"Something went wrong in the {where} ({type(error).__name__}: {error}). {todo} "
            "If it happens again, please report it: the server log holds the details.")


def status_line(text: str, kind: str = "") -> str:
    """A status line with the icon of its kind: error, done, stop or run."""
    return f"{ICONS.get(kind, '')}{text}" if text else ""


def join(*parts: str, sep: str = " ") -> str:
    """The non-empty parts, joined."""
    return sep.join(p for p in parts if p)


def count(n: int, word: str) -> str:
    """A number of things in words.

    >>> count(1, "token"), count(3, "token")
    ('1 token', '3 tokens')
    """
    return f"{n} {word}{'' if n == 1 else 's'}"


def adjusted(notes: list[str]) -> str:
    """The notes of ``read_controls`` as one sentence (empty when there are none)."""
    return f"Adjusted: {'; '.join(notes)}." if notes else ""
