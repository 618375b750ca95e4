"""fastrnn.course.step_by_step LSTM functions (W1A1) against a literal course-style oracle.

The oracle below is written from COURSE_SPEC.md sections 2.3, 2.4, 2.7 and 2.8: one
Python call per time step, ``concat = [a_prev; xt]``, the course sigmoid, four
separate gate weights, column vectors, dicts and the course softmax (one global max).
Every fastrnn function runs on the kernels of the active backend (``backend`` fixture:
cython and numpy) and must agree with it to rounding (float64, rtol 1e-12), on the
course's documented setups (which must also give the course's printed numbers) and on
random ones.
"""

import numpy as np
import pytest

from fastrnn.course import step_by_step as sbs

RTOL, ATOL = 1e-12, 1e-13

CELL_KEYS = ["dxt", "da_prev", "dc_prev", "dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"]
SEQ_KEYS = ["dx", "da0", "dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"]


# ----------------------------------------------------------------- the course oracle


def c_softmax(x):
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def c_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def c_lstm_cell_forward(xt, a_prev, c_prev, parameters):
    Wf = parameters["Wf"]
    bf = parameters["bf"]
    Wi = parameters["Wi"]
    bi = parameters["bi"]
    Wc = parameters["Wc"]
    bc = parameters["bc"]
    Wo = parameters["Wo"]
    bo = parameters["bo"]
    Wy = parameters["Wy"]
    by = parameters["by"]
    n_x, m = xt.shape
    n_y, n_a = Wy.shape
    concat = np.zeros((n_a + n_x, m))
    concat[:n_a, :] = a_prev
    concat[n_a:, :] = xt
    ft = c_sigmoid(np.dot(Wf, concat) + bf)
    it = c_sigmoid(np.dot(Wi, concat) + bi)
    cct = np.tanh(np.dot(Wc, concat) + bc)
    c_next = ft * c_prev + it * cct
    ot = c_sigmoid(np.dot(Wo, concat) + bo)
    a_next = ot * np.tanh(c_next)
    yt_pred = c_softmax(np.dot(Wy, a_next) + by)
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache


def c_lstm_forward(x, a0, parameters):
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wy"].shape
    a = np.zeros((n_a, m, T_x))
    c = np.zeros((n_a, m, T_x))
    y = np.zeros((n_y, m, T_x))
    a_next = a0
    c_next = np.zeros((n_a, m))
    for t in range(T_x):
        xt = x[:, :, t]
        a_next, c_next, yt, cache = c_lstm_cell_forward(xt, a_next, c_next, parameters)
        a[:, :, t] = a_next
        c[:, :, t] = c_next
        y[:, :, t] = yt
        caches.append(cache)
    caches = (caches, x)
    return a, y, c, caches


def c_lstm_cell_backward(da_next, dc_next, cache):
    (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters) = cache
    n_x, m = xt.shape
    n_a, m = a_next.shape
    s = dc_next + da_next * ot * (1 - np.square(np.tanh(c_next)))
    dot = da_next * np.tanh(c_next) * ot * (1 - ot)
    dcct = s * it * (1 - np.square(cct))
    dit = s * cct * it * (1 - it)
    dft = s * c_prev * ft * (1 - ft)
    concat = np.concatenate((a_prev, xt), axis=0)
    dWf = np.dot(dft, concat.T)
    dWi = np.dot(dit, concat.T)
    dWc = np.dot(dcct, concat.T)
    dWo = np.dot(dot, concat.T)
    dbf = np.sum(dft, axis=1, keepdims=True)
    dbi = np.sum(dit, axis=1, keepdims=True)
    dbc = np.sum(dcct, axis=1, keepdims=True)
    dbo = np.sum(dot, axis=1, keepdims=True)
    dconcat = (np.dot(parameters["Wf"].T, dft) + np.dot(parameters["Wi"].T, dit)
               + np.dot(parameters["Wc"].T, dcct) + np.dot(parameters["Wo"].T, dot))
    da_prev = dconcat[:n_a, :]
    dxt = dconcat[n_a:, :]
    dc_prev = s * ft
    return {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc_prev, "dWf": dWf, "dbf": dbf,
            "dWi": dWi, "dbi": dbi, "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}


def c_lstm_backward(da, caches):
    (caches, x) = caches
    (a1, c1, a0, c0, f1, i1, cc1, o1, x1, parameters) = caches[0]
    n_a, m, T_x = da.shape
    n_x, m = x1.shape
    dx = np.zeros((n_x, m, T_x))
    da0 = np.zeros((n_a, m))
    da_prevt = np.zeros((n_a, m))
    dc_prevt = np.zeros((n_a, m))
    dWf = np.zeros((n_a, n_a + n_x))
    dWi = np.zeros((n_a, n_a + n_x))
    dWc = np.zeros((n_a, n_a + n_x))
    dWo = np.zeros((n_a, n_a + n_x))
    dbf = np.zeros((n_a, 1))
    dbi = np.zeros((n_a, 1))
    dbc = np.zeros((n_a, 1))
    dbo = np.zeros((n_a, 1))
    for t in reversed(range(T_x)):
        g = c_lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])
        da_prevt = g["da_prev"]
        dc_prevt = g["dc_prev"]
        dx[:, :, t] = g["dxt"]
        dWf += g["dWf"]
        dWi += g["dWi"]
        dWc += g["dWc"]
        dWo += g["dWo"]
        dbf += g["dbf"]
        dbi += g["dbi"]
        dbc += g["dbc"]
        dbo += g["dbo"]
    da0 = da_prevt
    return {"dx": dx, "da0": da0, "dWf": dWf, "dbf": dbf, "dWi": dWi, "dbi": dbi,
            "dWc": dWc, "dbc": dbc, "dWo": dWo, "dbo": dbo}


# ----------------------------------------------------------------------- fixtures


def course_params(n_a=5, n_x=3, n_y=2, draw_output=True):
    """The course's parameter draws: Wf, bf, Wi, bi, Wo, bo, Wc, bc, Wy, by (randn).

    ``draw_output=False``: Wy and by are zeros and not drawn (the course's own
    lstm_backward test, whose printed numbers need that RNG stream).
    """
    p = {}
    for g in "fioc":
        p["W" + g] = np.random.randn(n_a, n_a + n_x)
        p["b" + g] = np.random.randn(n_a, 1)
    if draw_output:
        p["Wy"] = np.random.randn(n_y, n_a)
        p["by"] = np.random.randn(n_y, 1)
    else:
        p["Wy"] = np.zeros((n_y, n_a))
        p["by"] = np.zeros((n_y, 1))
    return p


def close(a, b, msg=""):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


def random_setup(seed, n_x=4, n_a=6, n_y=3, m=2, T=5):
    r = np.random.RandomState(seed)
    p = {}
    for g in "fico":
        p["W" + g] = r.randn(n_a, n_a + n_x) * 0.6
        p["b" + g] = r.randn(n_a, 1) * 0.3
    p["Wy"] = r.randn(n_y, n_a)
    p["by"] = r.randn(n_y, 1) * 0.3
    return p, r.randn(n_x, m, T), r.randn(n_a, m), r


def compare_caches(got, want, n_x, n_a, m):
    assert isinstance(got, tuple) and len(got) == 10
    names = ("a_next", "c_next", "a_prev", "c_prev", "ft", "it", "cct", "ot", "xt")
    for k, name in enumerate(names):
        shape = (n_x if name == "xt" else n_a, m)
        assert got[k].shape == shape, name
        close(got[k], want[k], name)
    assert got[9] is want[9]


# ------------------------------------------------------------------- forward tests


def test_cell_forward_course_setup(backend):
    np.random.seed(1)
    xt_tmp = np.random.randn(3, 10)
    a_prev_tmp = np.random.randn(5, 10)
    c_prev_tmp = np.random.randn(5, 10)
    params = course_params()
    a_next, c_next, yt, cache = sbs.lstm_cell_forward(xt_tmp, a_prev_tmp, c_prev_tmp, params)
    ea, ec, ey, ecache = c_lstm_cell_forward(xt_tmp, a_prev_tmp, c_prev_tmp, params)
    close(a_next, ea)
    close(c_next, ec)
    close(yt, ey)
    assert a_next.shape == (5, 10) and c_next.shape == (5, 10) and yt.shape == (2, 10)
    compare_caches(cache, ecache, 3, 5, 10)
    # cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    assert cache[0] is a_next and cache[1] is c_next
    assert cache[2] is a_prev_tmp and cache[3] is c_prev_tmp
    assert cache[8] is xt_tmp and cache[9] is params
    assert len(cache[9].keys()) == 10
    np.testing.assert_allclose(yt.sum(axis=0), 1.0, rtol=1e-12)
    # the course's printed numbers
    np.testing.assert_allclose(a_next[4], [-0.66408471, 0.0036921, 0.02088357, 0.22834167,
                                           -0.85575339, 0.00138482, 0.76566531, 0.34631421,
                                           -0.00215674, 0.43827275], atol=1e-8)
    np.testing.assert_allclose(c_next[2], [0.63267805, 1.00570849, 0.35504474, 0.20690913,
                                           -1.64566718, 0.11832942, 0.76449811, -0.0981561,
                                           -0.74348425, -0.26810932], atol=1e-8)
    np.testing.assert_allclose(yt[1], [0.79913913, 0.15986619, 0.22412122, 0.15606108,
                                       0.97057211, 0.31146381, 0.00943007, 0.12666353,
                                       0.39380172, 0.07828381], atol=1e-8)
    np.testing.assert_allclose(cache[1][3], [-0.16263996, 1.03729328, 0.72938082, -0.54101719,
                                             0.02752074, -0.30821874, 0.07651101, -1.03752894,
                                             1.41219977, -0.37647422], atol=1e-8)


def test_lstm_forward_course_setup(backend):
    np.random.seed(1)
    x_tmp = np.random.randn(3, 10, 7)
    a0_tmp = np.random.randn(5, 10)
    params = course_params()
    a, y, c, caches = sbs.lstm_forward(x_tmp, a0_tmp, params)
    ea, ey, ec, ecaches = c_lstm_forward(x_tmp, a0_tmp, params)
    close(a, ea)
    close(y, ey)
    close(c, ec)
    assert a.shape == (5, 10, 7) and c.shape == (5, 10, 7) and y.shape == (2, 10, 7)
    assert a.flags.c_contiguous and y.flags.c_contiguous and c.flags.c_contiguous
    assert isinstance(caches, tuple) and len(caches) == 2
    assert caches[1] is x_tmp
    assert isinstance(caches[0], list) and len(caches[0]) == 7
    for t, (got, want) in enumerate(zip(caches[0], ecaches[0])):
        compare_caches(got, want, 3, 5, 10)
    close(caches[1][1][1], ecaches[1][1][1])
    # the course's printed numbers
    np.testing.assert_allclose(a[4][3][6], 0.172117767533, atol=1e-11)
    np.testing.assert_allclose(y[1][4][3], 0.95087346185, atol=1e-10)
    np.testing.assert_allclose(caches[1][1][1], [0.82797464, 0.23009474, 0.76201118,
                                                 -0.22232814, -0.20075807, 0.18656139,
                                                 0.41005165], atol=1e-8)
    np.testing.assert_allclose(c[1][2][1], -0.855544916718, atol=1e-11)


@pytest.mark.parametrize("m,T", [(1, 1), (1, 6), (3, 4)])
def test_lstm_forward_matches_oracle_and_cache_layout(backend, m, T):
    params, x, a0, _ = random_setup(7 + m + T, m=m, T=T)
    a, y, c, caches = sbs.lstm_forward(x, a0, params)
    ea, ey, ec, ecaches = c_lstm_forward(x, a0, params)
    close(a, ea)
    close(y, ey)
    close(c, ec)
    np.testing.assert_allclose(y.sum(axis=0), 1.0, rtol=1e-12)
    cache_list, xc = caches
    assert isinstance(cache_list, list) and len(cache_list) == T
    assert xc is x
    for t, (got, want) in enumerate(zip(cache_list, ecaches[0])):
        compare_caches(got, want, 4, 6, m)
        assert got[9] is params
        if t == 0:
            assert got[2] is a0
            assert np.array_equal(got[3], np.zeros((6, m)))
        else:
            assert got[2] is cache_list[t - 1][0] and got[3] is cache_list[t - 1][1]
        assert np.shares_memory(got[8], x)            # x[:, :, t], a view as in the course
        assert got[0] is not a[:, :, t]


def test_lstm_forward_cell_by_cell_equals_sequence(backend):
    params, x, a0, _ = random_setup(3, m=2, T=5)
    a, y, c, _ = sbs.lstm_forward(x, a0, params)
    a_next, c_next = a0, np.zeros_like(a0)
    for t in range(x.shape[2]):
        a_next, c_next, yt, _ = sbs.lstm_cell_forward(x[:, :, t], a_next, c_next, params)
        close(a_next, a[:, :, t])
        close(c_next, c[:, :, t])
        close(yt, y[:, :, t])


def test_lstm_forward_zero_steps_like_course(backend):
    params, x, a0, _ = random_setup(1, m=2, T=1)
    x0 = np.zeros((4, 2, 0))
    a, y, c, caches = sbs.lstm_forward(x0, a0, params)
    assert a.shape == (6, 2, 0) and y.shape == (3, 2, 0) and c.shape == (6, 2, 0)
    assert caches[0] == [] and caches[1] is x0


# ------------------------------------------------------------------ backward tests


def test_cell_backward_course_setup(backend):
    np.random.seed(1)
    xt_tmp = np.random.randn(3, 10)
    a_prev_tmp = np.random.randn(5, 10)
    c_prev_tmp = np.random.randn(5, 10)
    params = course_params()
    _, _, _, cache = sbs.lstm_cell_forward(xt_tmp, a_prev_tmp, c_prev_tmp, params)
    da_next = np.random.randn(5, 10)
    dc_next = np.random.randn(5, 10)
    keep = (da_next.copy(), dc_next.copy(), [np.copy(v) for v in cache[:9]])
    g = sbs.lstm_cell_backward(da_next, dc_next, cache)
    e = c_lstm_cell_backward(da_next, dc_next, cache)
    assert list(g) == CELL_KEYS
    for k in e:
        assert g[k].shape == e[k].shape, k
        close(g[k], e[k], k)
    assert g["dxt"].shape == (3, 10) and g["dWf"].shape == (5, 8) and g["dbo"].shape == (5, 1)
    # inputs and the cache are not touched
    np.testing.assert_array_equal(da_next, keep[0])
    np.testing.assert_array_equal(dc_next, keep[1])
    for v, w in zip(cache[:9], keep[2]):
        np.testing.assert_array_equal(v, w)
    # the course's printed numbers
    np.testing.assert_allclose(g["dxt"][1][2], 3.230559115109188, atol=1e-11)
    np.testing.assert_allclose(g["da_prev"][2][3], -0.06396214197109236, atol=1e-11)
    np.testing.assert_allclose(g["dc_prev"][2][3], 0.7975220387970015, atol=1e-11)
    np.testing.assert_allclose(g["dWf"][3][1], -0.1479548381644968, atol=1e-11)
    np.testing.assert_allclose(g["dWi"][1][2], 1.0574980552259903, atol=1e-11)
    np.testing.assert_allclose(g["dWc"][3][1], 2.3045621636876668, atol=1e-11)
    np.testing.assert_allclose(g["dWo"][1][2], 0.3313115952892109, atol=1e-11)
    np.testing.assert_allclose(g["dbf"][4], [0.18864637], atol=1e-8)
    np.testing.assert_allclose(g["dbi"][4], [-0.4014249], atol=1e-8)
    np.testing.assert_allclose(g["dbc"][4], [0.25587763], atol=1e-8)
    np.testing.assert_allclose(g["dbo"][4], [0.13893342], atol=1e-8)


@pytest.mark.parametrize("m", [1, 3])
def test_cell_backward_matches_oracle_on_oracle_cache(backend, m):
    params, x, a0, r = random_setup(11 + m, m=m, T=1)
    c0 = r.randn(6, m)
    *_, ecache = c_lstm_cell_forward(x[:, :, 0], a0, c0, params)
    da_next, dc_next = r.randn(6, m), r.randn(6, m)
    g = sbs.lstm_cell_backward(da_next, dc_next, ecache)
    e = c_lstm_cell_backward(da_next, dc_next, ecache)
    assert list(g) == CELL_KEYS
    for k in e:
        close(g[k], e[k], k)


def test_lstm_backward_course_setup(backend):
    np.random.seed(1)
    x_tmp = np.random.randn(3, 10, 7)
    a0_tmp = np.random.randn(5, 10)
    params = course_params()
    _, _, _, caches_tmp = sbs.lstm_forward(x_tmp, a0_tmp, params)
    da_tmp = np.random.randn(5, 10, 4)
    da_keep = da_tmp.copy()
    g = sbs.lstm_backward(da_tmp, caches_tmp)
    e = c_lstm_backward(da_tmp, c_lstm_forward(x_tmp, a0_tmp, params)[3])
    assert list(g) == SEQ_KEYS
    assert "dc0" not in g
    for k in e:
        assert g[k].shape == e[k].shape, k
        close(g[k], e[k], k)
    assert g["dx"].shape == (3, 10, 4)
    assert g["da0"].shape == (5, 10)
    for k in "fico":
        assert g["dW" + k].shape == (5, 8) and g["db" + k].shape == (5, 1)
    np.testing.assert_array_equal(da_tmp, da_keep)


def test_lstm_backward_course_printed_numbers(backend):
    """The course's own lstm_backward test: Wy and by are zeros (not drawn)."""
    np.random.seed(1)
    x_tmp = np.random.randn(3, 10, 7)
    a0_tmp = np.random.randn(5, 10)
    params = course_params(draw_output=False)
    _, _, _, caches_tmp = sbs.lstm_forward(x_tmp, a0_tmp, params)
    da_tmp = np.random.randn(5, 10, 4)
    g = sbs.lstm_backward(da_tmp, caches_tmp)
    e = c_lstm_backward(da_tmp, caches_tmp)
    for k in e:
        close(g[k], e[k], k)
    assert g["dx"].shape == (3, 10, 4)
    np.testing.assert_allclose(g["dx"][1][2], [0.00218254, 0.28205375, -0.48292508,
                                               -0.43281115], atol=1e-8)
    np.testing.assert_allclose(g["da0"][2][3], 0.312770310257, atol=1e-11)
    np.testing.assert_allclose(g["dWf"][3][1], -0.0809802310938, atol=1e-11)
    np.testing.assert_allclose(g["dWi"][1][2], 0.40512433093, atol=1e-10)
    np.testing.assert_allclose(g["dWc"][3][1], -0.0793746735512, atol=1e-11)
    np.testing.assert_allclose(g["dWo"][1][2], 0.038948775763, atol=1e-11)
    np.testing.assert_allclose(g["dbf"][4], [-0.15745657], atol=1e-8)
    np.testing.assert_allclose(g["dbi"][4], [-0.50848333], atol=1e-8)
    np.testing.assert_allclose(g["dbc"][4], [-0.42510818], atol=1e-8)
    np.testing.assert_allclose(g["dbo"][4], [-0.17958196], atol=1e-8)


@pytest.mark.parametrize("m,T,T_da", [(1, 1, 1), (2, 5, 5), (10, 7, 4), (3, 6, 1)])
def test_lstm_backward_matches_oracle_incl_shorter_da(backend, m, T, T_da):
    params, x, a0, r = random_setup(100 + T_da, m=m, T=T)
    _, _, _, caches = sbs.lstm_forward(x, a0, params)
    da = r.randn(6, m, T_da)
    da_copy = da.copy()
    g = sbs.lstm_backward(da, caches)
    e = c_lstm_backward(da, caches)
    np.testing.assert_array_equal(da, da_copy)
    assert g["dx"].shape == (4, m, T_da)
    assert list(g) == SEQ_KEYS
    for k in e:
        assert g[k].shape == e[k].shape, k
        close(g[k], e[k], k)


def test_lstm_backward_accepts_oracle_caches_and_no_copy_layout(backend):
    # n_a = m = 1: the kernel layout of da is a view of da itself
    params, x, a0, r = random_setup(2, n_a=1, m=1, T=3)
    _, _, _, ecaches = c_lstm_forward(x, a0, params)
    da = r.randn(1, 1, 3)
    keep = da.copy()
    g = sbs.lstm_backward(da, ecaches)
    np.testing.assert_array_equal(da, keep)
    e = c_lstm_backward(keep, ecaches)
    for k in e:
        close(g[k], e[k], k)


def test_lstm_backward_zero_steps_like_course(backend):
    params, x, a0, _ = random_setup(5, m=2, T=3)
    _, _, _, caches = sbs.lstm_forward(x, a0, params)
    g = sbs.lstm_backward(np.zeros((6, 2, 0)), caches)
    assert list(g) == SEQ_KEYS
    assert g["dx"].shape == (4, 2, 0)
    for k in SEQ_KEYS[1:]:
        assert not g[k].any()


def test_matches_finite_differences_via_course_functions(backend):
    """dWc and dbf from lstm_backward vs central differences of sum(a * da)."""
    params, x, a0, r = random_setup(9, m=2, T=4)
    da = r.randn(6, 2, 4)
    _, _, _, caches = sbs.lstm_forward(x, a0, params)
    g = sbs.lstm_backward(da, caches)
    eps = 1e-6
    for key in ("Wc", "bf"):
        W = params[key]
        num = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            old = W[idx]
            W[idx] = old + eps
            lp = np.sum(sbs.lstm_forward(x, a0, params)[0] * da)
            W[idx] = old - eps
            lm = np.sum(sbs.lstm_forward(x, a0, params)[0] * da)
            W[idx] = old
            num[idx] = (lp - lm) / (2 * eps)
        np.testing.assert_allclose(g["d" + key], num, rtol=1e-6, atol=1e-8, err_msg=key)


# --------------------------------------------------------------------- bad inputs


def test_bad_parameters(backend):
    params, x, a0, _ = random_setup(1)
    c0 = np.zeros_like(a0)
    with pytest.raises(TypeError, match="parameters must be a dict"):
        sbs.lstm_forward(x, a0, [params])
    with pytest.raises(TypeError, match="parameters must be a dict"):
        sbs.lstm_cell_forward(x[:, :, 0], a0, c0, list(params.items()))
    for key in ("Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "Wy", "by"):
        broken = {k: v for k, v in params.items() if k != key}
        with pytest.raises(ValueError, match=f"'{key}'"):
            sbs.lstm_cell_forward(x[:, :, 0], a0, c0, broken)
        with pytest.raises(ValueError, match=f"'{key}'"):
            sbs.lstm_forward(x, a0, broken)
    for key in ("Wi", "Wc", "Wo"):
        bad = dict(params, **{key: params[key][:, :-1]})
        with pytest.raises(ValueError, match=key):
            sbs.lstm_forward(x, a0, bad)
    with pytest.raises(ValueError, match="Wf"):
        sbs.lstm_forward(x, a0, dict(params, Wf=params["Wf"][:, :6]))
    with pytest.raises(ValueError, match="Wf"):
        sbs.lstm_forward(x, a0, dict(params, Wf=params["Wf"][0]))
    with pytest.raises(ValueError, match="bi"):
        sbs.lstm_forward(x, a0, dict(params, bi=params["bi"].ravel()))
    with pytest.raises(ValueError, match="Wy"):
        sbs.lstm_forward(x, a0, dict(params, Wy=params["Wy"][:, :-1]))
    with pytest.raises(ValueError, match="by"):
        sbs.lstm_forward(x, a0, dict(params, by=np.zeros((5, 1))))
    for key in ("Wo", "bc", "Wy"):
        nan = dict(params, **{key: params[key].copy()})
        nan[key][0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            sbs.lstm_forward(x, a0, nan)
    with pytest.raises(TypeError):
        sbs.lstm_forward(x, a0, dict(params, Wc="abc"))


def test_bad_inputs(backend):
    params, x, a0, r = random_setup(1)
    c0 = r.randn(6, 2)
    with pytest.raises(ValueError, match="x must have shape"):
        sbs.lstm_forward(x[:3], a0, params)
    with pytest.raises(ValueError, match="x must be 3-D"):
        sbs.lstm_forward(x[:, :, 0], a0, params)
    with pytest.raises(ValueError, match="a0"):
        sbs.lstm_forward(x, a0[:, :1], params)
    with pytest.raises(ValueError, match="xt"):
        sbs.lstm_cell_forward(x[:, :0, 0], a0[:, :0], c0[:, :0], params)
    with pytest.raises(ValueError, match="a_prev"):
        sbs.lstm_cell_forward(x[:, :, 0], a0.T, c0, params)
    with pytest.raises(ValueError, match="c_prev"):
        sbs.lstm_cell_forward(x[:, :, 0], a0, c0[:5], params)
    xn = x.copy()
    xn[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="x contains NaN or infinity"):
        sbs.lstm_forward(xn, a0, params)
    cn = c0.copy()
    cn[1, 1] = np.nan
    with pytest.raises(ValueError, match="c_prev contains NaN"):
        sbs.lstm_cell_forward(x[:, :, 0], a0, cn, params)

    _, _, _, caches = sbs.lstm_forward(x, a0, params)
    with pytest.raises(ValueError, match="T_x = 6"):
        sbs.lstm_backward(r.randn(6, 2, 6), caches)
    with pytest.raises(ValueError, match="da must have shape"):
        sbs.lstm_backward(r.randn(5, 2, 3), caches)
    with pytest.raises(ValueError, match="da must be 3-D"):
        sbs.lstm_backward(r.randn(6, 2), caches)
    with pytest.raises(TypeError, match="caches"):
        sbs.lstm_backward(r.randn(6, 2, 3), caches[0])
    with pytest.raises(ValueError, match="no cell cache"):
        sbs.lstm_backward(r.randn(6, 2, 0), ([], x))
    with pytest.raises(TypeError, match="10-tuple"):
        sbs.lstm_cell_backward(r.randn(6, 2), r.randn(6, 2), caches[0][0][:9])
    with pytest.raises(TypeError, match="10-tuple"):        # an RNN cache
        sbs.lstm_backward(r.randn(6, 2, 3), ([c[:4] for c in caches[0]], x))
    with pytest.raises(ValueError, match="da_next"):
        sbs.lstm_cell_backward(r.randn(6, 3), r.randn(6, 2), caches[0][0])
    with pytest.raises(ValueError, match="dc_next"):
        sbs.lstm_cell_backward(r.randn(6, 2), r.randn(5, 2), caches[0][0])
    dn = r.randn(6, 2)
    dn[0, 0] = np.nan
    with pytest.raises(ValueError, match="dc_next contains NaN"):
        sbs.lstm_cell_backward(r.randn(6, 2), dn, caches[0][0])
    shuffled = ([caches[0][1], caches[0][0]] + caches[0][2:], x)
    with pytest.raises(ValueError, match="consecutive"):
        sbs.lstm_backward(r.randn(6, 2, 3), shuffled)
    # a_prev chains but c_prev does not
    step1 = list(caches[0][1])
    step1[3] = step1[3] + 1.0
    broken = ([caches[0][0], tuple(step1)] + caches[0][2:], x)
    with pytest.raises(ValueError, match=r"c_prev.*consecutive"):
        sbs.lstm_backward(r.randn(6, 2, 3), broken)
    # a cache whose gate has the wrong shape
    step0 = list(caches[0][0])
    step0[6] = step0[6][:, :1]
    with pytest.raises(ValueError, match="cct"):
        sbs.lstm_cell_backward(r.randn(6, 2), r.randn(6, 2), tuple(step0))
    # steps from different parameters cannot be one kernel call
    other = dict(params, Wo=params["Wo"] * 2)
    step1 = list(caches[0][1])
    step1[9] = other
    with pytest.raises(ValueError, match="parameters"):
        sbs.lstm_backward(r.randn(6, 2, 3), ([caches[0][0], tuple(step1)] + caches[0][2:], x))
    da = r.randn(6, 2, 3)
    da[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="da contains NaN"):
        sbs.lstm_backward(da, caches)
