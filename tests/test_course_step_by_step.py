"""fastrnn.course.step_by_step (W1A1) against a literal course-style NumPy oracle.

The oracle below is written from COURSE_SPEC.md section 2: one Python call per time
step, column vectors, dicts, the course softmax (one global max). Every fastrnn
function runs on the kernels of the active backend (``backend`` fixture: cython and
numpy) and must agree with it to rounding (float64, rtol 1e-12); the course's
documented setups must also give the course's printed numbers.
"""

import numpy as np
import pytest

from fastrnn.course import step_by_step as sbs

RTOL, ATOL = 1e-12, 1e-13


# ----------------------------------------------------------------- the course oracle


def c_softmax(x):
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def c_rnn_cell_forward(xt, a_prev, parameters):
    Wax = parameters["Wax"]
    Waa = parameters["Waa"]
    Wya = parameters["Wya"]
    ba = parameters["ba"]
    by = parameters["by"]
    a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
    yt_pred = c_softmax(np.dot(Wya, a_next) + by)
    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache


def c_rnn_forward(x, a0, parameters):
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wya"].shape
    a = np.zeros((n_a, m, T_x))
    y_pred = np.zeros((n_y, m, T_x))
    a_next = a0
    for t in range(T_x):
        xt = x[:, :, t]
        a_next, yt_pred, cache = c_rnn_cell_forward(xt, a_next, parameters)
        a[:, :, t] = a_next
        y_pred[:, :, t] = yt_pred
        caches.append(cache)
    caches = (caches, x)
    return a, y_pred, caches


def c_rnn_cell_backward(da_next, cache):
    (a_next, a_prev, xt, parameters) = cache
    Wax = parameters["Wax"]
    Waa = parameters["Waa"]
    dtanh = da_next * (1 - a_next ** 2)
    dxt = np.dot(Wax.T, dtanh)
    dWax = np.dot(dtanh, xt.T)
    da_prev = np.dot(Waa.T, dtanh)
    dWaa = np.dot(dtanh, a_prev.T)
    dba = np.sum(dtanh, axis=1, keepdims=True)
    return {"dxt": dxt, "da_prev": da_prev, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def c_rnn_backward(da, caches):
    (caches, x) = caches
    (a1, a0, x1, parameters) = caches[0]
    n_a, m, T_x = da.shape
    n_x, m = x1.shape
    dx = np.zeros((n_x, m, T_x))
    dWax = np.zeros((n_a, n_x))
    dWaa = np.zeros((n_a, n_a))
    dba = np.zeros((n_a, 1))
    da0 = np.zeros((n_a, m))
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        gradients = c_rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])
        dxt, da_prevt, dWaxt, dWaat, dbat = (gradients["dxt"], gradients["da_prev"],
                                             gradients["dWax"], gradients["dWaa"],
                                             gradients["dba"])
        dx[:, :, t] = dxt
        dWax += dWaxt
        dWaa += dWaat
        dba += dbat
    da0 = da_prevt
    return {"dx": dx, "da0": da0, "dWax": dWax, "dWaa": dWaa, "dba": dba}


# ----------------------------------------------------------------------- fixtures


def course_params(n_a, n_x, n_y, order=("Waa", "Wax", "Wya", "ba", "by")):
    """Draw the parameters with randn in the given order (the course's setups)."""
    shapes = {"Waa": (n_a, n_a), "Wax": (n_a, n_x), "Wya": (n_y, n_a), "ba": (n_a, 1),
              "by": (n_y, 1)}
    return {k: np.random.randn(*shapes[k]) for k in order}


def close(a, b, msg=""):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


def random_setup(seed, n_x=4, n_a=6, n_y=3, m=2, T=5):
    r = np.random.RandomState(seed)
    p = {
        "Wax": r.randn(n_a, n_x) * 0.7,
        "Waa": r.randn(n_a, n_a) * 0.5,
        "Wya": r.randn(n_y, n_a),
        "ba": r.randn(n_a, 1) * 0.3,
        "by": r.randn(n_y, 1) * 0.3,
    }
    return p, r.randn(n_x, m, T), r.randn(n_a, m), r


# ------------------------------------------------------------------- forward tests


def test_cell_forward_course_setup(backend):
    np.random.seed(1)
    xt_tmp = np.random.randn(3, 10)
    a_prev_tmp = np.random.randn(5, 10)
    params = course_params(5, 3, 2)
    a_next, yt_pred, cache = sbs.rnn_cell_forward(xt_tmp, a_prev_tmp, params)
    ea, ey, _ = c_rnn_cell_forward(xt_tmp, a_prev_tmp, params)
    close(a_next, ea)
    close(yt_pred, ey)
    assert a_next.shape == (5, 10) and yt_pred.shape == (2, 10)
    # the course's printed numbers
    np.testing.assert_allclose(a_next[4], [0.59584544, 0.18141802, 0.61311866, 0.99808218,
                                           0.85016201, 0.99980978, -0.18887155, 0.99815551,
                                           0.6531151, 0.82872037], atol=1e-8)
    np.testing.assert_allclose(yt_pred[1], [0.9888161, 0.01682021, 0.21140899, 0.36817467,
                                            0.98988387, 0.88945212, 0.36920224, 0.9966312,
                                            0.9982559, 0.17746526], atol=1e-8)
    # cache = (a_next, a_prev, xt, parameters), the objects passed in
    assert isinstance(cache, tuple) and len(cache) == 4
    assert cache[0] is a_next
    assert cache[1] is a_prev_tmp and cache[2] is xt_tmp and cache[3] is params
    assert len(cache[3].keys()) == 5


def test_rnn_forward_course_setup(backend):
    np.random.seed(1)
    x_tmp = np.random.randn(3, 10, 4)
    a0_tmp = np.random.randn(5, 10)
    params = course_params(5, 3, 2)
    a, y_pred, caches = sbs.rnn_forward(x_tmp, a0_tmp, params)
    ea, ey, ecaches = c_rnn_forward(x_tmp, a0_tmp, params)
    close(a, ea)
    close(y_pred, ey)
    assert a.shape == (5, 10, 4) and y_pred.shape == (2, 10, 4)
    assert a.flags.c_contiguous and y_pred.flags.c_contiguous
    np.testing.assert_allclose(a[4][1], [-0.99999375, 0.77911235, -0.99861469, -0.99833267],
                               atol=1e-8)
    np.testing.assert_allclose(y_pred[1][3], [0.79560373, 0.86224861, 0.11118257, 0.81515947],
                               atol=1e-8)
    np.testing.assert_allclose(caches[1][1][3], [-1.1425182, -0.34934272, -0.20889423,
                                                 0.58662319], atol=1e-8)
    assert len(caches) == 2


@pytest.mark.parametrize("m,T", [(1, 1), (1, 6), (3, 4)])
def test_rnn_forward_matches_oracle_and_cache_layout(backend, m, T):
    params, x, a0, _ = random_setup(7 + m + T, m=m, T=T)
    a, y_pred, caches = sbs.rnn_forward(x, a0, params)
    ea, ey, ec = c_rnn_forward(x, a0, params)
    close(a, ea)
    close(y_pred, ey)
    np.testing.assert_allclose(y_pred.sum(axis=0), 1.0, rtol=1e-12)
    assert isinstance(caches, tuple) and len(caches) == 2
    cache_list, xc = caches
    assert isinstance(cache_list, list) and len(cache_list) == T
    assert xc is x
    for t, (c, e) in enumerate(zip(cache_list, ec[0])):
        assert isinstance(c, tuple) and len(c) == 4
        close(c[0], e[0], f"a_next {t}")
        close(c[1], e[1], f"a_prev {t}")
        close(c[2], e[2], f"xt {t}")
        assert c[0].shape == (6, m) and c[2].shape == (4, m)
        assert c[3] is params
        assert c[1] is (a0 if t == 0 else cache_list[t - 1][0])
        assert np.shares_memory(c[2], x)            # x[:, :, t], a view as in the course


def test_rnn_forward_cell_by_cell_equals_sequence(backend):
    params, x, a0, _ = random_setup(3, m=2, T=5)
    a, y_pred, _ = sbs.rnn_forward(x, a0, params)
    a_next = a0
    for t in range(x.shape[2]):
        a_next, yt, _ = sbs.rnn_cell_forward(x[:, :, t], a_next, params)
        close(a_next, a[:, :, t])
        close(yt, y_pred[:, :, t])


def test_course_softmax_uses_one_global_max(backend):
    # a column far below the global max underflows exactly as in the course
    params, x, a0, _ = random_setup(5, m=3, T=2)
    params["Wya"] = params["Wya"] * 400
    with np.errstate(all="ignore"):      # 0/0, as in the course
        _, y_pred, _ = sbs.rnn_forward(x, a0, params)
        _, ey, _ = c_rnn_forward(x, a0, params)
        z = np.array([[1.0, -800.0], [2.0, -801.0]])
        s, e = sbs.softmax(z), c_softmax(z)
    assert np.isnan(ey).any()
    np.testing.assert_allclose(y_pred, ey, rtol=1e-10, atol=1e-300, equal_nan=True)
    np.testing.assert_allclose(s, e, rtol=RTOL, equal_nan=True)
    assert np.isnan(s[:, 1]).all()


def test_rnn_forward_zero_steps_like_course(backend):
    params, x, a0, _ = random_setup(1, m=2, T=1)
    x0 = np.zeros((4, 2, 0))
    a, y, caches = sbs.rnn_forward(x0, a0, params)
    assert a.shape == (6, 2, 0) and y.shape == (3, 2, 0)
    assert caches[0] == [] and caches[1] is x0


# ------------------------------------------------------------------ backward tests


def test_cell_backward_matches_oracle(backend):
    params, x, a0, r = random_setup(11, m=3, T=1)
    _, _, cache = sbs.rnn_cell_forward(x[:, :, 0], a0, params)
    da_next = r.randn(6, 3)
    g = sbs.rnn_cell_backward(da_next, cache)
    e = c_rnn_cell_backward(da_next, cache)
    assert list(g) == ["dxt", "da_prev", "dWax", "dWaa", "dba"]
    for k in e:
        assert g[k].shape == e[k].shape, k
        close(g[k], e[k], k)


def test_rnn_backward_course_setup(backend):
    np.random.seed(1)
    x_tmp = np.random.randn(3, 10, 4)
    a0_tmp = np.random.randn(5, 10)
    params = course_params(5, 3, 2, order=("Wax", "Waa", "Wya", "ba", "by"))
    a_tmp, y_tmp, caches_tmp = sbs.rnn_forward(x_tmp, a0_tmp, params)
    da_tmp = np.random.randn(5, 10, 4)
    g = sbs.rnn_backward(da_tmp, caches_tmp)
    e = c_rnn_backward(da_tmp, c_rnn_forward(x_tmp, a0_tmp, params)[2])
    assert list(g) == ["dx", "da0", "dWax", "dWaa", "dba"]
    for k in e:
        assert g[k].shape == e[k].shape, k
        close(g[k], e[k], k)
    np.testing.assert_allclose(g["dx"][1][2], [-2.07101689, -0.59255627, 0.02466855, 0.01483317],
                               atol=1e-8)
    assert g["dx"].shape == (3, 10, 4)
    np.testing.assert_allclose(g["da0"][2][3], -0.314942375127, atol=1e-11)
    np.testing.assert_allclose(g["dWax"][3][1], 11.2641044965, atol=1e-9)
    np.testing.assert_allclose(g["dWaa"][1][2], 2.30333312658, atol=1e-10)
    np.testing.assert_allclose(g["dba"][4], [-0.74747722], atol=1e-8)


@pytest.mark.parametrize("m,T,T_da", [(1, 1, 1), (2, 5, 5), (10, 7, 4), (3, 6, 1)])
def test_rnn_backward_matches_oracle_incl_shorter_da(backend, m, T, T_da):
    params, x, a0, r = random_setup(100 + T_da, m=m, T=T)
    _, _, caches = sbs.rnn_forward(x, a0, params)
    da = r.randn(6, m, T_da)
    da_copy = da.copy()
    g = sbs.rnn_backward(da, caches)
    e = c_rnn_backward(da, caches)
    np.testing.assert_array_equal(da, da_copy)            # the input is not touched
    assert g["dx"].shape == (4, m, T_da)
    for k in e:
        assert g[k].shape == e[k].shape, k
        close(g[k], e[k], k)


def test_rnn_backward_does_not_modify_da_when_layouts_coincide(backend):
    # n_a = m = 1: the kernel layout of da is a view of da itself
    params, x, a0, r = random_setup(2, n_a=1, m=1, T=3)
    _, _, caches = sbs.rnn_forward(x, a0, params)
    da = r.randn(1, 1, 3)
    keep = da.copy()
    g = sbs.rnn_backward(da, caches)
    np.testing.assert_array_equal(da, keep)
    e = c_rnn_backward(keep, caches)
    for k in e:
        close(g[k], e[k], k)


def test_backward_accepts_b_alias_and_oracle_caches(backend):
    params, x, a0, r = random_setup(4)
    alias = {("b" if k == "ba" else k): v for k, v in params.items()}
    a1, y1, _ = sbs.rnn_forward(x, a0, alias)
    a2, y2, _ = sbs.rnn_forward(x, a0, params)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(y1, y2)
    # caches built by the oracle are accepted too
    _, _, ecaches = c_rnn_forward(x, a0, params)
    da = r.randn(6, 2, 5)
    g = sbs.rnn_backward(da, ecaches)
    e = c_rnn_backward(da, ecaches)
    for k in e:
        close(g[k], e[k], k)


def test_matches_finite_differences_via_course_functions(backend):
    """dWaa from rnn_backward vs central differences of sum(a * da) (float64)."""
    params, x, a0, r = random_setup(9, m=2, T=4)
    da = r.randn(6, 2, 4)
    _, _, caches = sbs.rnn_forward(x, a0, params)
    g = sbs.rnn_backward(da, caches)
    eps = 1e-6
    W = params["Waa"]
    num = np.zeros_like(W)
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            old = W[i, j]
            W[i, j] = old + eps
            lp = np.sum(sbs.rnn_forward(x, a0, params)[0] * da)
            W[i, j] = old - eps
            lm = np.sum(sbs.rnn_forward(x, a0, params)[0] * da)
            W[i, j] = old
            num[i, j] = (lp - lm) / (2 * eps)
    np.testing.assert_allclose(g["dWaa"], num, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------- bad inputs


def test_bad_parameters(backend):
    params, x, a0, _ = random_setup(1)
    with pytest.raises(TypeError, match="parameters must be a dict"):
        sbs.rnn_forward(x, a0, [params])
    for key in ("Wax", "Waa", "Wya", "ba", "by"):
        broken = {k: v for k, v in params.items() if k != key}
        with pytest.raises(ValueError, match=f"'{key}'"):
            sbs.rnn_cell_forward(x[:, :, 0], a0, broken)
    bad = dict(params, Waa=params["Waa"][:, :-1])
    with pytest.raises(ValueError, match="Waa"):
        sbs.rnn_forward(x, a0, bad)
    bad = dict(params, ba=params["ba"].ravel())
    with pytest.raises(ValueError, match="ba"):
        sbs.rnn_forward(x, a0, bad)
    bad = dict(params, by=np.zeros((5, 1)))
    with pytest.raises(ValueError, match="by"):
        sbs.rnn_forward(x, a0, bad)
    nan = dict(params, Wya=params["Wya"].copy())
    nan["Wya"][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sbs.rnn_forward(x, a0, nan)
    with pytest.raises(TypeError):
        sbs.rnn_forward(x, a0, dict(params, Wax="abc"))


def test_bad_inputs(backend):
    params, x, a0, r = random_setup(1)
    with pytest.raises(ValueError, match="x must have shape"):
        sbs.rnn_forward(x[:3], a0, params)
    with pytest.raises(ValueError, match="x must be 3-D"):
        sbs.rnn_forward(x[:, :, 0], a0, params)
    with pytest.raises(ValueError, match="a0"):
        sbs.rnn_forward(x, a0[:, :1], params)
    with pytest.raises(ValueError, match="xt"):
        sbs.rnn_cell_forward(x[:, :0, 0], a0[:, :0], params)
    with pytest.raises(ValueError, match="a_prev"):
        sbs.rnn_cell_forward(x[:, :, 0], a0.T, params)
    xn = x.copy()
    xn[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="x contains NaN or infinity"):
        sbs.rnn_forward(xn, a0, params)
    _, _, caches = sbs.rnn_forward(x, a0, params)
    with pytest.raises(ValueError, match="T_x = 6"):
        sbs.rnn_backward(r.randn(6, 2, 6), caches)
    with pytest.raises(ValueError, match="da must have shape"):
        sbs.rnn_backward(r.randn(5, 2, 3), caches)
    with pytest.raises(TypeError, match="caches"):
        sbs.rnn_backward(r.randn(6, 2, 3), caches[0])
    with pytest.raises(TypeError, match="cache"):
        sbs.rnn_cell_backward(r.randn(6, 2), caches[0][0][:3])
    with pytest.raises(ValueError, match="da_next"):
        sbs.rnn_cell_backward(r.randn(6, 3), caches[0][0])
    shuffled = ([caches[0][1], caches[0][0]] + caches[0][2:], x)
    with pytest.raises(ValueError, match="consecutive"):
        sbs.rnn_backward(r.randn(6, 2, 3), shuffled)
    da = r.randn(6, 2, 3)
    da[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="da contains NaN"):
        sbs.rnn_backward(da, caches)
