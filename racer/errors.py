"""The one error type meant for a person: its message is a sentence saying what was
wrong and what to do instead (a control out of range, an empty prompt, a model that
cannot load). The app shows it as it is; the CLI prints it and exits with status 2.

Anything else that is raised is a bug: the app logs it with its traceback and says
that something went wrong, never dressing it up as advice.
"""
from __future__ import annotations


class UserError(ValueError):
    """A sentence for the person using the app, the CLI or the benchmark.

    A subclass of ``ValueError``, so code that checks values the way the standard
    library does (``except ValueError``) keeps working.
    """


class ModelLoadError(UserError):
    """A model could not be loaded; the message is one sentence saying why and what to do."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, for a sentence that quotes it."""
    text = str(error).strip().splitlines()
    return text[0].rstrip(".") if text else type(error).__name__
