"""Cost of train_step's guards (issue 15) next to the step itself, same run.

The guards: the parameter check, the scalar checks, the model's write lock, the snapshot
of the parameters before the update and the finiteness pass over them after it, the
target count of the loss watch. Run from the checkout: ``python benches/guard_overhead.py``
(batch 16, T 10, H 100, V 27, lr 0.001); prints medians of 5 rounds.
"""

import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # this checkout's fastrnn
import fastrnn  # noqa: E402
from fastrnn._validation import all_finite, finite_float, representable  # noqa: E402


def measure(cls, dtype, rounds=5):
    m = cls(27, 100, dtype=dtype, seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.integers(0, 27, (10, 16)), rng.integers(0, 27, (10, 16))
    params = [m.params[k] for k in m.param_names]
    backup = [np.empty_like(p) for p in params]

    def step():
        m.train_step(X, Y, lr=0.001)

    def guards():
        m._checked_params()
        finite_float(0.001, "lr", dtype=m.dtype)
        finite_float(5.0, "clip", 0.0, dtype=m.dtype)
        representable(0.005, "lr * clip", m.dtype)
        with m._lock.write():
            for b, p in zip(backup, params):
                np.copyto(b, p)
            all_finite(params)
        np.count_nonzero(Y >= 0)

    step()
    t = np.median([min(timeit.repeat(step, number=50, repeat=3)) / 50 for _ in range(rounds)])
    g = np.median([min(timeit.repeat(guards, number=500, repeat=3)) / 500
                   for _ in range(rounds)])
    return t, g


if __name__ == "__main__":
    for cls in (fastrnn.RNN, fastrnn.LSTM):
        for dtype in (np.float32, np.float64):
            t, g = measure(cls, dtype)
            print(f"{cls.__name__} {np.dtype(dtype).name}: step {t * 1e6:.0f} us (guards "
                  f"included), guards {g * 1e6:.1f} us = {100 * g / (t - g):.2f} % of the "
                  "unguarded step")
