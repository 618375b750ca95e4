"""Roofline of the batch-1 kernels: how fast can the BLAS matrix-vector products alone run?

At batch 1 every product inside a time step is a GEMV that reads its whole matrix once,
so the GEMVs put a floor under the step time that no element-wise work can remove. This
script times, in one run and interleaved:

- one GEMV ``y = W @ x`` through the kernels' own row-major shim (SciPy's BLAS, 1 thread)
  for the recurrent matrix of the LSTM (4H x H) and the RNN (H x H), float64 and float32,
  and the same product through ``src_c/fastrnn/_gemv.h`` (the batch-1 LSTM's row
  product, AVX-512F), which the LSTM kernels use where it applies;
- the same GEMV on two threads at once, each with its own matrix and vector (does the
  second core add bandwidth, or do the two cores share it?);
- the real kernels: the LSTM training step at the harness's case (e) (H=100, T=25,
  B=1: 2T recurrent GEMVs, forward and backward carry) and LSTM / RNN sampling per
  character (one recurrent and one output GEMV per character);
- when ``../shared/peers/numpy_course.py`` is there, the course-style NumPy code for the
  same work, so that the best ratio any implementation could reach with these GEMVs
  (NumPy time / GEMV floor) is printed beside the ratio fastrnn reaches.

Run from the repository root (compiled modules built in place)::

    python benches/roofline.py                # about 1 minute
    python benches/roofline.py --rounds 11

Nothing here is asserted: the machine is shared and noisy; medians of interleaved rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import numpy as np

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from fastrnn import _ext  # noqa: E402

try:
    import threadpoolctl
except ImportError:  # pragma: no cover
    threadpoolctl = None

_PEERS = os.path.join(os.path.dirname(_ROOT), "shared", "peers")


def _numpy_course():
    """The harness's course-style NumPy module, or None when ../shared/peers is absent."""
    if not os.path.isfile(os.path.join(_PEERS, "numpy_course.py")):
        return None
    if _PEERS not in sys.path:
        sys.path.insert(0, _PEERS)
    import numpy_course  # noqa: E402
    return numpy_course


def _time(fn, reps):
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def gemv_time(W, reps, own=False):
    """Seconds per GEMV ``W @ x`` through BLAS, or (``own``) through the kernels' row
    product (the loop runs in C without the GIL)."""
    from fastrnn import _ops
    x = np.full(W.shape[1], 1e-3, W.dtype)
    y = np.zeros(W.shape[0], W.dtype)
    _ops._gemv_loop(W, x, y, 10, own)
    t = time.perf_counter()
    _ops._gemv_loop(W, x, y, reps, own)
    return (time.perf_counter() - t) / reps


def gemv_time_two_threads(W, reps):
    """Seconds per GEMV when two threads run GEMV loops at once, each on its own copy."""
    from fastrnn import _ops
    mats = [W.copy(), W.copy()]
    xs = [np.ones(W.shape[1], W.dtype) for _ in range(2)]
    ys = [np.empty(W.shape[0], W.dtype) for _ in range(2)]
    barrier = threading.Barrier(2)
    spans = [0.0, 0.0]

    def work(k):
        _ops._gemv_loop(mats[k], xs[k], ys[k], 10)
        barrier.wait()
        t = time.perf_counter()
        _ops._gemv_loop(mats[k], xs[k], ys[k], reps)
        spans[k] = (time.perf_counter() - t) / reps

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return max(spans)


def lstm_problem(dt, H=100, X=27, T=25, seed=0):
    rng = np.random.default_rng(seed)
    p = {"Wx": rng.standard_normal((4 * H, X)) * 0.01,
         "Wh": rng.standard_normal((4 * H, H)) * 0.01,
         "b": np.zeros(4 * H), "Wy": rng.standard_normal((X, H)) * 0.01,
         "by": np.zeros(X)}
    p = {k: v.astype(dt) for k, v in p.items()}
    Xi = rng.integers(0, X, (T, 1))
    Xi[0] = -1
    Yi = rng.integers(0, X, (T, 1))
    return p, Xi.astype(np.int64), Yi.astype(np.int64)


def fastrnn_lstm_step(dt, H=100, X=27, T=25):
    K = _ext.kernels("cython")
    p, Xi, Yi = lstm_problem(dt, H, X, T)
    e = lambda *s: np.empty(s, dt)  # noqa: E731
    args = (Xi, Yi, p["Wx"], p["Wh"], p["b"], p["Wy"], p["by"],
            np.zeros((1, H), dt), np.zeros((1, H), dt), e(T, 1, H), e(T, 1, H),
            e(T, 1, 4 * H), e(T, 1, X), e(T, 1, H), e(4 * H, X), e(4 * H, H), e(4 * H),
            e(X, H), e(X), e(1, H), e(1, H), 5.0, 0.01)
    return lambda: K.lstm_train_step_ix(*args)


def fastrnn_sampler(cell, dt, n, H=100, X=27):
    K = _ext.kernels("cython")
    rng = np.random.default_rng(1)
    out = np.empty(n, np.int64)
    u = rng.random(n)
    if cell == "lstm":
        p, _, _ = lstm_problem(dt, H, X)
        a, c = np.zeros(H, dt), np.zeros(H, dt)
        return lambda: K.lstm_sample(p["Wx"], p["Wh"], p["b"], p["Wy"], p["by"], a, c,
                                     -1, u, 1.0, 0, -1, out)
    W = lambda *s: (rng.standard_normal(s) * 0.01).astype(dt)  # noqa: E731
    Wax, Waa, Wya = W(H, X), W(H, H), W(X, H)
    ba, by, a = np.zeros(H, dt), np.zeros(X, dt), np.zeros(H, dt)
    return lambda: K.rnn_sample(Wax, Waa, ba, Wya, by, a, -1, u, 1.0, 0, -1, out)


def numpy_lstm_step(nc, H=100, X=27, T=25):
    params = nc.initialize_lstm(H, X, X, seed=1)
    _, Xi, Yi = lstm_problem(np.float64, H, X, T)
    a0 = np.zeros((H, 1))
    return lambda: nc.lstm_optimize(Xi, Yi, a0, params)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    args = ap.parse_args(argv)
    if not _ext.compiled_available():
        sys.exit("roofline: the compiled kernels are not built (python setup.py build_ext --inplace)")
    if threadpoolctl is not None:
        threadpoolctl.threadpool_limits(1, user_api="blas")
    nc = _numpy_course()
    H, X, T, NCH = 100, 27, 25, 200
    rows = {}

    def add(key, seconds):
        rows.setdefault(key, []).append(seconds)

    mats = {(kind, dt): np.random.default_rng(3).standard_normal(
                (4 * H if kind == "lstm" else H, H)).astype(dt)
            for kind in ("lstm", "rnn") for dt in ("float64", "float32")}
    outw = {dt: np.random.default_rng(4).standard_normal((X, H)).astype(dt)
            for dt in ("float64", "float32")}
    steps = {dt: fastrnn_lstm_step(np.dtype(dt), H, X, T) for dt in ("float64", "float32")}
    samplers = {(cell, dt): fastrnn_sampler(cell, np.dtype(dt), NCH, H, X)
                for cell in ("lstm", "rnn") for dt in ("float64", "float32")}
    np_step = numpy_lstm_step(nc, H, X, T) if nc is not None else None
    if nc is not None:
        np_params = {"lstm": nc.initialize_lstm(H, X, X, seed=1),
                     "rnn": nc.initialize_rnn(H, X, X, seed=1)}
    for _ in range(args.rounds):
        for (kind, dt), W in mats.items():
            add(("gemv", kind, dt), gemv_time(W, 4000))
            add(("rows", kind, dt), gemv_time(W, 4000, own=True))
            add(("gemv2", kind, dt), gemv_time_two_threads(W, 4000))
        for dt, W in outw.items():
            add(("gemv", "out", dt), gemv_time(W, 4000))
            add(("rows", "out", dt), gemv_time(W, 4000, own=True))
        for dt, fn in steps.items():
            add(("step", "lstm", dt), _time(fn, 40))
        for (cell, dt), fn in samplers.items():
            add(("sample", cell, dt), _time(fn, 20) / NCH)
        if np_step is not None:
            add(("numpy-step", "lstm", "float64"), _time(np_step, 5))
            for cell in ("lstm", "rnn"):
                fn = nc.lstm_sample if cell == "lstm" else nc.rnn_sample
                add(("numpy-sample", cell, "float64"),
                    _time(lambda: fn(np_params[cell], 50, seed=0), 10) / 50)
    med = {k: float(np.median(v)) for k, v in rows.items()}
    us = lambda s: f"{s * 1e6:.2f}"  # noqa: E731

    print(f"# roofline of the batch-1 kernels (H={H}, X=Y={X}; LSTM train step T={T}); "
          f"{args.rounds} interleaved rounds, medians\n")
    print("| GEMV (1 BLAS thread) | dtype | µs per GEMV | GB/s | µs per GEMV, 2 threads at once "
          "(own data) | slowdown | µs, _gemv.h row product |")
    print("|---|---|---|---|---|---|---|")
    for (kind, dt), W in list(mats.items()) + [(("out", dt), outw[dt]) for dt in outw]:
        t1, t2 = med[("gemv", kind, dt)], med.get(("gemv2", kind, dt))
        label = (f"{W.shape[0]}x{W.shape[1]} "
                 f"({dict(lstm='LSTM Wh', rnn='RNN Waa', out='output layer')[kind]})")
        two = f"{us(t2)} | {t2 / t1:.2f}x" if t2 else "- | -"
        print(f"| {label} | {dt} | {us(t1)} | {W.nbytes / t1 / 1e9:.0f} | {two} | "
              f"{us(med[('rows', kind, dt)])} |")
    print()
    # the floors: the products the kernels run, through _gemv.h where it applies, else
    # BLAS: the faster of the two
    prod = {key: min(med[("gemv",) + key], med[("rows",) + key])
            for key in [(kind, dt) for kind in ("lstm", "rnn", "out")
                        for dt in ("float64", "float32")]}
    print("| work | dtype | product floor µs | fastrnn µs | fastrnn / floor | NumPy course µs "
          "| best possible ratio (NumPy / floor) | fastrnn ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for dt in ("float64", "float32"):
        floor = 2 * T * prod[("lstm", dt)]   # forward + backward carry per step
        got = med[("step", "lstm", dt)]
        npt = med.get(("numpy-step", "lstm", "float64"))
        tail = (f"{us(npt)} | {npt / floor:.1f}x | {npt / got:.1f}x" if npt else "- | - | -")
        print(f"| LSTM train step (e), 2T recurrent GEMVs | {dt} | {us(floor)} | {us(got)} | "
              f"{got / floor:.2f} | {tail} |")
    for cell in ("lstm", "rnn"):
        for dt in ("float64", "float32"):
            floor = prod[(cell, dt)] + prod[("out", dt)]
            got = med[("sample", cell, dt)]
            npt = med.get(("numpy-sample", cell, "float64"))
            tail = (f"{us(npt)} | {npt / floor:.1f}x | {npt / got:.1f}x" if npt
                    else "- | - | -")
            print(f"| {cell.upper()} sampling, per character (recurrent + output GEMV) | {dt} "
                  f"| {us(floor)} | {us(got)} | {got / floor:.2f} | {tail} |")
    if nc is None:
        print("\n(../shared/peers/numpy_course.py not found: NumPy columns left out)")


if __name__ == "__main__":
    main()
