"""fastrnn.nn without PyTorch: bad input, train/eval and dropout, step, state_dict,
optimizers and clipping on the layers' dicts."""

import numpy as np
import pytest

import fastrnn
import fastrnn.nn as nn
from fastrnn import _ext
from fastrnn.reference import _layers as ref


def _layer(kind="LSTM", **kw):
    kw.setdefault("seed", 0)
    return getattr(nn, kind)(3, 4, **kw)


# ------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kw, exc, match", [
    (dict(input_size=0), ValueError, "input_size"),
    (dict(hidden_size=2.5), TypeError, "hidden_size"),
    (dict(num_layers=0), ValueError, "num_layers"),
    (dict(dropout=1.0), ValueError, "dropout"),
    (dict(dropout=float("nan")), ValueError, "dropout"),
    (dict(bidirectional=1), TypeError, "bidirectional"),
    (dict(batch_first="yes"), TypeError, "batch_first"),
    (dict(dtype=np.int32), TypeError, "dtype"),
    (dict(rng=1), TypeError, "rng"),
])
def test_constructor_errors_name_the_argument(kw, exc, match):
    args = dict(input_size=3, hidden_size=4)
    args.update(kw)
    with pytest.raises(exc, match=match):
        nn.GRU(**args)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")


def _no_kernel(monkeypatch):
    """Make any kernel call fail loudly: the checks must raise before one runs."""
    def boom(*a, **k):
        raise AssertionError("a kernel ran")
    spaces = [_ext.kernels("numpy")] + ([_ext.kernels("cython")]
                                      if _ext.compiled_available() else [])
    for k in spaces:
        monkeypatch.setattr(k, "stack_forward", boom)
        monkeypatch.setattr(k, "stack_backward", boom)


@pytest.mark.parametrize("call, exc, match", [
    (lambda m: m(np.zeros((5, 2, 4))), ValueError, "input_size"),
    (lambda m: m(np.zeros((5, 3))), ValueError, "x must be 3-D"),
    (lambda m: m(np.zeros((0, 2, 3))), ValueError, "at least one step"),
    (lambda m: m(np.full((5, 2, 3), np.nan)), ValueError, "x contains NaN"),
    (lambda m: m(np.zeros((5, 2, 3)), np.zeros((1, 2, 4))), TypeError, "tuple"),
    (lambda m: m(np.zeros((5, 2, 3)), (np.zeros((1, 3, 4)), np.zeros((1, 2, 4)))),
     ValueError, "h_0"),
    (lambda m: m(np.zeros((5, 2, 3)), (np.zeros((1, 2, 4)), np.zeros((2, 2, 4)))),
     ValueError, "c_0"),
    (lambda m: m(np.zeros((5, 2, 3)), lengths=[5]), ValueError, "lengths"),
    (lambda m: m(np.zeros((5, 2, 3)), lengths=[5, 0]), ValueError, "lengths"),
    (lambda m: m(np.zeros((5, 2, 3)), lengths=[6, 1]), ValueError, "lengths"),
    (lambda m: m(np.zeros((5, 2, 3)), lengths=[2.0, 1.0]), TypeError, "lengths"),
    (lambda m: m(np.zeros((5, 2, 3)), lengths=np.array([5, 2**40])), ValueError, "lengths"),
    (lambda m: m.step(np.zeros((2, 5))), ValueError, "x_t"),
    (lambda m: m.backward(np.zeros((5, 2, 4))), RuntimeError, "forward in training"),
    (lambda m: m.load_state_dict({}), ValueError, "missing key"),
])
def test_bad_input_raises_before_any_kernel(call, exc, match, monkeypatch):
    m = _layer()
    _no_kernel(monkeypatch)
    with pytest.raises(exc, match=match):
        call(m)


def test_backward_checks(monkeypatch):
    m = _layer()
    y, (h, c) = m(np.ones((5, 2, 3)))
    g = _layer("GRU")
    g(np.ones((5, 2, 3)))
    _no_kernel(monkeypatch)
    with pytest.raises(ValueError, match="dy"):
        m.backward(np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match="dh_n"):
        m.backward(np.zeros_like(y), np.zeros((2, 2, 4)))
    with pytest.raises(TypeError, match="dc_n"):
        g.backward(np.zeros((5, 2, 4)), None, np.zeros((1, 2, 4)))


def test_state_dict_errors_name_the_key():
    m = _layer(num_layers=2)
    sd = m.state_dict()
    bad = dict(sd, weight_hh_l1=np.zeros((16, 5)))
    with pytest.raises(ValueError, match="weight_hh_l1"):
        m.load_state_dict(bad)
    with pytest.raises(ValueError, match="unexpected key.*weight_ih_l0_reverse"):
        m.load_state_dict(dict(sd, weight_ih_l0_reverse=sd["weight_ih_l0"]))
    del sd["bias_hh_l1"]
    with pytest.raises(ValueError, match="missing key.*bias_hh_l1"):
        m.load_state_dict(sd)
    # another architecture: a GRU's weights do not fit an LSTM
    with pytest.raises(ValueError, match="weight_ih_l0"):
        m.load_state_dict(_layer("GRU", num_layers=2).state_dict())
    # strict=False loads what is there; nothing is written when a shape is wrong
    before = m.state_dict()
    with pytest.raises(ValueError, match="weight_hh_l1"):
        m.load_state_dict(dict(before, weight_ih_l0=before["weight_ih_l0"] + 1,
                               weight_hh_l1=np.zeros(3)), strict=False)
    np.testing.assert_array_equal(m.params["weight_ih_l0"], before["weight_ih_l0"])
    ident = m.params["weight_ih_l0"]
    m.load_state_dict({"weight_ih_l0": before["weight_ih_l0"] * 2}, strict=False)
    assert m.params["weight_ih_l0"] is ident
    np.testing.assert_array_equal(ident, before["weight_ih_l0"] * 2)


# ------------------------------------------------------------------------- semantics

def test_dropout_masks_come_from_the_generator_and_eval_turns_them_off():
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    a = _layer("GRU", num_layers=3, dropout=0.5)
    b = _layer("GRU", num_layers=3, dropout=0.5)
    ya, _ = a(x)
    yb, _ = b(x)
    np.testing.assert_array_equal(ya, yb)          # same seed, same masks
    ya2, _ = a(x)
    assert not np.array_equal(ya, ya2)             # fresh masks each forward
    a.eval()
    y_eval, _ = a(x)
    nodrop = _layer("GRU", num_layers=3)           # same weights, dropout=0
    np.testing.assert_array_equal(y_eval, nodrop(x)[0])
    with pytest.raises(RuntimeError):
        a.backward(np.zeros_like(y_eval))          # eval keeps no cache


def test_backward_uses_the_forwards_masks(backend):
    """dx from backward equals the finite difference of the same-mask forward."""
    m = nn.LSTM(3, 2, num_layers=2, dropout=0.4, dtype=np.float64, seed=5)
    x = np.random.default_rng(2).standard_normal((4, 2, 3))
    state = m.rng.bit_generator.state
    y, _ = m(x)
    dy = np.random.default_rng(3).standard_normal(y.shape)
    dx, _ = m.backward(dy)
    v = np.random.default_rng(4).standard_normal(x.shape)
    f = []
    for s in (1, -1):
        m.rng.bit_generator.state = state           # replay the same masks
        f.append(np.sum(m(x + s * 1e-6 * v)[0] * dy))
    assert abs((f[0] - f[1]) / 2e-6 - np.sum(dx * v)) < 1e-7


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_step_matches_forward(kind, backend):
    m = _layer(kind, num_layers=2, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    y, hn = m(x)
    state = None
    for t in range(6):
        yt, state = m.step(x[t], state)
        np.testing.assert_allclose(yt, y[t], rtol=1e-13, atol=1e-14)
    for a, b in zip(state if kind == "LSTM" else (state,), hn if kind == "LSTM" else (hn,)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
    with pytest.raises(ValueError, match="unidirectional"):
        _layer(kind, bidirectional=True).step(x[0])


def test_optimizers_and_clipping_work_on_the_layer(backend):
    m = _layer("GRU", num_layers=2, bidirectional=True, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 3, 3))
    target = np.random.default_rng(1).standard_normal((5, 3, 8))
    opt = fastrnn.Adam(lr=0.02)
    losses = []
    for _ in range(30):
        y, _ = m(x)
        losses.append(0.5 * np.sum((y - target) ** 2))
        m.backward(y - target)
        fastrnn.clip_by_norm(m.grads, 5.0)
        fastrnn.clip_by_value(m.grads, 1.0)
        opt.step(m.params, m.dgrads)
    assert losses[-1] < 0.7 * losses[0]
    assert max(np.abs(g).max() for g in m.grads.values()) <= 1.0



@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_index_inputs_through_the_stack(kind, batch_first, backend):
    """The layers' private index path (CharModel's first layer): the same outputs as the
    one-hot rows, bit for bit, and the same gradients to rounding; no dx."""
    m = getattr(nn, kind)(5, 4, num_layers=2, batch_first=batch_first, dtype=np.float64,
                          seed=0)
    rng = np.random.default_rng(1)
    ix = rng.integers(-1, 5, (3, 6) if batch_first else (6, 3))
    x = np.where((ix >= 0)[..., None], np.eye(5)[ix], 0.0)
    h0, c0 = m._states(None, 3)
    dy = rng.standard_normal((3, 6, 4) if batch_first else (6, 3, 4))
    y1, s1 = m(x)
    dx, _ = m.backward(dy)
    g1 = {k: v.copy() for k, v in m.grads.items()}
    y2, s2 = m._run(np.ascontiguousarray(ix), h0, c0, None)
    dx2, _ = m.backward(dy)
    assert dx2 is None and dx.shape == x.shape
    assert np.array_equal(y1, y2)
    for a, b in zip(s1 if kind == "LSTM" else (s1,), s2 if kind == "LSTM" else (s2,)):
        assert np.array_equal(a, b)
    for k, v in m.grads.items():
        np.testing.assert_allclose(v, g1[k], rtol=1e-12, atol=1e-14, err_msg=k)
