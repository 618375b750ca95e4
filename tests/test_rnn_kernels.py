"""The compiled RNN kernels (fastrnn._rnn, fastrnn._ops) against their NumPy twin
(fastrnn.reference), and the twin against central finite differences."""

import numpy as np
import pytest

from conftest import assert_close, team_mode

PNAMES = ("Wax", "Waa", "ba", "Wya", "by")


def make_case(rng, T, B, H, X, V, dtype, dense=False, masked=False):
    p = {
        "Wax": rng.standard_normal((H, X)) * 0.5,
        "Waa": rng.standard_normal((H, H)) * 0.5,
        "ba": rng.standard_normal(H) * 0.3,
        "Wya": rng.standard_normal((V, H)) * 0.5,
        "by": rng.standard_normal(V) * 0.3,
    }
    p = {k: v.astype(dtype) for k, v in p.items()}
    if dense:
        x = rng.standard_normal((T, B, X)).astype(dtype)
    else:
        x = rng.integers(0, X, size=(T, B))
        x[0] = -1
        if T > 2:
            x[T // 2, 0] = -1
    Y = rng.integers(0, V, size=(T, B))
    if masked:
        Y[-1, 0] = -1
    a0 = (rng.standard_normal((B, H)) * 0.5).astype(dtype)
    return p, x, Y, a0


def run_forward(k, p, x, a0, dense):
    T, B = x.shape[:2]
    H = p["Waa"].shape[0]
    A = np.full((T, B, H), np.nan, dtype=p["Waa"].dtype)
    f = k.rnn_forward_dense if dense else k.rnn_forward_ix
    f(x, p["Wax"], p["Waa"], p["ba"], a0, A)
    return A


def run_backward(k, p, x, Y, a0, dense, dA_extra=None):
    """Forward + output layer + BPTT; returns loss, A, grads dict (incl. da0, dx)."""
    dt = p["Waa"].dtype
    A = run_forward(k, p, x, a0, dense)
    T, B, H = A.shape
    V = p["Wya"].shape[0]
    P = np.empty((T, B, V), dt)
    dA = np.zeros((T, B, H), dt) if dA_extra is None else dA_extra.astype(dt).copy()
    g = {"d" + n: np.zeros_like(p[n]) for n in PNAMES}
    loss = k.softmax_xent(A, p["Wya"], p["by"], Y, P, g["dWya"], g["dby"], dA)
    g["da0"] = np.full(a0.shape, np.nan, dt)
    if dense:
        g["dx"] = np.full(x.shape, np.nan, dt)
        k.rnn_backward_dense(x, p["Wax"], p["Waa"], a0, A, dA, g["dWax"], g["dWaa"], g["dba"],
                             g["da0"], g["dx"])
    else:
        k.rnn_backward_ix(x, p["Waa"], a0, A, dA, g["dWax"], g["dWaa"], g["dba"], g["da0"])
    return loss, A, g


@pytest.mark.parametrize("dense", [False, True], ids=["ix", "dense"])
@pytest.mark.parametrize("T", [1, 6])
def test_forward_matches_reference(cy, ref, rng, dtype, batch, dense, T):
    p, x, Y, a0 = make_case(rng, T, batch, 7, 5, 5, dtype, dense)
    assert_close(run_forward(cy, p, x, a0, dense), run_forward(ref, p, x, a0, dense), dtype)


@pytest.mark.parametrize("dense", [False, True], ids=["ix", "dense"])
@pytest.mark.parametrize("masked", [False, True], ids=["all", "masked"])
def test_backward_matches_reference(cy, ref, rng, dtype, batch, dense, masked):
    p, x, Y, a0 = make_case(rng, 6, batch, 7, 5, 6, dtype, dense, masked)
    up = rng.standard_normal((6, batch, 7))            # the course's extra upstream da
    lc, Ac, gc = run_backward(cy, p, x, Y, a0, dense, up)
    lr_, Ar, gr = run_backward(ref, p, x, Y, a0, dense, up)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert abs(lc - lr_) <= rtol * abs(lr_)
    assert_close(Ac, Ar, dtype)
    assert set(gc) == set(gr)
    for name in gr:
        assert_close(gc[name], gr[name], dtype, err_msg=name)


def test_large_batch_paths(cy, ref, rng, dtype):
    """T*B > X switches the gather and dWax scatter to their transposed-buffer paths."""
    p, x, Y, a0 = make_case(rng, 9, 4, 6, 3, 4, dtype)
    lc, Ac, gc = run_backward(cy, p, x, Y, a0, False)
    lr_, Ar, gr = run_backward(ref, p, x, Y, a0, False)
    assert_close(Ac, Ar, dtype)
    for name in gr:
        assert_close(gc[name], gr[name], dtype, err_msg=name)


def test_batched_team_matches_reference_and_ignores_thread_count(cy, ref, rng, dtype):
    """Batched RNN kernels run on the thread team of src_c/fastrnn/_team.h (rounds of
    64-unit blocks): 1 and 2 threads give the same bits; H = 70 (blocks 64 + 6), B = 37
    (two row tiles), T*B = 296 (two output-layer blocks). Forward, backward, the train
    step and RNNTrainer; float64 also against the twin (on T = 2); the BLAS's thread
    count as it was afterwards."""
    from fastrnn import _config

    blas = _config._kernel_blas()
    B, H, X, V = 37, 70, 9, 9

    def run(k, T):
        base = make_case(np.random.default_rng(5), T, B, H, X, V, dtype)
        p, x, Y, a0 = ({n: v.copy() for n, v in base[0].items()},) + base[1:]
        loss, A, g = run_backward(k, p, x, Y, a0, False)
        bufs = [np.empty((T, B, H), dtype), np.empty((T, B, V), dtype), np.empty((T, B, H), dtype)]
        gs = [np.full_like(p[n], np.nan) for n in PNAMES]
        da0 = np.empty((B, H), dtype)
        step = k.rnn_train_step_ix(x, Y, *[p[n] for n in PNAMES], a0, *bufs, *gs, da0,
                                   1.0, 0.05)
        q = {n: v.copy() for n, v in base[0].items()}
        tr = k.RNNTrainer(*[q[n] for n in PNAMES], T, B, 1.0, 0.05)
        losses = [tr.step(x, Y, carry=True) for _ in range(2)]
        arrays = [A, *g.values(), *bufs, *gs, da0, *p.values(), *q.values(), tr.a0]
        return [loss, step, *losses], arrays

    out = {}
    for threads in (1, 2):
        with team_mode(threads):
            before = [lc.num_threads for lc in blas]
            out[threads] = run(cy, 8)
            if threads == 2 and np.dtype(dtype) == np.float64:
                short = run(cy, 2)
            assert [lc.num_threads for lc in blas] == before
    assert out[1][0] == out[2][0]
    for a1, a2 in zip(out[1][1], out[2][1]):
        np.testing.assert_array_equal(a1, a2)
    if np.dtype(dtype) == np.float64:
        # against the twin on T = 2 (74 rows): TOL's float64 bound holds for sums of that
        # many rows, not of 296 (the twin sums in another order; float32 not at all)
        losses_r, arrays_r = run(ref, 2)
        np.testing.assert_allclose(short[0], losses_r, rtol=1e-12)
        for a_k, a_r in zip(short[1], arrays_r):
            assert_close(a_k, a_r, dtype)


def test_softmax_xent_forward_stable_and_matches(cy, ref, rng, dtype):
    p, x, Y, a0 = make_case(rng, 4, 2, 5, 3, 6, dtype)
    A = (rng.standard_normal((4, 2, 5)) * 300).astype(dtype)     # huge logits
    outs = []
    for k in (cy, ref):
        P = np.empty((4, 2, 6), dtype)
        loss = k.softmax_xent_forward(A, p["Wya"], p["by"], Y, P)
        outs.append((loss, P))
    assert np.isfinite(outs[0][0])
    assert_close(outs[0][1], outs[1][1], dtype)
    assert_close(outs[0][0], outs[1][0], dtype)
    assert_close(outs[0][1].sum(axis=-1), np.ones((4, 2)), dtype)


def test_train_step_matches_reference(cy, ref, rng, dtype, batch):
    res = []
    for k in (cy, ref):
        p, x, Y, a0 = make_case(np.random.default_rng(7), 8, batch, 6, 5, 5, dtype)
        T, B, H, V = 8, batch, 6, 5
        bufs = [np.empty((T, B, H), dtype), np.empty((T, B, V), dtype), np.empty((T, B, H), dtype)]
        g = [np.full_like(p[n], np.nan) for n in PNAMES]
        da0 = np.empty((B, H), dtype)
        loss = k.rnn_train_step_ix(x, Y, *[p[n] for n in PNAMES], a0, *bufs, *g, da0, 0.5, 0.1)
        res.append((loss, bufs[0], g, p, da0))
    (lc, Ac, gc, pc, dc), (lr_, Ar, gr, pr, dr) = res
    assert_close(lc, lr_, dtype)
    assert_close(Ac, Ar, dtype)
    assert_close(dc, dr, dtype)
    for a, b, n in zip(gc, gr, PNAMES):
        assert_close(a, b, dtype, err_msg="d" + n)
        assert np.abs(a).max() <= 0.5                     # clipped
    for n in PNAMES:
        assert_close(pc[n], pr[n], dtype, err_msg=n)


def test_train_step_equals_composition(backend, rng):
    """train_step == zero grads, forward, softmax_xent, backward, clip, sgd."""
    import fastrnn._ext as ext
    k = ext.kernels()
    p, x, Y, a0 = make_case(rng, 5, 2, 4, 3, 3, np.float64)
    q = {n: v.copy() for n, v in p.items()}
    loss, A, g = run_backward(k, q, x, Y, a0, False)
    grads = [g["d" + n] for n in PNAMES]
    k.clip_(grads, 0.3)
    k.sgd_update_([q[n] for n in PNAMES], grads, 0.05)
    bufs = [np.empty((5, 2, 4)), np.empty((5, 2, 3)), np.empty((5, 2, 4))]
    g2 = [np.empty_like(p[n]) for n in PNAMES]
    loss2 = k.rnn_train_step_ix(x, Y, *[p[n] for n in PNAMES], a0, *bufs, *g2,
                                np.empty((2, 4)), 0.3, 0.05)
    np.testing.assert_allclose(loss2, loss, rtol=1e-14)
    for n, a, b in zip(PNAMES, g2, grads):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15, err_msg=n)
        np.testing.assert_allclose(p[n], q[n], rtol=1e-13, atol=1e-15, err_msg=n)


# ------------------------------------------------------------- finite differences

def _loss_fn(k, p, x, Y, a0, dense, up):
    A = run_forward(k, p, x, a0, dense)
    T, B, H = A.shape
    P = np.empty((T, B, p["Wya"].shape[0]))
    loss = k.softmax_xent_forward(A, p["Wya"], p["by"], Y, P)
    return loss + float(np.sum(up * A))          # an extra linear upstream on the states


@pytest.mark.parametrize("dense", [False, True], ids=["ix", "dense"])
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("impl", ["numpy", "cython"])
def test_gradients_match_finite_differences(ref, cy, rng, dense, B, impl):
    k = ref if impl == "numpy" else cy
    T, H, X, V = 5, 4, 3, 4
    p, x, Y, a0 = make_case(rng, T, B, H, X, V, np.float64, dense, masked=True)
    up = rng.standard_normal((T, B, H))
    _, _, g = run_backward(k, p, x, Y, a0, dense, up)
    wrt = dict(p, a0=a0)
    if dense:
        wrt["x"] = x
    eps = 1e-6
    for name, w in wrt.items():
        num = np.zeros_like(w)
        for ix in np.ndindex(w.shape):
            old = w[ix]
            w[ix] = old + eps
            lp = _loss_fn(k, p, x, Y, a0, dense, up)
            w[ix] = old - eps
            lm = _loss_fn(k, p, x, Y, a0, dense, up)
            w[ix] = old
            num[ix] = (lp - lm) / (2 * eps)
        ana = g["d" + name]
        err = np.linalg.norm(ana - num) / (np.linalg.norm(ana) + np.linalg.norm(num))
        assert err < 1e-7, (name, err)


def test_masked_targets_contribute_nothing(backend, rng):
    import fastrnn._ext as ext
    k = ext.kernels()
    p, x, Y, a0 = make_case(rng, 6, 2, 4, 3, 3, np.float64)
    Y[4:, 1] = -1                                            # row 1 ends at t = 4
    x2 = x.copy()
    x2[5, 1] = 2 if x[5, 1] != 2 else 1                      # change a padded input
    l1, _, g1 = run_backward(k, p, x, Y, a0, False)
    l2, _, g2 = run_backward(k, p, x2, Y, a0, False)
    assert l1 == pytest.approx(l2, rel=1e-14)
    for n in g1:
        np.testing.assert_allclose(g1[n], g2[n], rtol=1e-13, atol=1e-15, err_msg=n)


# ----------------------------------------------------------------------- sampling

@pytest.mark.parametrize("temperature,top_k", [(1.0, 0), (0.7, 0), (1.3, 3), (0.0, 0)])
def test_sample_matches_reference(cy, ref, rng, temperature, top_k):
    p, _, _, _ = make_case(rng, 1, 1, 8, 6, 6, np.float64)
    u = rng.random(40)
    res = []
    for k in (cy, ref):
        a = np.zeros(8)
        out = np.full(40, -7, dtype=np.int64)
        n = k.rnn_sample(p["Wax"], p["Waa"], p["ba"], p["Wya"], p["by"], a, -1, u,
                         temperature, top_k, -1, out)
        res.append((n, out, a))
    assert res[0][0] == res[1][0] == 40
    np.testing.assert_array_equal(res[0][1], res[1][1])
    np.testing.assert_allclose(res[0][2], res[1][2], rtol=1e-12)
    assert res[0][1].min() >= 0 and res[0][1].max() < 6


def test_sample_greedy_topk1_and_stop(cy, rng):
    p, _, _, _ = make_case(rng, 1, 1, 8, 6, 6, np.float64)
    u = rng.random(30)
    outs = []
    for temperature, top_k in ((0.0, 0), (1.0, 1)):
        out = np.empty(30, dtype=np.int64)
        cy.rnn_sample(p["Wax"], p["Waa"], p["ba"], p["Wya"], p["by"], np.zeros(8), 2, u,
                      temperature, top_k, -1, out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    out = np.empty(30, dtype=np.int64)
    stop = int(outs[0][3])
    n = cy.rnn_sample(p["Wax"], p["Waa"], p["ba"], p["Wya"], p["by"], np.zeros(8), 2, u,
                      0.0, 0, stop, out)
    assert out[n - 1] == stop and stop not in out[: n - 1]


def test_pick_index_is_np_random_choice(cy, ref):
    p = np.array([0.1, 0.0, 0.25, 0.3, 0.35])
    for seed in range(50):
        rs = np.random.RandomState(seed)
        expected = rs.choice(range(5), p=p)
        u = np.random.RandomState(seed).random_sample()
        assert cy.pick_index(p, u) == ref.pick_index(p, u) == expected


# -------------------------------------------------------------- optimizer kernels

def test_update_kernels_match_reference(cy, ref, rng, dtype):
    shapes = [(3, 4), (5,)]
    base = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [rng.standard_normal(s).astype(dtype) * 3 for s in shapes]
    out = {}
    for name, k in (("cy", cy), ("ref", ref)):
        ps = [b.copy() for b in base]
        gs = [g.copy() for g in grads]
        k.clip_(gs, 1.5)
        assert all(np.abs(g).max() <= 1.5 for g in gs)
        norm = k.global_norm(gs)
        k.scale_(gs, 0.5)
        k.sgd_update_(ps, gs, 0.1)
        ms = [np.zeros_like(b) for b in base]
        vs = [np.zeros_like(b) for b in base]
        for t in (1, 2):
            k.adam_update_(ps, gs, ms, vs, 0.01, 0.9, 0.999, 1e-8, t)
        mem = [np.full_like(b, 1e-3) for b in base]
        k.adagrad_update_(ps, gs, mem, 0.1, 1e-8)
        out[name] = (norm, ps, gs, ms, vs, mem)
    assert_close(out["cy"][0], out["ref"][0], dtype)
    for a_list, b_list in zip(out["cy"][1:], out["ref"][1:]):
        for a, b in zip(a_list, b_list):
            assert_close(a, b, dtype)
    expected = np.sqrt(sum(float(np.sum(np.clip(g, -1.5, 1.5).astype(np.float64) ** 2))
                           for g in grads))
    assert out["cy"][0] == pytest.approx(expected, rel=1e-6)


# -------------------------------------------------------------------- bad inputs

def test_kernels_reject_bad_input_without_crashing(cy, rng):
    p, x, Y, a0 = make_case(rng, 4, 2, 5, 3, 4, np.float64)
    A = np.empty((4, 2, 5))
    args = (p["Wax"], p["Waa"], p["ba"], a0, A)
    bad_x = x.copy()
    bad_x[1, 1] = 3                                   # == X: out of range
    with pytest.raises(ValueError, match=r"X\[1, 1\] = 3"):
        cy.rnn_forward_ix(bad_x, *args)
    bad_x[1, 1] = -2
    with pytest.raises(ValueError, match="outside"):
        cy.rnn_forward_ix(bad_x, *args)
    with pytest.raises(ValueError, match="a0"):
        cy.rnn_forward_ix(x, p["Wax"], p["Waa"], p["ba"], np.zeros((3, 5)), A)
    with pytest.raises(ValueError, match="A must have shape"):
        cy.rnn_forward_ix(x, p["Wax"], p["Waa"], p["ba"], a0, np.empty((4, 2, 4)))
    with pytest.raises(ValueError, match="Waa"):
        cy.rnn_forward_ix(x, p["Wax"], np.zeros((5, 4)), p["ba"], a0, A)
    with pytest.raises((ValueError, TypeError)):          # mixed dtypes
        cy.rnn_forward_ix(x, p["Wax"].astype(np.float32), p["Waa"], p["ba"], a0, A)
    with pytest.raises((ValueError, TypeError)):          # non-contiguous
        cy.rnn_forward_ix(x, np.asfortranarray(p["Wax"]), p["Waa"], p["ba"], a0, A)
    with pytest.raises(ValueError, match="empty"):
        cy.rnn_forward_ix(np.zeros((0, 2), np.int64), p["Wax"], p["Waa"], p["ba"], a0,
                          np.empty((0, 2, 5)))
    P = np.empty((4, 2, 4))
    bad_y = Y.copy()
    bad_y[0, 0] = 4
    with pytest.raises(ValueError, match="Y"):
        cy.softmax_xent_forward(A, p["Wya"], p["by"], bad_y, P)
    out = np.empty(5, np.int64)
    with pytest.raises(ValueError, match="x0"):
        cy.rnn_sample(p["Wax"], p["Waa"], p["ba"], p["Wya"][:3], p["by"][:3], np.zeros(5), 3,
                      np.zeros(5), 1.0, 0, -1, out)
    with pytest.raises(ValueError, match="uniforms"):
        cy.rnn_sample(p["Wax"], p["Waa"], p["ba"], p["Wya"][:3], p["by"][:3], np.zeros(5), 0,
                      np.zeros(2), 1.0, 0, -1, out)
