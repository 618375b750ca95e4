"""The library API: fastrnn.RNN / fastrnn.LSTM, clipping and optimizers."""

import numpy as np
import pytest

import fastrnn
import fastrnn._ext as ext
from conftest import assert_close


def has_lstm():
    return ext.compiled_available() and hasattr(ext.kernels("cython"), "lstm_train_step_ix") \
        and hasattr(ext.kernels("numpy"), "lstm_train_step_ix")


CELLS = ["rnn", pytest.param("lstm", marks=pytest.mark.skipif(not has_lstm(),
                                                               reason="LSTM kernels missing"))]


def make(cell, dtype=np.float64, seed=0, **kw):
    cls = fastrnn.RNN if cell == "rnn" else fastrnn.LSTM
    return cls(7, 6, dtype=dtype, seed=seed, init_scale=0.4, **kw)


def batch_data(rng, T=5, B=3, V=7):
    X = rng.integers(0, V, size=(T, B))
    X[0] = -1
    Y = rng.integers(0, V, size=(T, B))
    return X, Y


@pytest.mark.parametrize("cell", CELLS)
def test_backends_agree(cell, rng, dtype):
    X, Y = batch_data(rng)
    res = {}
    for b in ("cython", "numpy"):
        with fastrnn.use_backend(b):
            m = make(cell, dtype)
            loss, grads, final = m.loss_and_grads(X, Y)
            l2, _ = m.train_step(X, Y, lr=0.1, clip=1.0)
            res[b] = (loss, grads, l2, m.params, m.sample(20, seed=3, start=-1))
    c, n = res["cython"], res["numpy"]
    assert_close(c[0], n[0], dtype)
    for k in n[1]:
        assert_close(c[1][k], n[1][k], dtype, err_msg=k)
    assert_close(c[2], n[2], dtype)
    for k in n[3]:
        assert_close(c[3][k], n[3][k], dtype, err_msg=k)
    if dtype == np.float64:
        np.testing.assert_array_equal(c[4], n[4])


@pytest.mark.parametrize("cell", CELLS)
def test_initial_loss_is_T_log_V_and_training_lowers_it(cell, rng):
    V = 7
    m = (fastrnn.RNN if cell == "rnn" else fastrnn.LSTM)(V, 16, dtype=np.float64, seed=1)
    X, Y = batch_data(rng, T=12, B=4, V=V)
    l0 = m.loss(X, Y)
    assert l0 == pytest.approx(12 * 4 * np.log(V), rel=0.01)
    opt = fastrnn.Adam(lr=0.02)
    for _ in range(150):
        loss, grads, _ = m.loss_and_grads(X, Y)
        fastrnn.clip_by_norm(grads, 5.0)
        opt.step(m.params, {k: v for k, v in grads.items() if k[1:] in m.params})
    assert m.loss(X, Y) < 0.5 * l0


@pytest.mark.parametrize("cell", CELLS)
def test_batch_rows_are_independent(cell, rng):
    """The loss of a batch is the sum of its rows' losses (B > 1 vs B = 1)."""
    m = make(cell)
    X, Y = batch_data(rng, B=3)
    total = m.loss(X, Y)
    parts = sum(m.loss(X[:, b], Y[:, b]) for b in range(3))
    assert total == pytest.approx(parts, rel=1e-12)
    _, g, _ = m.loss_and_grads(X, Y)
    gsum = None
    for b in range(3):
        _, gb, _ = m.loss_and_grads(X[:, b], Y[:, b])
        gsum = gb if gsum is None else {k: gsum[k] + gb[k] for k in gsum if k[:2] != "da"
                                        and k[:2] != "dc"}
    for k in gsum:
        np.testing.assert_allclose(g[k], gsum[k], rtol=1e-11, atol=1e-14, err_msg=k)


@pytest.mark.parametrize("cell", CELLS)
def test_dense_inputs_equal_one_hot(cell, rng):
    m = make(cell)
    X, Y = batch_data(rng)
    onehot = np.zeros(X.shape + (7,))
    for (t, b), v in np.ndenumerate(X):
        if v >= 0:
            onehot[t, b, v] = 1.0
    l1, g1, s1 = m.loss_and_grads(X, Y)
    l2, g2, s2 = m.loss_and_grads(onehot, Y)
    assert l1 == pytest.approx(l2, rel=1e-13)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-12, atol=1e-14, err_msg=k)
    assert "dx" in g2 and g2["dx"].shape == onehot.shape


def test_state_is_carried(rng):
    m = make("rnn")
    X, Y = batch_data(rng, T=8, B=1)
    l_all, _, s_all = m.loss_and_grads(X, Y)
    l1, _, s1 = m.loss_and_grads(X[:4], Y[:4])
    l2, _, s2 = m.loss_and_grads(X[4:], Y[4:], state=s1)
    assert l1 + l2 == pytest.approx(l_all, rel=1e-12)
    np.testing.assert_allclose(s2, s_all, rtol=1e-13)


def test_from_params_and_train_step_equals_manual(rng):
    m = make("rnn")
    m2 = fastrnn.RNN.from_params(m.params)
    X, Y = batch_data(rng, B=2)
    loss, grads, _ = m.loss_and_grads(X, Y)
    g = {k: v for k, v in grads.items() if k[1:] in m.params}
    fastrnn.clip_by_value(g, 0.5)
    fastrnn.SGD(0.1).step(m.params, g)
    l2, _ = m2.train_step(X, Y, lr=0.1, clip=0.5)
    assert l2 == pytest.approx(loss, rel=1e-14)
    for k in m.params:
        np.testing.assert_allclose(m2.params[k], m.params[k], rtol=1e-13, atol=1e-16)


def test_clip_helpers():
    g = {"dW": np.array([[-9.0, 0.5, 7.0]]), "db": np.array([3.0, -4.0])}
    c = fastrnn.clip_by_value(g, 5.0, inplace=False)
    assert g["dW"][0, 0] == -9.0 and c["dW"].tolist() == [[-5.0, 0.5, 5.0]]
    assert fastrnn.global_norm({"a": np.array([3.0, 4.0])}) == pytest.approx(5.0)
    h = {"a": np.array([3.0, 4.0])}
    assert fastrnn.clip_by_norm(h, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(h["a"], [0.6, 0.8])
    with pytest.raises(ValueError, match="max_value"):
        fastrnn.clip_by_value(g, -1)
    with pytest.raises(TypeError, match="grads"):
        fastrnn.clip_by_value([1, 2], 1.0)


def test_sampling_options():
    m = make("rnn")
    m.params["by"][:] = np.linspace(-1, 1, 7)          # no ties among the first logits
    greedy = m.sample(15, temperature=0.0, seed=1)
    assert np.array_equal(greedy, m.sample(15, temperature=0.0, seed=2))
    assert np.array_equal(greedy, m.sample(15, top_k=1, seed=5))
    s = m.sample(200, seed=0, top_k=2)
    assert s.min() >= 0 and s.max() < 7
    stop = int(greedy[2])
    short = m.sample(15, temperature=0.0, stop=stop)
    assert short[-1] == stop and len(short) <= 3
    assert np.array_equal(m.sample(30, seed=9), m.sample(30, rng=np.random.default_rng(9)))


def test_bad_inputs_raise_clear_errors():
    m = make("rnn")
    with pytest.raises(ValueError, match="X holds index 7"):
        m.loss([-1, 7], [1, 2])
    with pytest.raises(ValueError, match="Y holds index -2"):
        m.loss([-1, 3], [1, -2])
    with pytest.raises(ValueError, match="empty"):
        m.loss([], [])
    with pytest.raises(ValueError, match="Y must have shape"):
        m.loss([-1, 3], [1, 2, 3])
    with pytest.raises(TypeError, match="integer"):
        m.loss([-1, 2.5], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        m.loss(np.full((2, 1, 7), np.nan), [1, 2])
    with pytest.raises(ValueError, match="state"):
        m.loss([-1, 3], [1, 2], state=np.zeros((1, 5)))
    with pytest.raises(TypeError, match="dtype"):
        fastrnn.RNN(3, 4, dtype=np.int32)
    with pytest.raises(ValueError, match="hidden_size"):
        fastrnn.RNN(3, -4)
    with pytest.raises(TypeError, match="params must be a dict"):
        fastrnn.RNN.from_params([1])
    with pytest.raises(ValueError, match="missing"):
        fastrnn.RNN.from_params({"Wax": np.zeros((2, 2))})
    m.params["Waa"][0, 0] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        m.loss([-1, 3], [1, 2])
    with pytest.raises(ValueError, match="backend"):
        fastrnn.set_backend("fortran")


@pytest.mark.parametrize("cell", CELLS)
def test_forward_and_loss_return_state(cell, rng):
    m = make(cell)
    X, Y = batch_data(rng, T=6, B=2)
    _, _, final = m.loss_and_grads(X, Y)
    A, final2 = m.forward(X)
    loss, final3 = m.loss(X, Y, return_state=True)
    assert loss == pytest.approx(m.loss(X, Y), rel=1e-15)
    assert A.shape == (6, 2, 6)
    for f in (final2, final3):
        for a, b in zip(np.atleast_3d(final) if cell == "rnn" else final,
                        np.atleast_3d(f) if cell == "rnn" else f):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(A[-1], final2 if cell == "rnn" else final2[0])
