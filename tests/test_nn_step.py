"""fastrnn.nn's streaming ``step``: the Stepper (compiled, and its twin) against forward,
its checks, and its binding to the parameter arrays."""

import numpy as np
import pytest

import fastrnn._ext as _ext
import fastrnn.nn as nn
from fastrnn.reference import _layers as ref

KINDS = ["RNN", "LSTM", "GRU"]


def _pair(state, kind):
    return state if kind == "LSTM" else (state,)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_step_matches_forward(kind, dtype, tol, B, bias, backend):
    m = getattr(nn, kind)(5, 6, num_layers=3, bias=bias, dtype=dtype, seed=1).eval()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, B, 5)).astype(dtype)
    h0 = rng.standard_normal((3, B, 6)).astype(dtype)
    hx = (h0, rng.standard_normal((3, B, 6)).astype(dtype)) if kind == "LSTM" else h0
    y, hn = m(x, hx)
    state = hx
    for t in range(6):
        yt, state = m.step(x[t], state)
        assert yt.dtype == dtype and yt.shape == (B, 6)
        np.testing.assert_allclose(yt, y[t], rtol=tol, atol=tol)
    for a, b in zip(_pair(state, kind), _pair(hn, kind)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", KINDS)
def test_compiled_stepper_equals_the_twin(kind):
    if not _ext.compiled_available():
        pytest.skip("compiled kernels not built")
    k = _ext.kernels("cython")
    m = getattr(nn, kind)(4, 7, num_layers=2, dtype=np.float64, seed=3)
    args = (m._cell, 2, 4, 7, 2, True, tuple(m.params.values()))
    a, b = k.Stepper(*args), ref.Stepper(*args)
    x = np.random.default_rng(0).standard_normal((2, 4))
    sa = sb = (None, None)
    for _ in range(4):
        ya, sa = a.step(x, *sa)
        yb, sb = b.step(x, *sb)
        if kind != "LSTM":
            sa, sb = (sa, None), (sb, None)
        np.testing.assert_allclose(ya, yb, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_earlier_states_stay_valid(kind, backend):
    """Each call returns new arrays: a state kept from an earlier step is not overwritten
    and can be stepped from again (branching, beam search)."""
    m = getattr(nn, kind)(3, 4, num_layers=2, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3))
    y1, s1 = m.step(x)
    keep = [a.copy() for a in _pair(s1, kind)]
    y2, s2 = m.step(x, s1)
    y3, s3 = m.step(x, s2)
    for a, b in zip(_pair(s1, kind), keep):
        assert np.array_equal(a, b)
    y2b, _ = m.step(x, s1)
    assert np.array_equal(y2, y2b) and not np.shares_memory(y2, y3)


def test_stepper_follows_the_parameters(backend):
    """In-place updates (optimizer, load_state_dict) are seen by the next step, and a
    replaced parameter array rebinds the stepper."""
    m = nn.GRU(3, 4, num_layers=2, dtype=np.float64, seed=0)
    other = nn.GRU(3, 4, num_layers=2, dtype=np.float64, seed=9)
    x = np.random.default_rng(0).standard_normal((1, 3))
    m.step(x)
    m.load_state_dict(other.state_dict())              # in place, biases included
    assert np.array_equal(m.step(x)[0], other.step(x)[0])
    m.params["bias_hh_l1"] = m.params["bias_hh_l1"] + 1.0     # a new array
    other.params["bias_hh_l1"] += 1.0
    assert np.array_equal(m.step(x)[0], other.step(x)[0])
    m.step(np.zeros((5, 3)))                           # another batch size
    assert m._stepper.batch == 5


def test_step_converts_what_forward_converts(backend):
    m = nn.LSTM(3, 4, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 3))
    y, s = m.step(x[::2])                              # not contiguous
    assert np.array_equal(y, m.step(np.ascontiguousarray(x[::2]))[0])
    assert np.array_equal(y, m.step(x[::2].tolist())[0])
    y32, _ = m.step(x[::2].astype(np.float32), tuple(a.astype(np.float32) for a in s))
    assert y32.dtype == np.float64


@pytest.mark.parametrize("call, exc, match", [
    (lambda m: m.step(np.zeros((2, 5))), ValueError, "x_t"),
    (lambda m: m.step(np.zeros((0, 3))), ValueError, "x_t"),
    (lambda m: m.step(np.zeros(3)), ValueError, "x_t"),
    (lambda m: m.step(np.array([[1.0, np.nan, 0.0]])), ValueError, "x_t contains NaN"),
    (lambda m: m.step(np.zeros((2, 3)), np.zeros((2, 2, 4))), TypeError, "tuple"),
    (lambda m: m.step(np.zeros((2, 3)), (np.zeros((2, 3, 4)), np.zeros((2, 2, 4)))),
     ValueError, "h"),
    (lambda m: m.step(np.zeros((2, 3)), (np.zeros((2, 2, 4)), np.zeros((1, 2, 4)))),
     ValueError, "c"),
    (lambda m: m.step(np.zeros((2, 3)), (np.zeros((2, 2, 4)), np.full((2, 2, 4), np.inf))),
     ValueError, "NaN or infinity"),
    (lambda m: m.step(np.zeros((2, 3)), (np.zeros((2, 2, 4)), "c")), TypeError, "c_0"),
    (lambda m: m.step(np.zeros((2, 3)), (np.zeros((2, 2, 4)), None)), TypeError, "c_0"),
    (lambda m: m.step(None), TypeError, "x_t"),
    (lambda m: m.step(np.zeros((2, 3), np.int64)), None, None),
])
def test_step_bad_input(call, exc, match, backend):
    m = nn.LSTM(3, 4, num_layers=2, dtype=np.float64, seed=0)
    if exc is None:                       # accepted (converted)
        call(m)
        return
    with pytest.raises(exc, match=match):
        call(m)


def test_bidirectional_step_is_refused():
    with pytest.raises(ValueError, match="unidirectional"):
        nn.GRU(3, 4, bidirectional=True).step(np.zeros((1, 3)))


@pytest.mark.parametrize("args, exc, match", [
    (lambda p: (4, 1, 3, 4, 2, True, p), ValueError, "cell"),
    (lambda p: (3, 0, 3, 4, 2, True, p), ValueError, "at least one row"),
    (lambda p: (3, 1, 3, 4, 2, True, p[:-1]), ValueError, "parameters"),
    (lambda p: (3, 1, 3, 4, 2, False, p), ValueError, "parameters"),
    (lambda p: (3, 1, 5, 4, 2, True, p), ValueError, "weight_ih_l0"),
    (lambda p: (3, 1, 3, 4, 2, True, p[:5] + (p[5].T.copy(),) + p[6:]), ValueError,
     "weight_hh_l1"),
    (lambda p: (3, 1, 3, 4, 2, True, p[:2] + (p[2][::2],) + p[3:]), ValueError, "bias_ih_l0"),
    (lambda p: (3, 1, 3, 4, 2, True, (p[0].astype(np.float32),) + p[1:]), TypeError,
     "weight_hh_l0"),
])
def test_stepper_construction_checks(args, exc, match, backend):
    m = nn.GRU(3, 4, num_layers=2, dtype=np.float64, seed=0)
    p = tuple(m.params.values())
    with pytest.raises(exc, match=match):
        _ext.kernels().Stepper(*args(p))


def test_step_from_threads_gives_the_same_numbers():
    """Python threads stepping one layer at once (the stepper's scratch is taken by one
    call at a time; another call meanwhile gets its own)."""
    import threading

    m = nn.LSTM(8, 64, num_layers=2, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((50, 2, 8))
    y, _ = m.eval()(x)
    bad = []

    def run():
        s = None
        for t in range(50):
            yt, s = m.step(x[t], s)
            if not np.allclose(yt, y[t], rtol=1e-13, atol=1e-14):
                bad.append(t)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not bad
