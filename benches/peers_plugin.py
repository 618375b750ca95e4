"""fastrnn adapter for the peer harness ``../shared/peers/bench.py``.

Run from the repository root (fastrnn is imported from this checkout; the compiled
modules must be built in place)::

    python ../shared/peers/bench.py --plugin benches/peers_plugin.py --cases a,b,e,s-rnn
    python ../shared/peers/bench.py --plugin benches/peers_plugin.py --cases a,b,s-rnn \\
        --quick --no-peaks --no-micro                               # smoke test

Registered implementations (library "fastrnn"):

- train ``fastrnn-f64``, ``fastrnn-f32``: one fused kernel call per training step
  (``RNNTrainer.step`` / ``lstm_train_step_ix``: forward, summed cross-entropy, BPTT,
  clip to [-5, 5], SGD lr 0.01, in place), zero initial state, with fastrnn's default
  (automatic) thread setting: each call runs on the kernels' team of all cores or on
  one thread, whichever that kind of call measured cheaper (``src_c/fastrnn/_team.h``).
- train ``fastrnn-f64 1 thread``, ``fastrnn-f32 1 thread``: the same with the kernels
  (``fastrnn.threads(1)``) and NumPy's and SciPy's BLAS at 1 thread.
- sample ``fastrnn-f64``, ``fastrnn-f32`` (and ``... 1 thread``): ``rnn_sample`` /
  ``lstm_sample`` once per call for all n characters, from the zero input and zero
  state, never stopping early, with n uniforms drawn per call from a seeded
  ``numpy.random.Generator``. The default rows run as the library does by default
  (the LSTM from ``PAIR_MIN_H`` hidden units on a pair of threads when it pays).

``make`` converts the harness's course-layout float64 parameters ONCE, outside the timed
step: RNN ``ba = b.ravel()``, ``by = by.ravel()``; LSTM stacked gates in fastrnn's order
[f, i, c, o] (``fastrnn.GATES``) with the course's ``W_g`` acting on ``[a_prev; x]``:
``Wh = vstack(W_g[:, :H])``, ``Wx = vstack(W_g[:, H:])``, ``b = vstack(b_g).ravel()``.
The harness's X / Y (int64 (T, m), X[0] = -1 for the zero input) are fastrnn's index
convention as they are. ``step`` is ``functools.partial(kernel, *args)``: no Python
frame of ours runs inside the timed call.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:                 # import fastrnn from this checkout
    sys.path.insert(0, _ROOT)

import fastrnn  # noqa: E402
from fastrnn import _ext  # noqa: E402

try:
    import threadpoolctl
except ImportError:  # pragma: no cover
    threadpoolctl = None

CLIP, LR = 5.0, 0.01
GATE_ORDER = ("f", "i", "c", "o")          # fastrnn.GATES; the stacked block order


def _threads(n):
    """Context factory for the harness: fastrnn's kernels at ``n`` threads (None: the
    default, automatic setting) and the BLAS of NumPy and SciPy at ``n`` threads (the
    kernels run SciPy's at one inside every call either way)."""
    def ctx():
        stack = contextlib.ExitStack()
        if n is not None:
            stack.enter_context(fastrnn.threads(n))
            if threadpoolctl is not None:
                stack.enter_context(threadpoolctl.threadpool_limits(limits=n, user_api="blas"))
        return stack
    return ctx


def rnn_layout(params, dtype):
    """Course RNN dict (Wax, Waa, Wya, b (H,1), by (Y,1)) -> fastrnn (Wax, Waa, ba, Wya, by)."""
    c = lambda a: np.ascontiguousarray(a, dtype=dtype)  # noqa: E731 - always a fresh copy below
    return {"Wax": c(params["Wax"]).copy(), "Waa": c(params["Waa"]).copy(),
            "ba": c(params["b"].ravel()).copy(), "Wya": c(params["Wya"]).copy(),
            "by": c(params["by"].ravel()).copy()}


def lstm_layout(params, dtype):
    """Course LSTM dict (W_g (H, H+X) on [a_prev; x], b_g (H,1), Wy, by) -> fastrnn stacked
    ``Wx (4H, X)``, ``Wh (4H, H)``, ``b (4H,)`` in gate order [f, i, c, o], ``Wy``, ``by (Y,)``."""
    H = params["Wy"].shape[1]
    W = [params["W" + g] for g in GATE_ORDER]
    c = lambda a: np.ascontiguousarray(a, dtype=dtype)  # noqa: E731 - vstack copies
    return {"Wx": c(np.vstack([w[:, H:] for w in W])),
            "Wh": c(np.vstack([w[:, :H] for w in W])),
            "b": c(np.vstack([params["b" + g] for g in GATE_ORDER]).ravel()),
            "Wy": c(params["Wy"]).copy(), "by": c(params["by"].ravel()).copy()}


def _train(dtype):
    dt = np.dtype(dtype)

    def make(case, params, X, Y):
        K = _ext.kernels("cython")
        X = np.ascontiguousarray(X, dtype=np.int64)
        Y = np.ascontiguousarray(Y, dtype=np.int64)
        T, m = X.shape
        H, V = case.n_a, case.n_y
        e = lambda *s: np.empty(s, dt)  # noqa: E731
        if case.cell == "rnn":
            # RNNTrainer converts the arguments once; a step converts only X and Y
            p = rnn_layout(params, dt)
            trainer = K.RNNTrainer(p["Wax"], p["Waa"], p["ba"], p["Wya"], p["by"], T, m,
                                   CLIP, LR)                 # a0 stays zero (no carry)
            return functools.partial(trainer.step, X, Y)
        p = lstm_layout(params, dt)
        args = (X, Y, p["Wx"], p["Wh"], p["b"], p["Wy"], p["by"],
                np.zeros((m, H), dt), np.zeros((m, H), dt),                  # a0, c0
                e(T, m, H), e(T, m, H), e(T, m, 4 * H), e(T, m, V), e(T, m, H),  # A C G P dA
                e(4 * H, case.n_x), e(4 * H, H), e(4 * H), e(V, H), e(V),    # grads
                e(m, H), e(m, H), CLIP, LR)                                  # da0, dc0
        return functools.partial(K.lstm_train_step_ix, *args)
    return make


def _sample(dtype, seed=0):
    dt = np.dtype(dtype)

    def make(case, params):
        K = _ext.kernels("cython")
        rng = np.random.default_rng(seed)
        H = case.n_a
        outs = {}
        if case.cell == "rnn":
            p = rnn_layout(params, dt)
            a = np.zeros(H, dt)
            fn = K.rnn_sample
            head = (p["Wax"], p["Waa"], p["ba"], p["Wya"], p["by"], a)
            state = (a,)
        else:
            p = lstm_layout(params, dt)
            a, c = np.zeros(H, dt), np.zeros(H, dt)
            fn = K.lstm_sample
            head = (p["Wx"], p["Wh"], p["b"], p["Wy"], p["by"], a, c)
            state = (a, c)

        def gen(n):
            out = outs.get(n)
            if out is None:
                out = outs[n] = np.empty(n, np.int64)
            for s in state:                      # zero state, zero input (x0 = -1)
                s.fill(0)
            k = fn(*head, -1, rng.random(n), 1.0, 0, -1, out)
            return out[:k].tolist()
        return gen
    return make


def register(reg):
    """Register fastrnn's train steps and samplers with the peer harness."""
    if not _ext.compiled_available():
        print("peers_plugin: fastrnn's compiled kernels are not built; nothing registered",
              file=sys.stderr)
        return
    K = _ext.kernels("cython")
    cells = tuple(c for c in ("rnn", "lstm") if hasattr(K, f"{c}_train_step_ix"))
    sample_cells = tuple(c for c in ("rnn", "lstm") if hasattr(K, f"{c}_sample"))
    for dtype, short in (("float64", "f64"), ("float32", "f32")):
        for threads, suffix in ((None, ""), (1, " 1 thread")):
            name = f"fastrnn-{short}{suffix}"
            reg.train(name, _train(dtype), dtype=dtype, threads=threads,
                      context=_threads(threads), cells=cells, library="fastrnn")
            reg.sample(name, _sample(dtype), dtype=dtype, threads=threads,
                       context=_threads(threads), cells=sample_cells, library="fastrnn")
