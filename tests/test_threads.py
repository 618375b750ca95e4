"""One model shared by several threads (issue 15).

Read-only calls from 4 threads must give exactly the results of the same calls made
one after the other; training calls from 4 threads are serialized (no NaN, no error).

CI runs ``FASTRNN_THREAD_CALLS`` = 400 (4 threads x 200 read calls for each cell and
dtype: 3,200 calls); the issue's floor of 10,000 calls on one shared model is checked on
demand with ``FASTRNN_THREAD_CALLS=5000 python -m pytest tests/test_threads.py -s``
(4 x 2,500 = 10,000 calls on each model; it prints the counts).
"""

import os
import threading

import numpy as np
import pytest

import fastrnn

CALLS = int(os.environ.get("FASTRNN_THREAD_CALLS", "400"))
THREADS = 4


def _cases(model, rng, n):
    """``n`` random read-only calls: (name, args, kwargs)."""
    V = model.input_size
    out = []
    for i in range(n):
        T, B = int(rng.integers(1, 9)), int(rng.integers(1, 5))
        X = rng.integers(-1, V, (T, B))
        Y = rng.integers(0, V, (T, B))
        kind = i % 5
        if kind == 0:
            out.append(("loss_and_grads", (X, Y), {}))
        elif kind == 1:
            out.append(("forward", (X,), {}))
        elif kind == 2:
            out.append(("predict_proba", (X,), {}))
        elif kind == 3:
            out.append(("loss", (X, Y), {}))
        else:
            out.append(("sample", (int(rng.integers(1, 30)),),
                        {"seed": int(rng.integers(1 << 30)), "temperature": 0.8}))
    return out


def _flat(result):
    """A result as a list of arrays, to compare exactly."""
    if isinstance(result, tuple):
        return [a for r in result for a in _flat(r)]
    if isinstance(result, dict):
        return [result[k] for k in sorted(result)]
    return [np.asarray(result)]


def _same(a, b):
    fa, fb = _flat(a), _flat(b)
    return len(fa) == len(fb) and all(x.shape == y.shape and np.array_equal(x, y)
                                      for x, y in zip(fa, fb))


def _run_threads(fn, n_threads=THREADS):
    errors = []
    barrier = threading.Barrier(n_threads)

    def target(i):
        try:
            barrier.wait()
            fn(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    ts = [threading.Thread(target=target, args=(i,)) for i in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shared_model_read_only_calls_match_sequential(cell, dtype):
    cls = fastrnn.RNN if cell == "rnn" else fastrnn.LSTM
    model = cls(11, 24, dtype=dtype, seed=1, init_scale=0.3)
    rng = np.random.default_rng(7)
    cases = _cases(model, rng, CALLS // 2)
    expected = [getattr(model, name)(*a, **kw) for name, a, kw in cases]
    wrong = [0] * THREADS

    def work(i):
        order = np.random.default_rng(i).permutation(len(cases))
        for j in order:
            name, a, kw = cases[j]
            if not _same(getattr(model, name)(*a, **kw), expected[j]):
                wrong[i] += 1

    _run_threads(work)
    print(f"{cell} {np.dtype(dtype).name}: {THREADS * len(cases)} concurrent calls, "
          f"{sum(wrong)} wrong")
    assert sum(wrong) == 0


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_concurrent_training_is_serialized(cell):
    cls = fastrnn.RNN if cell == "rnn" else fastrnn.LSTM
    model = cls(11, 24, dtype=np.float32, seed=1, init_scale=0.3)
    steps = max(10, CALLS // 40)
    data = [np.random.default_rng(i).integers(0, 11, (8, 1 + i % 3)) for i in range(THREADS)]
    losses = [[] for _ in range(THREADS)]

    def work(i):
        X = data[i]
        for _ in range(steps):
            loss, _ = model.train_step(X, np.roll(X, -1, axis=0), lr=0.05)
            losses[i].append(loss)
            model.loss(X, np.roll(X, -1, axis=0))       # a read between the writes

    _run_threads(work)
    assert all(np.isfinite(v).all() for v in model.params.values())
    assert all(np.isfinite(l).all() and len(l) == steps for l in losses)
    # serialized steps are plain SGD steps: the loss on each thread's data went down
    for i in range(THREADS):
        assert losses[i][-1] < losses[i][0]


def test_serialized_training_equals_some_sequential_order():
    """Two threads, one step each, on one model: the result is one of the two orders."""
    X1 = np.array([[-1], [1], [2], [3]])
    X2 = np.array([[-1, -1], [4, 5], [6, 7]])
    data = [X1, X2]

    def fresh():
        return fastrnn.RNN(11, 16, dtype=np.float64, seed=2, init_scale=0.3)

    orders = []
    for first, second in ((0, 1), (1, 0)):
        m = fresh()
        for i in (first, second):
            m.train_step(data[i], np.roll(data[i], -1, axis=0), lr=0.1)
        orders.append({k: v.copy() for k, v in m.params.items()})
    for _ in range(5):
        m = fresh()
        _run_threads(lambda i: m.train_step(data[i], np.roll(data[i], -1, axis=0), lr=0.1), 2)
        assert any(all(np.array_equal(m.params[k], o[k]) for k in o) for o in orders)
