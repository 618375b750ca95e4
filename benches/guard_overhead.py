"""Cost of train_step's guards (issue 15) next to the step itself, same run.

The guards: the parameter check, the scalar checks, the model's write lock, the
snapshot of the parameters and the finiteness pass over them after the update, the
target count of the loss watch. Run: ``python benches/guard_overhead.py`` from the
checkout (batch 16, T 10, H 100, V 27); reports medians of 5 rounds.
"""
import timeit

import numpy as np

import fastrnn
from fastrnn._validation import all_finite
for cell in ("rnn", "lstm"):
  for dt in (np.float32, np.float64):
    m = (fastrnn.RNN if cell=="rnn" else fastrnn.LSTM)(27, 100, dtype=dt, seed=0)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 27, (10, 16)); Y = rng.integers(0, 27, (10, 16))
    f = lambda: m.train_step(X, Y, lr=0.001)
    f()
    params = list(m.params.values()); backup=[np.empty_like(p) for p in params]
    from fastrnn._validation import finite_float, representable
    def guard():
        m._checked_params()
        finite_float(0.001, "lr", dtype=m.dtype); finite_float(5.0, "clip", 0.0, dtype=m.dtype)
        representable(0.005, "lr*clip", m.dtype)
        with m._lock.write(): pass
        for b, p in zip(backup, params): np.copyto(b, p)
        all_finite(params)
        np.count_nonzero(Y >= 0)
    r = []
    for rep in range(5):
        t = min(timeit.repeat(f, number=50, repeat=3))/50
        g = min(timeit.repeat(guard, number=200, repeat=3))/200
        r.append((t, g))
    t = np.median([x[0] for x in r]); g = np.median([x[1] for x in r])
    print(f"{cell} {np.dtype(dt).name}: step {t*1e6:.0f} us (with guards), guards {g*1e6:.1f} us = {100*g/(t-g):.2f} % of the unguarded step")
