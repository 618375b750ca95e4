"""Property-based tests (hypothesis) of every public entry point, and the fuzz driver's
CI slice (issue 15).

Bad and edge arguments must raise ValueError/TypeError naming the argument; valid ones
must give the same result on the cython and numpy backends. The hostile calls come from
tests/fuzzcalls.py (shared with tests/fuzz_driver.py).

Profiles: CI runs ``FASTRNN_FUZZ_EXAMPLES`` = 40 examples per test, derandomized (a
fixed seed), and a fuzz-driver slice of ``FASTRNN_FUZZ_CALLS`` = 1500 calls with
``FASTRNN_FUZZ_SEED`` = 0. On demand, e.g.::

    FASTRNN_FUZZ_EXAMPLES=2000 FASTRNN_FUZZ_RANDOM=1 python -m pytest tests/test_fuzz.py
    python tests/fuzz_driver.py --calls 15000 --seed 7
"""

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastrnn
import fuzzcalls
import fuzz_driver

EXAMPLES = int(os.environ.get("FASTRNN_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize=not os.environ.get("FASTRNN_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


class DrawChooser:
    """The chooser of hypothesis: every choice is a draw (so examples shrink)."""

    def __init__(self, data):
        self.data = data

    def pick(self, seq):
        return seq[self.data.draw(st.integers(0, len(seq) - 1))]

    def integer(self, lo, hi):
        return self.data.draw(st.integers(lo, hi))


def check(label, fn, bad, dtype=np.float64):
    status, detail = fuzzcalls.run_call(label, fn, bad, dtype)
    assert status in ("ok", "rejected"), f"{status}: {label}\n{detail}"
    return status


@FUZZ
@pytest.mark.parametrize("kind", fuzzcalls.KINDS)
@given(data=st.data())
def test_hostile_calls(kind, data):
    label, fn, bad, dtype = fuzzcalls.build_call(DrawChooser(data), kind)
    check(label, fn, bad, dtype)


ANY_INT = st.one_of(st.integers(-3, 10), st.integers(-(2**70), 2**70))
ANY_FLOAT = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                      st.floats(min_value=0, max_value=1e-290),
                      st.sampled_from([0.0, 1e-320, 5e-324, 1e-45, 3.5e38, 1e39, 2**1100]))


@FUZZ
@given(cell=st.sampled_from(["rnn", "lstm"]), dtype=st.sampled_from([np.float32, np.float64]),
       n=ANY_INT, temperature=ANY_FLOAT, top_k=ANY_INT, start=ANY_INT, stop=ANY_INT,
       seed=st.integers(0, 2**64))
def test_sample_arguments(cell, dtype, n, temperature, top_k, start, stop, seed):
    kw = dict(n=n, temperature=temperature, top_k=top_k, start=start, stop=stop, seed=seed)
    bad = ["n", "temperature", "top_k", "start", "stop"]
    check(f"{cell}.sample({kw})", lambda: fuzzcalls.make_model(cell, dtype).sample(**kw), bad,
          dtype)


@FUZZ
@given(cell=st.sampled_from(["rnn", "lstm"]), dtype=st.sampled_from([np.float32, np.float64]),
       lr=ANY_FLOAT, clip=ANY_FLOAT, T=st.integers(1, 6), B=st.integers(1, 3),
       seed=st.integers(0, 1000))
def test_train_step_scalars(cell, dtype, lr, clip, T, B, seed):
    """Any lr/clip: both backends agree, or both raise naming it; after an error the
    parameters are exactly those before the call."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-1, fuzzcalls.V, (T, B))
    Y = rng.integers(0, fuzzcalls.V, (T, B))

    def fn():
        m = fuzzcalls.make_model(cell, dtype)
        before = {k: v.copy() for k, v in m.params.items()}
        try:
            loss, _ = m.train_step(X, Y, lr=lr, clip=clip)
        except ValueError:
            assert all(np.array_equal(m.params[k], before[k]) for k in before)
            raise
        return loss, {k: v.copy() for k, v in m.params.items()}
    check(f"{cell}.train_step(lr={lr}, clip={clip})", fn,
          ["lr", "clip", "lr * clip", "finite", "parameters"], dtype)


INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
              np.uint64, np.bool_]


@FUZZ
@given(dt=st.sampled_from(INT_DTYPES), T=st.integers(0, 5), B=st.integers(0, 3),
       values=st.lists(st.integers(-(2**64), 2**64), min_size=1, max_size=15),
       method=st.sampled_from(["loss", "forward", "predict_proba", "loss_and_grads",
                               "train_step"]))
def test_index_arrays_of_any_integer_dtype(dt, T, B, values, method):
    info = np.iinfo(dt) if dt is not np.bool_ else None
    vals = [v for v in values if info is None or info.min <= v <= info.max] or [0]
    X = np.resize(np.array(vals).astype(dt), (T, B))
    Y = np.zeros((T, B), np.int64)

    def fn():
        m = fuzzcalls.make_model("rnn", np.float64)
        return getattr(m, method)(X, **({} if method in ("forward", "predict_proba")
                                        else {"Y": Y}))
    check(f"rnn.{method}(X={X.dtype} {X.shape})", fn, ["X", "Y"])


@FUZZ
@given(sizes=st.tuples(ANY_INT, ANY_INT, ANY_INT), cls=st.sampled_from(["RNN", "LSTM"]),
       init_scale=ANY_FLOAT)
def test_constructor_sizes(sizes, cls, init_scale):
    kw = dict(input_size=sizes[0], hidden_size=sizes[1], output_size=sizes[2],
              init_scale=init_scale, seed=0)
    check(f"{cls}({kw})", lambda: fuzzcalls._probe(getattr(fastrnn, cls)(**kw)),
          ["input_size", "hidden_size", "output_size", "init_scale"])


@FUZZ
@given(name=st.sampled_from(["SGD", "Adam", "Adagrad"]), lr=ANY_FLOAT,
       g=st.floats(allow_nan=True, allow_infinity=True),
       p=st.floats(allow_nan=False, allow_infinity=False),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_optimizer_updates(name, lr, g, p, dtype):
    """Any lr, gradient and parameter values: an error before writing, or finite
    parameters equal on both backends."""
    with np.errstate(all="ignore"):
        pv, gv = np.array([p, 0.5], dtype), np.array([g, -0.25], dtype)

    def fn():
        params, grads = {"W": pv.copy()}, {"dW": gv.copy()}
        opt = getattr(fastrnn, name)(lr=lr)
        try:
            opt.step(params, grads)
        except ValueError:
            assert np.array_equal(params["W"], pv, equal_nan=True)
            raise
        return params["W"]
    check(f"{name}(lr={lr}).step(W={p}, dW={g})", fn, ["lr", "grads"], dtype)


@pytest.mark.parametrize("seed", [int(os.environ.get("FASTRNN_FUZZ_SEED", "0"))])
def test_fuzz_driver_slice(seed):
    """A slice of the fuzz driver: every call in a subprocess, crashes and hangs counted."""
    calls = int(os.environ.get("FASTRNN_FUZZ_CALLS", "1500"))
    counts, failures = fuzz_driver.drive(calls, seed, timeout=120.0)
    print(f"fuzz seed {seed}: {dict(counts)}")
    assert sum(v for k, v in counts.items() if ":" not in k) == calls
    assert not failures, failures[:5]
    if calls >= 500:          # the hostile calls are mostly rejected, some valid
        assert counts["rejected"] > calls // 2 and counts["ok"] > calls // 20
