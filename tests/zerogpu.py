"""A test double for ``spaces.GPU`` on ZeroGPU: the call runs in a process forked from
this one, its arguments and result travel pickled (as ``spaces/zero/wrappers.py`` sends
them through its queues), and a change it makes to an argument stays in the child."""
from __future__ import annotations

import multiprocessing
import pickle
from functools import wraps

TIMEOUT_S = 300   # a hung child fails the test instead of hanging it


def _child(conn, fn, payload):
    try:
        args, kwargs = pickle.loads(payload)
        conn.send_bytes(pickle.dumps(("ok", fn(*args, **kwargs))))
    except BaseException as e:  # the child's error goes back, as spaces sends it
        conn.send_bytes(pickle.dumps(("error", repr(e))))
    finally:
        conn.close()


def zero_gpu_double(duration=None):
    def wrap(fn):
        @wraps(fn)
        def call(*args, **kwargs):
            payload = pickle.dumps((args, kwargs))          # PicklingError here, as on ZeroGPU
            ctx = multiprocessing.get_context("fork")
            parent, child = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_child, args=(child, fn, payload))
            p.start()
            child.close()
            if not parent.poll(TIMEOUT_S):
                p.kill()
                raise RuntimeError(f"ZeroGPU worker gave no answer in {TIMEOUT_S} s")
            kind, value = pickle.loads(parent.recv_bytes())
            p.join(60)
            if kind == "error":
                raise RuntimeError(f"ZeroGPU worker error: {value}")
            return value
        return call
    return wrap
