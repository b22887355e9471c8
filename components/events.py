"""One way for a model event (Step, Run, Compare, Tune, Race): what every such handler
shares is written once here, and the handlers only say what they show.

- ``model_event`` wraps a handler that returns or yields its outputs **by name** (a dict):
  the busy flag of the session or sweep it runs (``running`` / ``stop_requested``, read
  by Stop and Reset), and any error turned into a sentence (``messages.error_message``:
  a ``UserError`` as it is, a call ZeroGPU refused in words, a bug logged with its
  traceback), shown as a toast and in the event's status output.
- ``by_name`` is how Gradio calls such a handler: the dict's values in the order of the
  event's outputs, an output the handler did not name left as it is (``gr.skip()``).

ZeroGPU's call is not opened here: an event that ran inside one call would hold a GPU for
a whole Run or comparison and outlast what a call may ask for, so the work inside an event
opens its own calls, one per block of steps (``components.gpu``).
"""
from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Callable, Iterable

import gradio as gr

from components.messages import error_message, status_line

# what a handler returns or yields: its outputs by name
Shown = dict


def model_event(where: str, todo: str, *, status: str = "status",
                line: Callable[[str, str], str] = status_line, busy: bool = False,
                failed: Callable[..., Shown] | None = None) -> Callable:
    """Wraps a handler method (returning or yielding ``Shown``) of a model event.

    ``where`` and ``todo`` make the error sentence ("Something went wrong in the
    ``where``... ``todo``"); it goes to the output ``status`` as ``line(sentence, "error")``.
    ``busy``: the handler's first argument (a ``Session`` or ``TuneState``) is marked
    running, with no stop requested, for as long as the handler runs (Stop and Reset read
    it). ``failed(self, error, sentence, *args, **kwargs)`` adds what else the page shows
    after an error (the Explore views, a stopped sweep's figures); it may replace the status.
    """
    def fail(self, error: Exception, args, kwargs) -> Shown:
        sentence = error_message(error, where, todo)
        gr.Warning(sentence)
        shown = {status: line(sentence, "error")}
        return shown | (failed(self, error, sentence, *args, **kwargs) if failed else {})

    def wrap(handler: Callable) -> Callable:
        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def streamed(self, *args, **kwargs):
                with _running(args[0] if busy else None):  # a page closed mid-stream closes this too
                    try:
                        yield from handler(self, *args, **kwargs)
                    except Exception as e:  # noqa: BLE001 - a sentence on the page; a bug is logged
                        yield fail(self, e, args, kwargs)
            return streamed

        @functools.wraps(handler)
        def returned(self, *args, **kwargs):
            with _running(args[0] if busy else None):
                try:
                    return handler(self, *args, **kwargs)
                except Exception as e:  # noqa: BLE001 - a sentence on the page; a bug is logged
                    return fail(self, e, args, kwargs)
        return returned
    return wrap


@contextlib.contextmanager
def _running(holder):
    """``holder`` (a session or a sweep's state; None: nothing) marked running, with no
    stop requested, until the block ends however it ends."""
    if holder is None:
        yield
        return
    holder.stop_requested = False
    holder.running = True
    try:
        yield
    finally:
        holder.running = False


def by_name(handler: Callable, names: Iterable[str]) -> Callable:
    """``handler`` (which returns or yields dicts keyed by output name) as Gradio calls it:
    its values in the order of ``names``, the event's outputs (one output: its value
    alone), and ``gr.skip()`` for a name it left out. The signature is kept, so Gradio still passes the controls by name."""
    names = tuple(names)

    def ordered(result):
        if not isinstance(result, dict):
            return result
        unknown = set(result) - set(names)
        if unknown:   # a misspelt name would silently show nothing
            raise KeyError(f"{handler.__name__} answered {sorted(unknown)}, not among its outputs {names}")
        values = tuple(result[n] if n in result else gr.skip() for n in names)
        return values[0] if len(values) == 1 else values   # one output takes its value alone

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def streamed(*args, **kwargs):
            for result in handler(*args, **kwargs):
                yield ordered(result)
        return streamed

    @functools.wraps(handler)
    def returned(*args, **kwargs):
        return ordered(handler(*args, **kwargs))
    return returned
