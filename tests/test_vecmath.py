"""Accuracy of the kernels' vectorised tanh / exp (src_c/fastrnn/_vecmath.h) and the
RNNTrainer class against its NumPy twin."""

import math

import numpy as np
import pytest

import fastrnn._ext as ext
from conftest import assert_close


@pytest.fixture
def ops():
    if not ext.compiled_available():
        pytest.fail("compiled kernels are not built")
    from fastrnn import _ops
    return _ops


def _ulp_err(got, want):
    return np.abs(got - want) / np.spacing(np.maximum(np.abs(want), np.finfo(np.float64).tiny))


def test_tanh_is_accurate_to_a_few_ulp(ops):
    x = np.concatenate([np.linspace(-20, 20, 40001), np.geomspace(1e-300, 1, 2000),
                        -np.geomspace(1e-300, 1, 2000), [0.0, -0.0, 0.625, -0.625, 710.0]])
    y = x.copy()
    ops._vec_tanh(y)
    want = np.array([math.tanh(v) for v in x])
    assert _ulp_err(y, want).max() <= 4
    assert np.signbit(y[x == 0]).tolist() == np.signbit(x[x == 0]).tolist()
    z = np.array([np.inf, -np.inf, np.nan])
    ops._vec_tanh(z)
    assert z[0] == 1.0 and z[1] == -1.0 and np.isnan(z[2])


def test_exp_is_accurate_to_a_few_ulp(ops):
    x = np.concatenate([np.linspace(-700, 700, 20001), np.linspace(-1, 1, 2001)])
    y = x.copy()
    ops._vec_exp(y)
    want = np.array([math.exp(v) for v in x])
    assert _ulp_err(y, want).max() <= 4
    big = np.array([-1000.0, 1000.0])
    ops._vec_exp(big)
    assert 0 <= big[0] < 1e-300 and np.isfinite(big[1])      # saturates, never NaN


def test_float32_versions(ops):
    x = np.linspace(-9, 9, 5001).astype(np.float32)
    y = x.copy()
    ops._vec_tanh(y)
    np.testing.assert_allclose(y, np.tanh(x.astype(np.float64)), rtol=1.2e-7, atol=1e-30)
    # both branches of the float32 tanh (x itself below 2^-13, the exp form above) and
    # the tails, both signs; zeros keep their sign, infinities give +-1, NaN stays NaN
    g = np.geomspace(1e-30, 40, 40001).astype(np.float32)
    g = np.concatenate([g, -g, np.float32([2.0 ** -13, np.nextafter(2.0 ** -13, 0)])])
    y = g.copy()
    ops._vec_tanh(y)
    np.testing.assert_allclose(y, np.tanh(g.astype(np.float64)), rtol=1.2e-7, atol=0)
    z = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan])
    ops._vec_tanh(z)
    assert np.signbit(z[:2]).tolist() == [False, True]
    assert z[2] == 1.0 and z[3] == -1.0 and np.isnan(z[4])
    e = np.linspace(-80, 80, 5001).astype(np.float32)
    f = e.copy()
    ops._vec_exp(f)
    np.testing.assert_allclose(f, np.exp(e.astype(np.float64)), rtol=1.2e-7)
    big = np.array([-1000.0, 1000.0, -87.0, 88.0], dtype=np.float32)
    ops._vec_exp(big)
    assert np.isfinite(big).all() and 0 <= big[0] < 1e-37 and big[1] > 1e38


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", ["_vec_tanh", "_vec_exp", "_vec_sigmoid"])
def test_a_call_split_at_a_multiple_of_16_gives_the_same_bits(ops, dtype, fn):
    """The LSTM sampler's two threads activate the units [0, s) and [s, H) of a step,
    s a multiple of 16, and must get the bits of one call over [0, H) (sampling's states
    equal forward()'s): each part's entries fall on the same side of the vectorised
    loop's tail as in the whole call."""
    f = getattr(ops, fn)
    for n in range(33, 140, 7):
        x = np.random.default_rng(n).uniform(-6, 6, n).astype(dtype)
        whole = x.copy()
        f(whole)
        for s in range(16, n, 16):
            head, tail = x[:s].copy(), x[s:].copy()
            f(head)
            f(tail)
            np.testing.assert_array_equal(np.concatenate([head, tail]), whole,
                                          err_msg=f"n = {n}, split at {s}")


def _dot_bound(W, x, y0):
    """|y0 + W @ x - exact| <= gamma_{N+1} (|y0| + |W| @ |x|), gamma_k = k u / (1 - k u),
    u the unit roundoff of the dtype (2^-24, 2^-53): the bound of any summation order
    (Higham, Accuracy and Stability of Numerical Algorithms, 3.1); the exact values in
    x86 extended precision."""
    k = W.shape[1] + 1
    u = np.finfo(W.dtype).eps / 2
    return k * u / (1 - k * u) * (np.abs(y0).astype(np.longdouble)
                                  + np.abs(W).astype(np.longdouble) @ np.abs(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M, N", [(1, 1), (7, 9), (15, 17), (16, 16), (27, 100), (33, 128),
                                  (400, 100), (400, 97), (5, 129), (390, 130), (768, 256),
                                  (21, 257), (3, 1000)])
def test_row_product_is_accurate_and_its_rows_do_not_depend_on_the_call(ops, dtype, M, N):
    """The row product of the batch-1 LSTM steps (src_c/fastrnn/_gemv.h on an AVX-512F
    CPU, else BLAS): y += W @ x within the error bound of a sum in the dtype, and
    each entry's bits the same whatever rows share the call, in either direction (the
    pair of threads multiplies two parts of the rows; odd steps run the rows backwards).
    Past 128 columns (129 ...) the kernel reads x from L1 instead of registers, the same
    summation order."""
    rng = np.random.default_rng(M * 1000 + N)
    W = rng.uniform(-1, 1, (M, N)).astype(dtype)
    x = rng.uniform(-1, 1, N).astype(dtype)
    y0 = rng.uniform(-1, 1, M).astype(dtype)
    exact = y0.astype(np.longdouble) + W.astype(np.longdouble) @ x.astype(np.longdouble)
    for blas in (False, True):
        y = y0.copy()
        own = ops._row_product(W, x, y, blas=blas)
        assert not (own and blas)
        assert np.all(np.abs(y - exact) <= _dot_bound(W, x, y0))
        if not own:
            continue
        yr = y0.copy()
        ops._row_product(W, x, yr, rev=True)
        np.testing.assert_array_equal(yr, y)
        for s in sorted({1, M // 3, M // 2, M - 1} - {0, M}):
            yp = y0.copy()
            ops._row_product(W[:s], x, yp[:s])
            ops._row_product(W[s:], x, yp[s:], rev=True)
            np.testing.assert_array_equal(yp, y, err_msg=f"rows split at {s}")
    if ops.simd_level() == "avx512f":
        assert ops._row_product(W, x, y0.copy())         # the kernel, not BLAS, ran above


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M, N", [(1, 1), (7, 9), (200, 100), (400, 128), (33, 17), (3, 129),
                                  (300, 257), (768, 256), (5, 1000)])
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_transposed_row_product_is_accurate(ops, dtype, M, N, beta):
    """The carry dz @ Wh of the batch-1 LSTM backward (src_c/fastrnn/_gemv.h on an
    AVX-512F CPU for beta 0 or 1, else BLAS): y = beta y + W.T @ x within the error
    bound of a sum in the dtype, the same bits on a second call, and no NaN or stale
    value from a beta-0 y (filled with NaN here); past 128 columns in groups of 128,
    each y[j] summing its rows in the same order as the first 128."""
    rng = np.random.default_rng(M * 1000 + N)
    W = rng.uniform(-1, 1, (M, N)).astype(dtype)
    x = rng.uniform(-1, 1, M).astype(dtype)
    y0 = rng.uniform(-1, 1, N).astype(dtype) if beta else np.full(N, np.nan, dtype)
    b = dtype(beta)
    exact = (W.T.astype(np.longdouble) @ x.astype(np.longdouble)
             + (b * y0.astype(np.longdouble) if beta else 0))
    bound = _dot_bound(W.T, x, b * y0 if beta else np.zeros(N, dtype))
    for blas in (False, True):
        y = y0.copy()
        own = ops._row_product(W, x, y, trans=True, beta=beta, blas=blas)
        assert own == (not blas and beta in (0.0, 1.0) and ops.simd_level() == "avx512f")
        assert np.all(np.abs(y - exact) <= bound), f"blas={blas}"
        y2 = y0.copy()
        ops._row_product(W, x, y2, trans=True, beta=beta, blas=blas)
        np.testing.assert_array_equal(y2, y)
        if own and N > 128:                 # a group of 128 columns: as 128 columns alone
            y3 = y0[:128].copy()
            ops._row_product(np.ascontiguousarray(W[:, :128]), x, y3, trans=True, beta=beta)
            np.testing.assert_array_equal(y3, y[:128])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B", [1, 2])
def test_trainer_matches_twin_and_carries_state(cy, ref, rng, dtype, B):
    H, V = 6, 5
    base = {"Wax": rng.standard_normal((H, V)), "Waa": rng.standard_normal((H, H)) * 0.5,
            "ba": rng.standard_normal(H) * 0.1, "Wya": rng.standard_normal((V, H)),
            "by": rng.standard_normal(V) * 0.1}
    seqs = []
    for T in (4, 7, 2, 7):
        X = rng.integers(0, V, size=(T, B))
        X[0] = -1
        seqs.append((X, rng.integers(0, V, size=(T, B))))
    res = []
    for k in (cy, ref):
        p = {n: v.astype(dtype) for n, v in base.items()}
        tr = k.RNNTrainer(p["Wax"], p["Waa"], p["ba"], p["Wya"], p["by"], 7, B, 0.8, 0.05)
        losses = [tr.step(X, Y, carry=True) for X, Y in seqs]
        res.append((losses, p, tr.a0.copy(), [g.copy() for g in tr.grads]))
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=rtol)
    for n in base:
        np.testing.assert_allclose(res[0][1][n], res[1][1][n], rtol=rtol, atol=rtol, err_msg=n)
    np.testing.assert_allclose(res[0][2], res[1][2], rtol=rtol, atol=rtol)
    for a, b in zip(res[0][3], res[1][3]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
        assert np.abs(a).max() <= 0.8


def test_trainer_equals_train_step_calls(cy, rng):
    """Carrying the state with RNNTrainer == calling rnn_train_step_ix with a0 = last A."""
    H, V = 5, 4
    p = {"Wax": rng.standard_normal((H, V)), "Waa": rng.standard_normal((H, H)) * 0.5,
         "ba": np.zeros(H), "Wya": rng.standard_normal((V, H)), "by": np.zeros(V)}
    q = {n: v.copy() for n, v in p.items()}
    tr = cy.RNNTrainer(*p.values(), 6, 1, 5.0, 0.01)
    a0 = np.zeros((1, H))
    for T in (3, 6, 1):
        X = rng.integers(-1, V, size=(T, 1))
        Y = rng.integers(0, V, size=(T, 1))
        l1 = tr.step(X, Y, carry=True)
        A = np.empty((T, 1, H))
        g = [np.empty_like(v) for v in q.values()]
        l2 = cy.rnn_train_step_ix(X, Y, *q.values(), a0, A, np.empty((T, 1, V)),
                                  np.empty((T, 1, H)), *g, np.empty((1, H)), 5.0, 0.01)
        a0 = A[-1].copy()
        assert l1 == l2
    for n in p:
        np.testing.assert_array_equal(p[n], q[n])


def test_trainer_rejects_bad_input(cy):
    H, V = 3, 4
    p = [np.zeros((H, V)), np.zeros((H, H)), np.zeros(H), np.zeros((V, H)), np.zeros(V)]
    with pytest.raises(TypeError, match="one dtype"):
        cy.RNNTrainer(p[0], p[1].astype(np.float32), *p[2:], 5, 1)
    with pytest.raises(ValueError, match="inconsistent"):
        cy.RNNTrainer(p[0], np.zeros((H, H + 1)), *p[2:], 5, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        cy.RNNTrainer(np.asfortranarray(p[0]), *p[1:], 5, 1)
    tr = cy.RNNTrainer(*p, 5, 1)
    with pytest.raises(ValueError, match="T <= 5"):
        tr.step(np.zeros((6, 1), np.int64), np.zeros((6, 1), np.int64))
    with pytest.raises(ValueError, match="X"):
        tr.step(np.array([[4]]), np.array([[0]]))
    with pytest.raises(ValueError, match="Y"):
        tr.step(np.array([[0]]), np.array([[4]]))
    with pytest.raises(ValueError):
        tr.step(np.zeros((0, 1), np.int64), np.zeros((0, 1), np.int64))


@pytest.mark.parametrize("B", [1, 3])
def test_trainer_run_equals_step_calls(cy, ref, rng, dtype, B):
    """``run`` (many examples in one call, the state carried) == ``step(..., carry=True)``
    per example in the same order: bit for bit in the compiled kernels, to the tolerance
    against the twin (whose ``run`` is the same loop)."""
    H, V = 6, 5
    base = {"Wax": rng.standard_normal((H, V)) * 0.5, "Waa": rng.standard_normal((H, H)) * 0.5,
            "ba": rng.standard_normal(H) * 0.1, "Wya": rng.standard_normal((V, H)) * 0.5,
            "by": rng.standard_normal(V) * 0.1}
    lengths = [3, 7, 1, 5]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    X = rng.integers(-1, V, size=(offsets[-1], B))
    Y = rng.integers(-1, V, size=(offsets[-1], B))
    order = np.array([2, 0, 3, 3, 1, 0, 2], np.int64)
    out = []
    for k, how in ((cy, "step"), (cy, "run"), (ref, "run")):
        p = {n: v.astype(dtype) for n, v in base.items()}
        tr = k.RNNTrainer(*p.values(), 7, B, 0.8, 0.05)
        if how == "step":
            losses = np.array([tr.step(X[offsets[e]:offsets[e + 1]], Y[offsets[e]:offsets[e + 1]],
                                       carry=True) for e in order])
        else:
            losses = np.full(len(order) + 2, -1.0)
            assert tr.run(X, Y, offsets, order, losses) == len(order)
            assert (losses[len(order):] == -1).all()           # nothing written past K
            losses = losses[:len(order)]
        out.append([losses, *p.values(), tr.a0.copy()])
    for a, b in zip(out[0], out[1]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(out[1], out[2]):
        assert_close(a, b, dtype)


def test_trainer_run_stops_at_a_non_finite_loss_and_rejects_bad_input(cy, ref):
    H, V = 3, 4
    for k in (cy, ref):
        p = [np.ones((H, V)), np.zeros((H, H)), np.zeros(H), np.full((V, H), np.nan),
             np.zeros(V)]
        tr = k.RNNTrainer(*p, 5, 1)
        X = np.array([[0], [1], [2], [0]], np.int64)
        Y = np.array([[1], [2], [0], [1]], np.int64)
        offsets = np.array([0, 2, 4], np.int64)
        losses = np.zeros(3)
        assert tr.run(X, Y, offsets, np.array([0, 1, 0], np.int64), losses) == 1
        assert not np.isfinite(losses[0]) and (losses[1:] == 0).all()
        assert (p[0] == 1).all()                               # nothing updated
        with pytest.raises(ValueError, match=r"order\[1\] = 2"):
            tr.run(X, Y, offsets, np.array([0, 2], np.int64), losses)
        with pytest.raises(ValueError, match="example 1"):
            tr.run(X, Y, np.array([0, 2, 9], np.int64), np.array([0], np.int64), losses)
        with pytest.raises(ValueError, match="example 0"):
            tr.run(X, Y, np.array([0, 0, 4], np.int64), np.array([0], np.int64), losses)
        with pytest.raises(ValueError, match="losses"):
            tr.run(X, Y, offsets, np.array([0, 1, 0, 1], np.int64), losses)
        with pytest.raises(ValueError, match="X"):
            tr.run(X + 9, Y, offsets, np.array([0], np.int64), losses)
