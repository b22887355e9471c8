"""A test double for ``spaces.GPU`` on ZeroGPU: the call runs in a process forked from
this one, its arguments and result travel pickled (as ``spaces/zero/wrappers.py`` sends
them through its queues), and a change it makes to an argument stays in the child.

As ``spaces`` does, it asks its scheduler first: ``duration`` (a number, or a callable
of the call's arguments) is worked out in this process and every call is written down
in ``calls``; an exception put in ``refusals`` is raised instead of the next call, before
anything runs (what ``spaces`` raises when a quota is used up: ``refused``). A generator
function streams its yields, each pickled as it is yielded; closing the stream makes the
child close the generator after its next yield, as ``spaces``' stop event does."""
from __future__ import annotations

import inspect
import multiprocessing
import pickle
from dataclasses import dataclass
from functools import wraps

TIMEOUT_S = 300   # a hung child fails the test instead of hanging it


@dataclass(frozen=True)
class Call:
    name: str        # the function called
    seconds: float   # the duration asked of the scheduler


calls: list[Call] = []              # every call asked for, refused ones included
refusals: list[BaseException] = []  # raised (first in, first out) instead of the next calls


def refused(seconds: int = 17, left: int = 9, wait: str = "0:04:31"):
    """The error ``spaces`` (0.51.3, ``spaces/zero/client.py``) raises when a visitor's quota is
    used up: ``gr.Error`` made by ``spaces.zero.gradio.error``, titled "ZeroGPU quota exceeded"."""
    import gradio as gr
    return gr.Error(f"You have exceeded your free ZeroGPU quota ({seconds}s requested vs. {left}s left). "
                    f"Try again in {wait}. ", title="ZeroGPU quota exceeded", print_exception=False)


def _child(conn, fn, payload):
    try:
        args, kwargs = pickle.loads(payload)
        conn.send_bytes(pickle.dumps(("ok", fn(*args, **kwargs))))
    except BaseException as e:  # the child's error goes back, as spaces sends it
        conn.send_bytes(pickle.dumps(("error", repr(e))))
    finally:
        conn.close()


def _stream_child(conn, fn, payload, stop):
    try:
        args, kwargs = pickle.loads(payload)
        gen = fn(*args, **kwargs)
        for item in gen:
            if stop.is_set():          # spaces checks its stop event after each next()
                gen.close()
                break
            conn.send_bytes(pickle.dumps(("item", item)))
        conn.send_bytes(pickle.dumps(("end", None)))
    except BaseException as e:
        conn.send_bytes(pickle.dumps(("error", repr(e))))
    finally:
        conn.close()


def _schedule(fn, duration, args, kwargs) -> None:
    seconds = duration(*args, **kwargs) if callable(duration) else duration
    calls.append(Call(fn.__name__, seconds))
    if refusals:
        raise refusals.pop(0)


def _answer(parent, p):
    if not parent.poll(TIMEOUT_S):
        p.kill()
        raise RuntimeError(f"ZeroGPU worker gave no answer in {TIMEOUT_S} s")
    return pickle.loads(parent.recv_bytes())


def zero_gpu_double(duration=None):
    def wrap(fn):
        ctx = multiprocessing.get_context("fork")
        if inspect.isgeneratorfunction(fn):
            @wraps(fn)
            def stream(*args, **kwargs):
                _schedule(fn, duration, args, kwargs)
                payload = pickle.dumps((args, kwargs))
                stop = ctx.Event()                           # made before the fork: inherited
                parent, child = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_stream_child, args=(child, fn, payload, stop))
                p.start()
                child.close()
                try:
                    while True:
                        kind, value = _answer(parent, p)
                        if kind == "error":
                            raise RuntimeError(f"ZeroGPU worker error: {value}")
                        if kind == "end":
                            return
                        yield value
                except GeneratorExit:
                    stop.set()
                    try:   # what the child sends until it sees the stop, so it never blocks on a full pipe
                        while parent.poll(TIMEOUT_S) and pickle.loads(parent.recv_bytes())[0] == "item":
                            pass
                    except EOFError:
                        pass
                    raise
                finally:
                    p.join(60)
            return stream

        @wraps(fn)
        def call(*args, **kwargs):
            _schedule(fn, duration, args, kwargs)
            payload = pickle.dumps((args, kwargs))          # PicklingError here, as on ZeroGPU
            parent, child = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_child, args=(child, fn, payload))
            p.start()
            child.close()
            kind, value = _answer(parent, p)
            p.join(60)
            if kind == "error":
                raise RuntimeError(f"ZeroGPU worker error: {value}")
            return value
        return call
    return wrap
