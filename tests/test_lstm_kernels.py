"""LSTM kernels (``fastrnn._lstm``) vs their NumPy twin (``fastrnn.reference._lstm``),
the twin vs central finite differences, both vs the course's step-by-step math
(COURSE_SPEC 2.3 / 2.7), sampling, and the argument checks.

Gate order [f, i, c, o] (documented at the top of ``fastrnn/reference/_lstm.py``).
"""

import numpy as np
import pytest

from conftest import TOL, assert_close, team_mode

import fastrnn

import fastrnn.reference._lstm as R


@pytest.fixture(scope="module")
def K():
    try:
        import fastrnn._lstm as mod
    except ImportError as exc:  # pragma: no cover - only without a build
        pytest.fail(f"fastrnn._lstm is not built ({exc}); run "
                    "`FASTRNN_MODULES=_lstm python setup.py build_ext --inplace`")
    return mod


# ------------------------------------------------------------------ problem setup

@pytest.fixture(autouse=True)
def _pairs_always(K):
    """Every eligible call runs on the team (pair) here: the adaptive choice (one thread
    when it measured faster, on a busy machine) would otherwise let a test meant for two
    threads run on one (the numbers are the same either way)."""
    old = K._team_test_hook(adaptive=False)
    yield
    K._team_test_hook(adaptive=old[0])


@pytest.fixture(params=["own", "blas"])
def rows(K, request):
    """The row products of the batch-1 steps in src_c/fastrnn/_gemv.h (where the CPU has
    AVX-512F), or in BLAS: both give the bits these tests compare."""
    old = K._gemv_test_hook(blas=request.param == "blas")
    yield request.param
    K._gemv_test_hook(blas=old)


def make_problem(rng, dtype, T=5, B=3, H=4, X=6, Y=6, scale=0.6):
    """Random parameters, inputs with -1 entries, targets with masked (-1) entries."""
    dt = np.dtype(dtype)
    p = {
        "Wx": rng.normal(size=(4 * H, X)) * scale,
        "Wh": rng.normal(size=(4 * H, H)) * scale,
        "b": rng.normal(size=(4 * H,)) * scale,
        "Wy": rng.normal(size=(Y, H)) * scale,
        "by": rng.normal(size=(Y,)) * scale,
        "a0": rng.normal(size=(B, H)) * 0.5,
        "c0": rng.normal(size=(B, H)) * 0.5,
        "x": rng.normal(size=(T, B, X)),
        "dA": rng.normal(size=(T, B, H)),
        "dcT": rng.normal(size=(B, H)),
    }
    p = {k: v.astype(dt) for k, v in p.items()}
    Xi = rng.integers(0, X, size=(T, B))
    Xi[0, 0] = -1
    Xi[T // 2, B - 1] = -1
    Yi = rng.integers(0, Y, size=(T, B))
    Yi[T - 1, 0] = -1
    Yi[1, B - 1] = -1
    p["X"] = Xi.astype(np.int64)
    p["Y"] = Yi.astype(np.int64)
    p["dims"] = (T, B, H, X, Y)
    return p


def fwd_buffers(p, dtype):
    T, B, H, X, Y = p["dims"]
    return (np.zeros((T, B, H), dtype), np.zeros((T, B, H), dtype),
            np.zeros((T, B, 4 * H), dtype))


def forward(mod, p, mode, dtype):
    A, C, G = fwd_buffers(p, dtype)
    inp = p["X"] if mode == "ix" else p["x"]
    fn = mod.lstm_forward_ix if mode == "ix" else mod.lstm_forward_dense
    fn(inp, p["Wx"], p["Wh"], p["b"], p["a0"], p["c0"], A, C, G)
    return A, C, G


def backward(mod, p, mode, dtype, A, C, G, dA, dcT, init=0.25):
    """Run the backward kernel; gradient buffers start at ``init`` (checks ``+=``)."""
    T, B, H, X, Y = p["dims"]
    g = {
        "dWx": np.full((4 * H, X), init, dtype),
        "dWh": np.full((4 * H, H), init, dtype),
        "db": np.full((4 * H,), init, dtype),
        "da0": np.full((B, H), np.nan, dtype),     # OUT: must be overwritten
        "dc0": np.full((B, H), np.nan, dtype),
    }
    if mode == "ix":
        mod.lstm_backward_ix(p["X"], p["Wh"], p["a0"], p["c0"], A, C, G, dA, dcT,
                             g["dWx"], g["dWh"], g["db"], g["da0"], g["dc0"])
    else:
        g["dx"] = np.full((T, B, X), np.nan, dtype)
        mod.lstm_backward_dense(p["x"], p["Wx"], p["Wh"], p["a0"], p["c0"], A, C, G, dA,
                                dcT, g["dWx"], g["dWh"], g["db"], g["da0"], g["dc0"],
                                g["dx"])
    g["dZ"] = G
    return g


def train_step(mod, p, dtype, clip, lr):
    T, B, H, X, Y = p["dims"]
    q = {k: p[k].copy() for k in ("Wx", "Wh", "b", "Wy", "by")}
    A, C, G = fwd_buffers(p, dtype)
    P = np.zeros((T, B, Y), dtype)
    dA = np.zeros((T, B, H), dtype)
    g = {
        "dWx": np.full((4 * H, X), 7, dtype), "dWh": np.full((4 * H, H), 7, dtype),
        "db": np.full((4 * H,), 7, dtype), "dWy": np.full((Y, H), 7, dtype),
        "dby": np.full((Y,), 7, dtype), "da0": np.zeros((B, H), dtype),
        "dc0": np.zeros((B, H), dtype),
    }
    loss = mod.lstm_train_step_ix(p["X"], p["Y"], q["Wx"], q["Wh"], q["b"], q["Wy"],
                                  q["by"], p["a0"], p["c0"], A, C, G, P, dA, g["dWx"],
                                  g["dWh"], g["db"], g["dWy"], g["dby"], g["da0"], g["dc0"],
                                  clip, lr)
    return loss, q, dict(A=A, C=C, G=G, P=P), g


# ---------------------------------------------------------------- kernel vs twin

@pytest.mark.parametrize("mode", ["ix", "dense"])
def test_forward_matches_twin(K, rng, dtype, batch, mode):
    p = make_problem(rng, dtype, B=batch)
    out_k = forward(K, p, mode, dtype)
    out_r = forward(R, p, mode, dtype)
    for name, a, b in zip("ACG", out_k, out_r):
        assert_close(a, b, dtype, err_msg=name)
    # the gates are activated: sigmoid gates in (0, 1), candidate in (-1, 1)
    H = p["dims"][2]
    G = out_k[2]
    assert np.all((G[..., :2 * H] >= 0) & (G[..., :2 * H] <= 1))
    assert np.all((G[..., 3 * H:] >= 0) & (G[..., 3 * H:] <= 1))
    assert np.all(np.abs(G[..., 2 * H:3 * H]) <= 1)


@pytest.mark.parametrize("mode", ["ix", "dense"])
def test_backward_matches_twin(K, rng, dtype, batch, mode):
    p = make_problem(rng, dtype, B=batch)
    res = {}
    for name, mod in (("cy", K), ("np", R)):
        A, C, G = forward(mod, p, mode, dtype)
        res[name] = backward(mod, p, mode, dtype, A, C, G, p["dA"].copy(), p["dcT"].copy())
    assert set(res["cy"]) == set(res["np"])
    for key in res["cy"]:
        assert np.all(np.isfinite(res["cy"][key])), key
        assert_close(res["cy"][key], res["np"][key], dtype, err_msg=key)


def _check_thread_counts(K, p, dtype, mode):
    """Forward, backward and the training step at 1 and 2 BLAS threads (the kernels'
    team or pair): the same bits, the BLAS's thread count as it was afterwards; against
    the twin the loss, and in float64 every array."""
    from fastrnn import _config

    blas = _config._kernel_blas()

    def run(mod):
        A, C, G = forward(mod, p, mode, dtype)
        g = backward(mod, p, mode, dtype, A, C, G.copy(), p["dA"].copy(), p["dcT"].copy())
        loss, q, f, tg = train_step(mod, p, dtype, 1.0, 0.05)
        return [dict(A=A, C=C, G=G), g, q, f, tg], loss

    out = {}
    for threads in (1, 2):
        with fastrnn.threads(threads):
            before = [lc.num_threads for lc in blas]
            out[threads] = run(K)
            assert [lc.num_threads for lc in blas] == before
    assert out[1][1] == out[2][1]
    for d1, d2 in zip(out[1][0], out[2][0]):
        for key in d1:
            np.testing.assert_array_equal(d1[key], d2[key], err_msg=key)
    ref, loss_r = run(R)
    np.testing.assert_allclose(out[2][1], loss_r, rtol=TOL[np.dtype(dtype)][0])
    if np.dtype(dtype) == np.float64:
        for d_k, d_r in zip(out[2][0], ref):
            for key in d_k:
                assert_close(d_k[key], d_r[key], dtype, err_msg=key)


def test_batched_team_matches_twin_and_ignores_thread_count(K, rng, dtype):
    """The batched kernels run on a team of as many threads as SciPy's BLAS has, in
    rounds of fixed blocks (64 units, 256 output rows; src_c/fastrnn/_team.h): which
    thread computes a block does not change its numbers, so 1 and 2 threads give the
    same bits. Sizes that make uneven blocks (H = 70: 64 + 6), two row tiles (B = 37)
    and two depth tiles in the backward product (4H = 280 > 256), T*B = 296 > 256 output
    rows; forward, backward and the training step, then float64 against the twin (float32
    sums over 296 rows exceed TOL's bound)."""
    p = make_problem(rng, dtype, T=8, B=37, H=70, X=9, Y=9, scale=0.3)
    _check_thread_counts(K, p, dtype, "ix")


@pytest.mark.parametrize("T, H", [(9, 40), (9, 97), (2, 100), (7, 130)])
@pytest.mark.parametrize("mode", ["ix", "dense"])
def test_batch1_pair_matches_twin_and_ignores_thread_count(K, dtype, T, H, mode, rows):
    """From H = 96 a batch-1 pass splits each step in two parts (the rows of gates
    [f, i] / [cc, o] of Wh a, of the carry dz @ Wh and of dWh, db; the units [0, us) /
    [us, H) of the gates and of the cell backward), which a pair of threads shares when
    the BLAS allows two: 1 and 2 threads give the same bits (forward, backward, training
    step; T = 2 also); float64 against the twin (float32: the loss). One thread
    multiplies all rows of Wh a in one call of _gemv.h's kernel, whose rows do not
    depend on the parts; with BLAS it keeps the parts (H = 130: BLAS in both modes)."""
    p = make_problem(np.random.default_rng(H), dtype, T=T, B=1, H=H, X=9, Y=9, scale=0.4)
    _check_thread_counts(K, p, dtype, mode)


def test_backward_dcT_may_alias_dc0(K, rng):
    p = make_problem(rng, np.float64)
    A, C, G = forward(K, p, "ix", np.float64)
    g1 = backward(K, p, "ix", np.float64, A, C, G.copy(), p["dA"].copy(), p["dcT"].copy())
    T, B, H, X, Y = p["dims"]
    dc = p["dcT"].copy()
    dWx, dWh, db = np.full((4 * H, X), 0.25), np.full((4 * H, H), 0.25), np.full(4 * H, 0.25)
    da0 = np.zeros((B, H))
    K.lstm_backward_ix(p["X"], p["Wh"], p["a0"], p["c0"], A, C, G, p["dA"].copy(), dc,
                       dWx, dWh, db, da0, dc)
    np.testing.assert_array_equal(dc, g1["dc0"])
    np.testing.assert_array_equal(dWh, g1["dWh"])


@pytest.mark.parametrize("clip, lr", [(0.0, 0.0), (0.1, 0.1)])
def test_train_step_matches_twin(K, rng, dtype, batch, clip, lr):
    p = make_problem(rng, dtype, B=batch, T=6)
    loss_k, q_k, f_k, g_k = train_step(K, p, dtype, clip, lr)
    loss_r, q_r, f_r, g_r = train_step(R, p, dtype, clip, lr)
    assert isinstance(loss_k, float)
    assert np.isfinite(loss_k)
    np.testing.assert_allclose(loss_k, loss_r, rtol=TOL[np.dtype(dtype)][0])
    for d_k, d_r in ((f_k, f_r), (g_k, g_r), (q_k, q_r)):
        for key in d_k:
            assert_close(d_k[key], d_r[key], dtype, err_msg=key)
    if clip > 0:
        assert max(np.abs(g_k[k]).max() for k in ("dWx", "dWh", "db", "dWy", "dby")) <= clip
        assert any(np.any(np.abs(g_k[k]) == np.asarray(clip, dtype))   # clipping happened
                   for k in ("dWx", "dWh", "db", "dWy", "dby"))
    else:
        np.testing.assert_array_equal(q_k["Wh"], p["Wh"])               # lr = 0: no update
    if lr:
        # p_new = p - lr * g (with the clipped g)
        assert_close(q_k["Wx"], p["Wx"] - dtype.type(lr) * g_k["dWx"], dtype)
    # masked targets give zero rows of the output-layer gradient
    masked = p["Y"] < 0
    assert np.all(f_k["P"][masked] == 0)


def test_train_step_loss_is_summed_xent(K, rng):
    """The loss is -sum log p[y] over unmasked positions (not averaged)."""
    p = make_problem(rng, np.float64)
    A, C, G = forward(R, p, "ix", np.float64)
    logits = A @ p["Wy"].T + p["by"]
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    m = p["Y"] >= 0
    want = -logp[m, p["Y"][m]].sum()
    loss, *_ = train_step(K, p, np.float64, 0.0, 0.0)
    np.testing.assert_allclose(loss, want, rtol=1e-12)


def test_train_step_returns_nonfinite_loss(K, rng):
    p = make_problem(rng, np.float64)
    p["Wy"][0, 0] = np.nan
    loss, *_ = train_step(K, p, np.float64, 0.0, 0.0)
    assert not np.isfinite(loss)


# ------------------------------------------------------ finite differences (float64)

EPS = 1e-6


def rel_err(num, ana):
    num = np.asarray(num, np.float64).ravel()
    ana = np.asarray(ana, np.float64).ravel()
    return np.linalg.norm(num - ana) / max(np.linalg.norm(num), np.linalg.norm(ana), 1e-300)


def numgrad(f, arr):
    """Central differences of the scalar f() with respect to every entry of ``arr``."""
    g = np.zeros(arr.shape)
    it = np.nditer(arr, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = arr[i]
        arr[i] = old + EPS
        fp = f()
        arr[i] = old - EPS
        fm = f()
        arr[i] = old
        g[i] = (fp - fm) / (2 * EPS)
    return g


def linear_loss(mod, p, mode, RA, rc):
    """L = sum(RA * A) + sum(rc * c_T): upstream dA = RA on every a_t and dcT = rc."""
    A, C, G = forward(mod, p, mode, np.float64)
    return float(np.sum(RA * A) + np.sum(rc * C[-1]))


@pytest.mark.parametrize("mod_name", ["numpy", "cython"])
@pytest.mark.parametrize("mode", ["ix", "dense"])
def test_gradcheck_backward(K, rng, mode, mod_name):
    """Every gradient of lstm_backward_* (with an upstream dcT) vs central differences
    of the same implementation's forward (the twin; the kernel once more on its own)."""
    mod = R if mod_name == "numpy" else K
    p = make_problem(rng, np.float64, T=4, B=2, H=3, X=4, Y=4)
    RA, rc = p["dA"], p["dcT"]
    A, C, G = forward(mod, p, mode, np.float64)
    g = backward(mod, p, mode, np.float64, A, C, G, RA.copy(), rc.copy(), init=0.0)
    wrt = {"Wx": "dWx", "Wh": "dWh", "b": "db", "a0": "da0", "c0": "dc0"}
    if mode == "dense":
        wrt["x"] = "dx"
    for pname, gname in wrt.items():
        num = numgrad(lambda: linear_loss(mod, p, mode, RA, rc), p[pname])
        if mode == "ix" and pname == "Wx":
            # columns never used (and -1 inputs) must get exactly zero gradient
            used = np.unique(p["X"][p["X"] >= 0])
            unused = np.setdiff1d(np.arange(p["Wx"].shape[1]), used)
            assert np.all(g[gname][:, unused] == 0)
        assert rel_err(num, g[gname]) < 1e-6, (pname, rel_err(num, g[gname]))


@pytest.mark.parametrize("mod_name", ["numpy", "cython"])
def test_gradcheck_train_step(K, rng, mod_name):
    """dWx, dWh, db, dWy, dby, da0, dc0 of lstm_train_step_ix (lr = 0, clip = 0) vs
    central differences of its loss (masked targets and -1 inputs included)."""
    mod = R if mod_name == "numpy" else K
    p = make_problem(rng, np.float64, T=4, B=2, H=3, X=4, Y=5)

    def loss():
        return train_step(mod, p, np.float64, 0.0, 0.0)[0]

    _, q, _, g = train_step(mod, p, np.float64, 0.0, 0.0)
    for pname in ("Wx", "Wh", "b", "Wy", "by", "a0", "c0"):
        num = numgrad(loss, p[pname])
        err = rel_err(num, g["d" + pname])
        assert err < 1e-6, (pname, err)


# --------------------------------------------------------- the course's math (2.3)

def _sig(x):
    return 1 / (1 + np.exp(-x))


def course_params(p):
    """Course dict from the stacked parameters: W_g = [Wh block | Wx block] (a_prev first)."""
    H = p["Wh"].shape[1]
    out = {}
    for k, g in enumerate("fico"):
        out["W" + g] = np.hstack([p["Wh"][k * H:(k + 1) * H], p["Wx"][k * H:(k + 1) * H]])
        out["b" + g] = p["b"][k * H:(k + 1) * H].reshape(H, 1)
    return out


def course_inputs(p, mode):
    """x in the course's (n_x, m, T) layout (one-hot columns; zero for -1 inputs)."""
    T, B, H, X, Y = p["dims"]
    if mode == "dense":
        return np.transpose(p["x"], (2, 1, 0)).astype(np.float64)
    x = np.zeros((X, B, T))
    for t in range(T):
        for b in range(B):
            if p["X"][t, b] >= 0:
                x[p["X"][t, b], b, t] = 1.0
    return x


def course_lstm_forward(x, a0, c0, cp):
    """COURSE_SPEC 2.3 / 2.4, literally (with a c0 argument)."""
    n_x, m, T = x.shape
    a_next, c_next = a0, c0
    caches = []
    for t in range(T):
        xt = x[:, :, t]
        a_prev, c_prev = a_next, c_next
        concat = np.concatenate([a_prev, xt], axis=0)
        ft = _sig(cp["Wf"] @ concat + cp["bf"])
        it = _sig(cp["Wi"] @ concat + cp["bi"])
        cct = np.tanh(cp["Wc"] @ concat + cp["bc"])
        c_next = ft * c_prev + it * cct
        ot = _sig(cp["Wo"] @ concat + cp["bo"])
        a_next = ot * np.tanh(c_next)
        caches.append((a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt))
    return caches


def course_lstm_backward(da, dcT, caches, cp):
    """COURSE_SPEC 2.7 / 2.8, literally (dc_prev starts at dcT instead of zeros)."""
    n_a, m, T = da.shape
    n_x = caches[0][8].shape[0]
    grads = {k: np.zeros_like(v) for k, v in cp.items()}
    dx = np.zeros((n_x, m, T))
    da_prevt = np.zeros((n_a, m))
    dc_prevt = dcT
    for t in reversed(range(T)):
        a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt = caches[t]
        da_next = da[:, :, t] + da_prevt
        dc_next = dc_prevt
        s = dc_next + da_next * ot * (1 - np.tanh(c_next) ** 2)
        dot = da_next * np.tanh(c_next) * ot * (1 - ot)
        dcct = s * it * (1 - cct ** 2)
        dit = s * cct * it * (1 - it)
        dft = s * c_prev * ft * (1 - ft)
        concat = np.concatenate([a_prev, xt], axis=0)
        for g, d in zip("fico", (dft, dit, dcct, dot)):
            grads["W" + g] += d @ concat.T
            grads["b" + g] += d.sum(axis=1, keepdims=True)
        dconcat = (cp["Wf"].T @ dft + cp["Wi"].T @ dit + cp["Wc"].T @ dcct
                   + cp["Wo"].T @ dot)
        da_prevt = dconcat[:n_a]
        dx[:, :, t] = dconcat[n_a:]
        dc_prevt = s * ft
    return grads, dx, da_prevt, dc_prevt


@pytest.mark.parametrize("impl", ["numpy", "cython"])
@pytest.mark.parametrize("mode", ["ix", "dense"])
def test_matches_course_math(K, rng, batch, mode, impl):
    mod = R if impl == "numpy" else K
    p = make_problem(rng, np.float64, T=4, B=batch, H=3, X=5, Y=5, scale=0.8)
    cp = course_params(p)
    x = course_inputs(p, mode)
    caches = course_lstm_forward(x, p["a0"].T, p["c0"].T, cp)
    A, C, G = forward(mod, p, mode, np.float64)
    for t, cache in enumerate(caches):
        a_next, c_next, _, _, ft, it, cct, ot, _ = cache
        np.testing.assert_allclose(A[t], a_next.T, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(C[t], c_next.T, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(G[t], np.vstack([ft, it, cct, ot]).T, rtol=1e-12,
                                   atol=1e-14)
    # backward: the course's lstm_cell_backward / lstm_backward
    da = np.transpose(p["dA"], (2, 1, 0))
    grads, dx, da0, dc0 = course_lstm_backward(da, p["dcT"].T, caches, cp)
    g = backward(mod, p, mode, np.float64, A, C, G, p["dA"].copy(), p["dcT"].copy(), 0.0)
    H = p["dims"][2]
    for k, gate in enumerate("fico"):
        rows = slice(k * H, (k + 1) * H)
        np.testing.assert_allclose(g["dWh"][rows], grads["W" + gate][:, :H], rtol=1e-11,
                                   atol=1e-13)
        np.testing.assert_allclose(g["dWx"][rows], grads["W" + gate][:, H:], rtol=1e-11,
                                   atol=1e-13)
        np.testing.assert_allclose(g["db"][rows], grads["b" + gate][:, 0], rtol=1e-11,
                                   atol=1e-13)
    np.testing.assert_allclose(g["da0"], da0.T, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(g["dc0"], dc0.T, rtol=1e-11, atol=1e-13)
    if mode == "dense":
        np.testing.assert_allclose(g["dx"], np.transpose(dx, (2, 1, 0)), rtol=1e-11,
                                   atol=1e-13)


# -------------------------------------------------------------------- sampling

def sample(mod, p, x0, u, temperature, top_k, stop, n):
    a = p["a0"][0].copy()
    c = p["c0"][0].copy()
    out = np.full(n, -7, np.int64)
    k = mod.lstm_sample(p["Wx"], p["Wh"], p["b"], p["Wy"], p["by"], a, c, x0, u,
                        temperature, top_k, stop, out)
    return k, out, a, c


@pytest.mark.parametrize("temperature, top_k", [(1.0, 0), (0.7, 0), (1.3, 3), (1.0, 1),
                                                 (0.0, 0)])
@pytest.mark.parametrize("x0", [-1, 2])
def test_sample_matches_twin(K, rng, temperature, top_k, x0):
    p = make_problem(rng, np.float64, B=1, H=8, X=7, Y=7, scale=1.0)
    u = rng.random(40)
    k_k, out_k, a_k, c_k = sample(K, p, x0, u, temperature, top_k, -1, 40)
    k_r, out_r, a_r, c_r = sample(R, p, x0, u, temperature, top_k, -1, 40)
    assert k_k == k_r == 40
    np.testing.assert_array_equal(out_k, out_r)
    assert out_k.min() >= 0 and out_k.max() < 7
    assert len(set(out_k.tolist())) > 1 or temperature == 0 or top_k == 1
    assert_close(a_k, a_r, np.float64)
    assert_close(c_k, c_r, np.float64)
    # the state moved: a, c are the state after the last step
    assert not np.allclose(a_k, p["a0"][0])


@pytest.mark.parametrize("x0", [-1, 3])
@pytest.mark.parametrize("n, X, H", [(30, 9, 100), (1, 9, 100), (2, 9, 100), (3, 9, 97),
                                     (31, 9, 40), (25, 7000, 100)])
def test_sample_states_are_the_forward_states(K, dtype, x0, n, X, H, rows):
    """Sampling feeds each pick back as the next input: its state after n steps is the
    forward pass's state on that input sequence, bit for bit in the compiled kernels
    (same order of sums: (b + Wx x) + Wh a, same GEMVs, same gate pass), to the
    tolerance in the NumPy twin (its forward multiplies a (B, H) matrix). Both with one
    thread and with two (from H = 96 a step's Wh a is two GEMVs, one per thread, and
    each thread activates half of the units; H = 40 stays on one thread); n = 1, 2, 3
    end with c_t in either of the kernel's two cell-state buffers; X = 7000 makes the
    per-input cache of b + Wx[:, x] larger than its 4 MiB cap (column gathers only)."""
    rng = np.random.default_rng(7)
    p = make_problem(rng, dtype, B=1, H=H, X=X, Y=9, scale=0.5)
    u = rng.random(n)
    runs = []
    for mod, threads in ((K, 1), (K, 2), (R, 1)):
        with fastrnn.threads(threads):
            k, out, a, c = sample(mod, p, x0, u, 1.0, 0, -1, n)
        assert k == n
        runs.append(out)
        X = np.concatenate([[x0], out[:-1]]).astype(np.int64).reshape(n, 1)
        A, C, G = (np.zeros((n, 1, H), dtype), np.zeros((n, 1, H), dtype),
                   np.zeros((n, 1, 4 * H), dtype))
        mod.lstm_forward_ix(X, p["Wx"], p["Wh"], p["b"], p["a0"][:1], p["c0"][:1], A, C, G)
        if mod is K:
            np.testing.assert_array_equal(a, A[-1, 0])
            np.testing.assert_array_equal(c, C[-1, 0])
        else:
            assert_close(a, A[-1, 0], dtype)
            assert_close(c, C[-1, 0], dtype)
    np.testing.assert_array_equal(runs[0], runs[1])      # the same picks on 1 and 2 threads


def test_sample_on_two_threads_stops_as_on_one(K):
    """The two sampling threads pick the same index each step, so both stop at ``stop``."""
    p = make_problem(np.random.default_rng(3), np.float32, B=1, H=100, X=7, Y=7, scale=1.0)
    u = np.random.default_rng(4).random(60)
    full = sample(K, p, -1, u, 1.0, 0, -1, 60)[1]
    stop = int(full[10])
    first = int(np.flatnonzero(full == stop)[0])
    for threads in (1, 2):
        with fastrnn.threads(threads):
            k, out, a, c = sample(K, p, -1, u, 1.0, 0, stop, 60)
        assert k == first + 1 and out[first] == stop
        np.testing.assert_array_equal(out[:k], full[:k])
        assert (out[k:] == -7).all()                   # nothing written after the stop


def _pair_runs(K, p, dtype, u):
    """Sampling 300 characters and a training step, both at batch 1 from H = 100."""
    return sample(K, p, -1, u, 1.0, 0, -1, 300), train_step(K, p, dtype, 1.0, 0.05)


def _assert_same(ref, got):
    for r, g in zip(ref[0][1:], got[0][1:]):
        np.testing.assert_array_equal(r, g)
    assert ref[1][0] == got[1][0]
    for r, g in zip(ref[1][1:], got[1][1:]):
        for key in r:
            np.testing.assert_array_equal(r[key], g[key], err_msg=key)


@pytest.mark.parametrize("hooks", [dict(skip=True), dict(hold_ns=3_000_000),
                                   dict(hold_ns=3_000_000, stall_ns=-2 ** 62)],
                         ids=["never-joins", "held-3ms", "held-stall"])
def test_pair_with_a_late_or_stalled_second_thread(K, dtype, hooks):
    """The pair's thread 0 does every item thread 1 has not claimed: whether thread 1
    never joins (``skip``), or sleeps 3 ms after claiming its first item of each pass (as
    one that lost its core), with or without thread 0 then marking it stalled and doing
    the rest itself, the numbers are those of one thread."""
    p = make_problem(np.random.default_rng(9), dtype, T=12, B=1, H=100, X=9, Y=9, scale=0.5)
    u = np.random.default_rng(2).random(300)
    with team_mode(1):
        ref = _pair_runs(K, p, dtype, u)
    with team_mode(2, **hooks):
        for _ in range(2):
            _assert_same(ref, _pair_runs(K, p, dtype, u))


def test_pair_runs_the_mode_measured_cheaper(K):
    """With the adaptive choice on, a batch-1 pass runs on a pair or on one thread,
    whichever its kind, dtype and H measured cheaper (here set through the hook), and
    at the 16th call the other."""
    p = make_problem(np.random.default_rng(9), np.float64, T=5, B=1, H=100, X=9, Y=9)
    u = np.random.default_rng(2).random(20)
    kind = K.K_PAIR_SAMPLE

    def pair_calls():
        return K._team_test_hook()[4][kind]

    with team_mode(2, adaptive=True, reset=True):
        runs = []
        for single, paired in ((1.0, 1e30), (1e30, 1.0)):    # far from real costs
            K._team_test_costs(kind, True, 100, single, paired)
            before = pair_calls()
            sample(K, p, -1, u, 1.0, 0, -1, 20)
            runs.append(pair_calls() - before)
        assert runs == [0, 1]
        K._team_test_costs(kind, True, 100, 1.0, 1e30)      # single is cheaper: call 16 pairs
        before = pair_calls()
        for _ in range(15):
            sample(K, p, -1, u, 1.0, 0, -1, 20)
        assert pair_calls() - before == 1
        K._team_test_costs(kind, True, 100, 1.0, 1e30, calls=15)
        before = pair_calls()
        for _ in range(3):                                   # the 16th call starts a burst
            sample(K, p, -1, u, 1.0, 0, -1, 20)
        assert pair_calls() - before == 3
        assert K._team_costs(kind, True)[2] == 1024           # lost by far: tried rarely
    K._team_test_hook(reset=True)


def test_sample_greedy_and_top1(K, rng):
    p = make_problem(rng, np.float64, B=1, H=8, X=7, Y=7, scale=1.0)
    u1, u2 = rng.random(30), rng.random(30)
    _, greedy, a_g, c_g = sample(K, p, 1, u1, 0.0, 0, -1, 30)
    _, greedy2, _, _ = sample(K, p, 1, u2, 0.0, 0, -1, 30)
    _, top1, a_1, c_1 = sample(K, p, 1, u2, 0.8, 1, -1, 30)
    np.testing.assert_array_equal(greedy, greedy2)     # greedy ignores u
    np.testing.assert_array_equal(greedy, top1)        # top_k = 1 is greedy
    np.testing.assert_array_equal(a_g, a_1)
    np.testing.assert_array_equal(c_g, c_1)
    # greedy is the argmax of the logits at each step (a literal loop)
    H = 8
    a, c, x = p["a0"][0].copy(), p["c0"][0].copy(), 1
    for k in range(30):
        z = p["Wh"] @ a + p["Wx"][:, x] + p["b"]
        c = _sig(z[:H]) * c + _sig(z[H:2 * H]) * np.tanh(z[2 * H:3 * H])
        a = _sig(z[3 * H:]) * np.tanh(c)
        x = int(np.argmax(p["Wy"] @ a + p["by"]))
        assert greedy[k] == x


def test_sample_stop(K, rng):
    p = make_problem(rng, np.float64, B=1, H=8, X=7, Y=7, scale=1.0)
    u = rng.random(50)
    _, full, _, _ = sample(K, p, -1, u, 1.0, 0, -1, 50)
    stop = int(full[10])
    first = int(np.nonzero(full == stop)[0][0])
    for mod in (K, R):
        n, out, a, c = sample(mod, p, -1, u, 1.0, 0, stop, 50)
        assert n == first + 1
        assert out[n - 1] == stop
        np.testing.assert_array_equal(out[:n], full[:n])
        assert np.all(out[n:] == -7)                      # nothing written after the stop
    # the state after the stop equals the state of a run of exactly n steps
    n, _, a, c = sample(K, p, -1, u, 1.0, 0, stop, 50)
    _, _, a_n, c_n = sample(K, p, -1, u, 1.0, 0, -1, n)
    np.testing.assert_array_equal(a, a_n)
    np.testing.assert_array_equal(c, c_n)


def test_sample_matches_pick_index(K, rng):
    """One step: the pick is fastrnn.reference.pick_index of the softmax (np.random.choice)."""
    from fastrnn.reference._ops import pick_index
    p = make_problem(rng, np.float64, B=1, H=8, X=7, Y=7, scale=1.0)
    for x0 in range(7):
        u = rng.random(1)
        n, out, a, c = sample(K, p, x0, u, 1.0, 0, -1, 1)
        logits = p["Wy"] @ a + p["by"]
        prob = np.exp(logits - logits.max())
        prob /= prob.sum()
        assert out[0] == pick_index(prob, u[0])


# ------------------------------------------------------------------ bad inputs

def fwd_args(p):
    T, B, H, X, Y = p["dims"]
    A, C, G = fwd_buffers(p, np.float64)
    return dict(X=p["X"], Wx=p["Wx"], Wh=p["Wh"], b=p["b"], a0=p["a0"], c0=p["c0"],
                A=A, C=C, G=G)


def train_args(p):
    T, B, H, X, Y = p["dims"]
    f = np.float64
    return dict(X=p["X"], Y=p["Y"], Wx=p["Wx"].copy(), Wh=p["Wh"].copy(), b=p["b"].copy(),
                Wy=p["Wy"].copy(), by=p["by"].copy(), a0=p["a0"], c0=p["c0"],
                A=np.zeros((T, B, H), f), C=np.zeros((T, B, H), f),
                G=np.zeros((T, B, 4 * H), f), P=np.zeros((T, B, Y), f),
                dA=np.zeros((T, B, H), f), dWx=np.zeros((4 * H, X), f),
                dWh=np.zeros((4 * H, H), f), db=np.zeros(4 * H, f), dWy=np.zeros((Y, H), f),
                dby=np.zeros(Y, f), da0=np.zeros((B, H), f), dc0=np.zeros((B, H), f),
                clip=5.0, lr=0.1)


def bwd_args(p, dense):
    T, B, H, X, Y = p["dims"]
    f = np.float64
    A, C, G = fwd_buffers(p, f)
    d = dict(X=p["X"], Wh=p["Wh"], a0=p["a0"], c0=p["c0"], A=A, C=C, G=G,
             dA=np.zeros((T, B, H), f), dcT=np.zeros((B, H), f), dWx=np.zeros((4 * H, X), f),
             dWh=np.zeros((4 * H, H), f), db=np.zeros(4 * H, f), da0=np.zeros((B, H), f),
             dc0=np.zeros((B, H), f))
    if dense:
        del d["X"]
        d = dict(x=p["x"], Wx=p["Wx"], **d, dx=np.zeros((T, B, X), f))
    return d


def sample_args(p):
    H = p["dims"][2]
    return dict(Wx=p["Wx"], Wh=p["Wh"], b=p["b"], Wy=p["Wy"], by=p["by"], a=np.zeros(H),
                c=np.zeros(H), x0=-1, u=np.full(5, 0.5), temperature=1.0, top_k=0, stop=-1,
                out=np.zeros(5, np.int64))


def call(K, fn, args):
    return getattr(K, fn)(**args)


def _raises(K, fn, args, name, exc=(ValueError, TypeError)):
    with pytest.raises(exc, match=rf"(^|[^\w]){name}([^\w]|$)"):
        call(K, fn, args)


# arguments whose shape defines a dimension (T, B from X / x, H from Wh, X from Wx or
# dWx, Y from Wy): a wrong one makes *another* argument inconsistent, which is named
ANCHORS = {"X", "x", "Wh", "Wx", "dWx", "Wy"}


@pytest.mark.parametrize("fn, make", [
    ("lstm_forward_ix", fwd_args),
    ("lstm_train_step_ix", train_args),
    ("lstm_backward_ix", lambda p: bwd_args(p, False)),
    ("lstm_backward_dense", lambda p: bwd_args(p, True)),
    ("lstm_sample", sample_args),
])
def test_bad_shapes_name_the_argument(K, rng, fn, make):
    p = make_problem(rng, np.float64, X=6, Y=6)
    call(K, fn, make(p))                                 # the good call works
    for name, v in make(p).items():
        if not isinstance(v, np.ndarray) or (fn == "lstm_sample" and name == "out"):
            continue                                     # any N is allowed for out
        if name in ("Wx", "dWx") and fn in ("lstm_forward_ix", "lstm_backward_ix",
                                             "lstm_sample"):
            continue                                     # a wider vocabulary is valid
        args = make(p)
        if name == "u":                                  # a longer u is allowed
            args[name] = np.zeros(args["out"].shape[0] - 1)
        else:
            args[name] = np.zeros(v.shape[:-1] + (v.shape[-1] + 1,), v.dtype)
        with pytest.raises(ValueError, match="must have shape|must hold|Y <= X") as info:
            call(K, fn, args)
        if name not in ANCHORS:
            assert str(info.value).startswith(name + " "), (name, str(info.value))
        # a wrong number of dimensions is caught too, and names the argument
        args = make(p)
        args[name] = v[None]
        _raises(K, fn, args, name)


def test_index_out_of_range(K, rng):
    p = make_problem(rng, np.float64, X=6, Y=5)
    for bad in (6, -2):
        args = fwd_args(p)
        X = p["X"].copy()
        X[2, 1] = bad
        args["X"] = X
        _raises(K, "lstm_forward_ix", args, r"X\[2, 1\]")
        args = train_args(p)
        args["X"] = X
        _raises(K, "lstm_train_step_ix", args, r"X\[2, 1\]")
        args = bwd_args(p, False)
        args["X"] = X
        _raises(K, "lstm_backward_ix", args, r"X\[2, 1\]")
    for bad in (5, -2):                                  # Y-size = 5 < X-size
        args = train_args(p)
        Yt = p["Y"].copy()
        Yt[1, 0] = bad
        args["Y"] = Yt
        _raises(K, "lstm_train_step_ix", args, r"Y\[1, 0\]")
    for bad in (6, -2):
        args = sample_args(make_problem(rng, np.float64, X=6, Y=6))
        args["x0"] = bad
        _raises(K, "lstm_sample", args, "x0")


def test_sample_bad_scalars(K, rng):
    p = make_problem(rng, np.float64, X=6, Y=6)
    for key, bad, exc in (("temperature", -1.0, ValueError), ("temperature", "hot", TypeError),
                          ("top_k", -1, ValueError), ("top_k", 1.5, TypeError),
                          ("x0", None, TypeError), ("stop", 2.0, TypeError)):
        args = sample_args(p)
        args[key] = bad
        _raises(K, "lstm_sample", args, key, exc)
    # Y > X: the picks could not be fed back as inputs
    q = make_problem(rng, np.float64, X=4, Y=6)
    _raises(K, "lstm_sample", sample_args(q), "Wy", ValueError)


@pytest.mark.parametrize("fn, make", [
    ("lstm_forward_ix", fwd_args),
    ("lstm_train_step_ix", train_args),
    ("lstm_backward_dense", lambda p: bwd_args(p, True)),
    ("lstm_sample", sample_args),
])
def test_bad_dtype_contiguity_none(K, rng, fn, make):
    p = make_problem(rng, np.float64)
    for name, v in make(p).items():
        if not isinstance(v, np.ndarray):
            continue
        # mixed float dtypes / wrong index dtype
        args = make(p)
        if v.dtype == np.float64 and name != "u":
            args[name] = v.astype(np.float32)
        elif v.dtype == np.int64:
            args[name] = v.astype(np.int32)
        else:                                            # u must be float64
            args[name] = v.astype(np.float32)
        _raises(K, fn, args, name, TypeError)
        # all floats float32 but one index array float: still a TypeError naming it
        # non-contiguous
        args = make(p)
        big = np.zeros(v.shape[:-1] + (2 * v.shape[-1],), v.dtype)
        args[name] = big[..., ::2]
        _raises(K, fn, args, name)
        # None
        args = make(p)
        args[name] = None
        _raises(K, fn, args, name, TypeError)
        # a list instead of an array
        args = make(p)
        args[name] = v.tolist()
        _raises(K, fn, args, name, TypeError)


def test_readonly_output_and_float32_everywhere(K, rng):
    p = make_problem(rng, np.float64)
    args = fwd_args(p)
    args["G"].flags.writeable = False
    _raises(K, "lstm_forward_ix", args, "G")
    # read-only inputs are fine
    args = fwd_args(p)
    args["Wh"] = args["Wh"].copy()
    args["Wh"].flags.writeable = False
    call(K, "lstm_forward_ix", args)
    # a consistent float32 call works, a float16 call names the argument
    args = {k: (v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype == np.float64
                else v) for k, v in fwd_args(p).items()}
    call(K, "lstm_forward_ix", args)
    args["Wx"] = args["Wx"].astype(np.float16)
    _raises(K, "lstm_forward_ix", args, "Wx", TypeError)


def test_empty_sequence_rejected(K, rng):
    p = make_problem(rng, np.float64, T=2)
    args = fwd_args(p)
    for k in ("A", "C", "G"):
        args[k] = args[k][:0]
    args["X"] = args["X"][:0]
    with pytest.raises(ValueError, match="T"):
        call(K, "lstm_forward_ix", args)
