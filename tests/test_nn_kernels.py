"""The compiled layer engine (fastrnn._layers) against its NumPy twin.

rec_forward / rec_backward for each cell x dtype x batch 1 / 4 x direction x lengths
(every output and gradient, float64 to 1e-12 relative, float32 to 1e-5), whole stacks
through stack_forward / stack_backward (one compiled call vs the twin's driver), and the kernels' own argument checks.
"""

import numpy as np
import pytest

from conftest import assert_close, team_mode
from fastrnn.reference import _layers as ref

lay = pytest.importorskip("fastrnn._layers")

T, X, H = 5, 6, 7


def _case(cell, dtype, B, lengths, rng):
    N = ref.GATES[cell]
    f = lambda *s: rng.uniform(-0.6, 0.6, s).astype(dtype)  # noqa: E731
    lens = np.full(B, T, np.int64) if lengths is None else np.array(lengths, np.int64)
    return dict(x=f(T, B, X), W_ih=f(N * H, X), W_hh=f(N * H, H), b_ih=f(N * H),
                b_hh=f(N * H), h0=f(B, H), c0=f(B, H), lengths=lens)


def _run(k, cell, c, reverse, dY, dhn, dcn):
    T_, B = c["x"].shape[:2]
    N = ref.GATES[cell]
    dt = c["W_ih"].dtype
    Y, C = np.empty((T_, B, H), dt), np.empty((T_, B, H), dt)
    G = np.empty((T_, B, N * H), dt)
    hn, cn = np.empty((B, H), dt), np.empty((B, H), dt)
    k.rec_forward(cell, c["x"], c["W_ih"], c["W_hh"], c["b_ih"], c["b_hh"], c["h0"], c["c0"],
                  c["lengths"], reverse, Y, C, G, hn, cn)
    out = dict(Y=Y.copy(), hn=hn, cn=cn if cell == ref.LSTM else None)
    dx = None if c["x"].ndim == 2 else np.full(c["x"].shape, 0.5, dt)   # accumulated into
    dW_ih, dW_hh = np.ones_like(c["W_ih"]), np.ones_like(c["W_hh"])
    db_ih, db_hh = np.ones_like(c["b_ih"]), np.ones_like(c["b_hh"])
    dh0, dc0 = np.empty((B, H), dt), np.empty((B, H), dt)
    k.rec_backward(cell, c["x"], c["W_ih"], c["W_hh"], c["h0"], c["c0"], c["lengths"],
                   reverse, Y, C, G, dY, dhn, dcn, dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh)
    out.update(dx=dx, dh0=dh0, dc0=dc0 if cell == ref.LSTM else None, dW_ih=dW_ih,
               dW_hh=dW_hh, db_ih=db_ih, db_hh=db_hh, G=G)
    return out


@pytest.mark.parametrize("lengths", [None, "var"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("B", [1, 4], ids=["B1", "B4"])
@pytest.mark.parametrize("mode", list(ref.CELLS))
def test_kernels_match_twin(mode, B, reverse, lengths, dtype, rng):
    cell = ref.CELLS[mode]
    lens = None if lengths is None else ([3] if B == 1 else [5, 1, 3, 4])
    c = _case(cell, dtype, B, lens, rng)
    dY = rng.standard_normal((T, B, H)).astype(dtype)
    dhn = rng.standard_normal((B, H)).astype(dtype)
    dcn = rng.standard_normal((B, H)).astype(dtype)
    want = _run(ref, cell, c, reverse, dY, dhn, dcn)
    got = _run(lay, cell, c, reverse, dY, dhn, dcn)
    for key, v in want.items():
        if v is not None:
            assert_close(got[key], v, dtype, key)


@pytest.mark.parametrize("lengths", [None, "var"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("B", [1, 4], ids=["B1", "B4"])
@pytest.mark.parametrize("mode", list(ref.CELLS))
def test_index_inputs_are_one_hot_rows(mode, B, reverse, lengths, dtype, rng):
    """x as (T, B) indices (-1 a zero row) = x as their one-hot rows: the forward bit for
    bit (a column of W_ih is the product with a one-hot row), the gradients to rounding
    (dW_ih summed per column instead of by a GEMM), no dx; compiled = twin."""
    cell = ref.CELLS[mode]
    lens = None if lengths is None else ([3] if B == 1 else [5, 1, 3, 4])
    c = _case(cell, dtype, B, lens, rng)
    ix = rng.integers(-1, X, (T, B))
    ix[0, 0], ix[1, -1] = -1, X - 1
    c["x"] = np.ascontiguousarray(ix)
    dense = dict(c, x=np.where((ix >= 0)[..., None], np.eye(X, dtype=dtype)[ix], 0)
                 .astype(dtype))
    dY = rng.standard_normal((T, B, H)).astype(dtype)
    dhn = rng.standard_normal((B, H)).astype(dtype)
    dcn = rng.standard_normal((B, H)).astype(dtype)
    for k in (ref, lay):
        want = _run(k, cell, dense, reverse, dY, dhn, dcn)
        got = _run(k, cell, c, reverse, dY, dhn, dcn)
        assert got.pop("dx") is None
        for key in ("Y", "hn", "cn"):
            if want[key] is not None:
                assert np.array_equal(got[key], want[key]), key
        for key, v in got.items():
            if v is not None:
                assert_close(v, want[key], dtype, key)
    twin = _run(ref, cell, c, reverse, dY, dhn, dcn)
    for key, v in _run(lay, cell, c, reverse, dY, dhn, dcn).items():
        if v is not None:
            assert_close(v, twin[key], dtype, key)


def test_index_input_checks():
    c = _case(ref.GRU, np.float64, 2, None, np.random.default_rng(0))
    N = 3
    Y, C, G = np.empty((T, 2, H)), np.empty((T, 2, H)), np.empty((T, 2, N * H))
    hn, cn = np.empty((2, H)), np.empty((2, H))
    for bad in (np.full((T, 2), X), np.full((T, 2), -2)):
        with pytest.raises(ValueError, match="indices"):
            lay.rec_forward(ref.GRU, bad, c["W_ih"], c["W_hh"], c["b_ih"], c["b_hh"], c["h0"],
                            c["c0"], c["lengths"], False, Y, C, G, hn, cn)
    with pytest.raises(TypeError, match="x"):
        lay.rec_forward(ref.GRU, np.zeros((T, 2), np.int32), c["W_ih"], c["W_hh"], c["b_ih"],
                        c["b_hh"], c["h0"], c["c0"], c["lengths"], False, Y, C, G, hn, cn)
    ix = np.zeros((T, 2), np.int64)
    lay.rec_forward(ref.GRU, ix, c["W_ih"], c["W_hh"], c["b_ih"], c["b_hh"], c["h0"], c["c0"],
                    c["lengths"], False, Y, C, G, hn, cn)
    g = [np.zeros_like(c[k]) for k in ("W_ih", "W_hh", "b_ih", "b_hh")]
    with pytest.raises(ValueError, match="dx must be None"):
        lay.rec_backward(ref.GRU, ix, c["W_ih"], c["W_hh"], c["h0"], c["c0"], c["lengths"],
                         False, Y, C, G, np.zeros((T, 2, H)), hn, cn, np.zeros((T, 2, X)),
                         np.empty((2, H)), np.empty((2, H)), *g)


STACKS = {  # layers, bidirectional, batch_first, batch, lengths, dropout, index, bias, H
    "L2-bi-bf-lens-drop": (2, True, True, 3, [2, 5, 4], True, False, True, H),
    "L3-uni-B1": (3, False, False, 1, None, False, False, True, H),
    "L2-bi-index-B1": (2, True, False, 1, None, False, True, True, H),
    "L1-bi-nobias-lens": (1, True, False, 2, [5, 3], False, False, False, H),
    # unidirectional, batched, H > 64: the forward by blocks of 64 hidden units a step
    "L2-uni-blocks-lens-drop": (2, False, False, 3, [2, 5, 4], True, False, True, 70),
    "L2-uni-blocks-index": (2, False, True, 2, None, False, True, True, 130),
    # unidirectional, batch 1, W_hh of 128 KiB and more: each step in two parts (the
    # pair's), with dropout between layers; H = 100 splits only the LSTM and float64 GRU
    "L2-uni-B1-parts-drop": (2, False, False, 1, None, True, False, True, 130),
    "L1-uni-B1-parts-257": (1, False, False, 1, None, False, False, True, 257),
    "L2-uni-B1-index-100": (2, False, False, 1, None, False, True, True, 100),
    # bidirectional at batch 1 in two parts: the reverse direction's halves of rows
    "L1-bi-B1-parts-lens": (1, True, False, 1, [4], False, False, True, 130),
}
PAIRS = ["L2-uni-B1-parts-drop", "L1-uni-B1-parts-257", "L2-uni-B1-index-100"]


def _stack_case(cell, dtype, cfg, rng):
    L, bi, bf, B, lens, drop, index, bias, H = cfg
    N, D = ref.GATES[cell], 2 if bi else 1
    params = {}
    for name in ref.param_names(L, bi, bias):
        k = int(name.split("_l")[1].split("_")[0])
        shape = ((N * H, X if k == 0 else D * H) if name.startswith("weight_ih") else
                 (N * H, H) if name.startswith("weight_hh") else (N * H,))
        w = min(0.5, H ** -0.5)            # PyTorch's init range: well-conditioned sums
        params[name] = rng.uniform(-w, w, shape).astype(dtype)
    if index:
        x = rng.integers(-1, X, (B, T) if bf else (T, B)).astype(np.int64)
    else:
        x = rng.standard_normal((B, T, X) if bf else (T, B, X)).astype(dtype)
    hx = rng.standard_normal((L * D, B, H)).astype(dtype)
    cx = rng.standard_normal((L * D, B, H)).astype(dtype) if cell == ref.LSTM else None
    masks = [((rng.random((T, B, D * H)) >= 0.3) / 0.7).astype(dtype)
             for _ in range(L - 1)] if drop else None
    lens = None if lens is None else np.array(lens, np.int64)
    return params, x, hx, cx, lens, masks, (L, bi, bf)


def _stack_run(k, cell, case, dtype):
    params, x, hx, cx, lens, masks, (L, bi, bf) = case
    y, hn, cn, cache = k.stack_forward(cell, x, params, hx, cx, lens, masks, L, bi, bf)
    grads = {n: np.zeros_like(p) for n, p in params.items()}
    dy = np.linspace(-1, 1, y.size).reshape(y.shape).astype(dtype)
    dcn = None if cx is None else cx * -0.25
    dx, dh0, dc0 = k.stack_backward(cache, params, dy, hx * 0.5, dcn, grads)
    return dict(y=y, hn=hn, cn=cn, dx=dx, dh0=dh0, dc0=dc0, **grads)


@pytest.mark.parametrize("cfg", list(STACKS))
@pytest.mark.parametrize("mode", list(ref.CELLS))
def test_stack_matches_twin(mode, cfg, dtype):
    """Whole stacks in one compiled call (layers, directions, dropout masks, lengths,
    batch_first, index inputs, no bias) against the twin's stack driver."""
    cell = ref.CELLS[mode]
    case = _stack_case(cell, dtype, STACKS[cfg], np.random.default_rng(7))
    twin = _stack_run(ref, cell, case, dtype)
    engine = _stack_run(lay, cell, case, dtype)
    for key, v in twin.items():
        assert (v is None) == (engine[key] is None), key
        if v is not None:
            assert engine[key].shape == v.shape, key
            assert_close(engine[key], v, dtype, key)


TEAM_HOOKS = [dict(), dict(skip=True), dict(hold_ns=2_000_000),
              dict(hold_ns=2_000_000, stall_ns=-2 ** 62)]


@pytest.mark.parametrize("hooks", TEAM_HOOKS,
                         ids=["team", "never-joins", "held-2ms", "held-stall"])
@pytest.mark.parametrize("cfg", ["L2-bi-bf-lens-drop", "L2-uni-blocks-lens-drop",
                                 "L1-bi-B1-parts-lens"] + PAIRS)
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_stack_team_gives_the_bits_of_one_thread(mode, cfg, dtype, hooks):
    """A stack on two threads (a bidirectional layer's directions, the blocks of hidden
    units of a batched unidirectional step, the rows of the input projection and of dx;
    at batch 1 each layer's loop on the pair, thread 1 the second part of every step):
    the bits of one thread, also with a helper that never joins, or stops for 2 ms after
    its first item (and rank 0 then finishes the call alone)."""
    cell = ref.CELLS[mode]
    case = _stack_case(cell, dtype, STACKS[cfg], np.random.default_rng(3))
    with team_mode(1):
        one = _stack_run(lay, cell, case, dtype)
    before = lay._team_test_hook()[4]
    with team_mode(2, **hooks):
        two = _stack_run(lay, cell, case, dtype)
    after = lay._team_test_hook()[4]
    if cfg not in PAIRS:
        assert after[0] > before[0] and after[1] > before[1]  # both calls on the team
    elif mode == "LSTM" or dtype == np.float64 or cfg != "L2-uni-B1-index-100":
        assert after[2] > before[2]                           # the forward on the pair
    for key, v in one.items():
        if v is not None:
            np.testing.assert_array_equal(two[key], v, err_msg=key)


@pytest.mark.parametrize("blas", [False, True], ids=["gemv.h", "blas"])
@pytest.mark.parametrize("cfg", PAIRS)
@pytest.mark.parametrize("mode", list(ref.CELLS))
def test_batch1_steps_in_parts_match_twin_and_streaming(mode, cfg, dtype, blas):
    """Batch-1 unidirectional stacks whose steps run in two parts (the pair's; every
    cell, H = 100 / 130 / 257), through _gemv.h and through BLAS: the twin's numbers,
    the bits of one thread on the pair, and ``Stepper`` (one step per call) the bits of
    forward over one step (the input projection of one row is a row product, not the
    sequence's GEMM: the numbers of the whole sequence within the tolerance)."""
    cell = ref.CELLS[mode]
    case = _stack_case(cell, dtype, STACKS[cfg], np.random.default_rng(5))
    params, x, hx, cx, lens, masks, (L, bi, bf) = case
    old = lay._gemv_test_hook(blas=blas)
    try:
        twin = ref.stack_forward(cell, x, params, hx, cx, lens, masks, L, bi, bf)
        with team_mode(1):
            one = lay.stack_forward(cell, x, params, hx, cx, lens, masks, L, bi, bf)
        with team_mode(2):
            two = lay.stack_forward(cell, x, params, hx, cx, lens, masks, L, bi, bf)
        for a, b, c in zip(one[:3], two[:3], twin[:3]):
            if a is not None:
                np.testing.assert_array_equal(b, a)
                assert_close(a, c, dtype)
        if masks is None and x.ndim == 3:
            st = lay.Stepper(cell, 1, x.shape[2], hx.shape[2], L, True,
                             tuple(params.values()))
            h, c = hx, cx
            for t in range(x.shape[0]):
                with team_mode(2 - t % 2):           # the stepper on the pair, then not
                    y, s = st.step(x[t], h, c)
                with team_mode(1 + t % 2):
                    y1, h1, c1 = lay.stack_forward(cell, x[t:t + 1], params, h, c, None,
                                                   None, L, bi, bf)[:3]
                h, c = s if cell == ref.LSTM else (s, None)
                np.testing.assert_array_equal(y, y1[0], err_msg=f"step {t}")
                np.testing.assert_array_equal(h, h1, err_msg=f"step {t}")
            assert_close(h, one[1], dtype)
    finally:
        lay._gemv_test_hook(blas=old)


def test_stack_checks_name_the_argument():
    cell = ref.LSTM
    params, x, hx, cx, lens, masks, (L, bi, bf) = _stack_case(
        cell, np.float64, STACKS["L2-bi-bf-lens-drop"], np.random.default_rng(0))
    x = np.ascontiguousarray(np.swapaxes(x, 0, 1))
    bad = dict(params, weight_hh_l1_reverse=np.zeros((4 * H, H + 1)))
    with pytest.raises(ValueError, match="weight_hh_l1_reverse"):
        lay.stack_forward(cell, x, bad, hx, cx, lens, masks, L, bi)
    with pytest.raises(ValueError, match="masks"):
        lay.stack_forward(cell, x, params, hx, cx, lens, masks * 2, L, bi)
    with pytest.raises(ValueError, match="cx"):
        lay.stack_forward(cell, x, params, hx, cx[:1], lens, masks, L, bi)
    with pytest.raises(ValueError, match="lengths"):
        lay.stack_forward(cell, x, params, hx, cx, lens * 0, masks, L, bi)
    y, hn, cn, cache = lay.stack_forward(cell, x, params, hx, cx, lens, masks, L, bi)
    grads = {n: np.zeros_like(p) for n, p in params.items()}
    with pytest.raises(ValueError, match="dy"):
        lay.stack_backward(cache, params, y[:, :1], None, None, grads)


def _args(dtype=np.float64, B=2):
    c = _case(ref.LSTM, dtype, B, None, np.random.default_rng(0))
    dt = np.dtype(dtype)
    out = dict(Y=np.empty((T, B, H), dt), C=np.empty((T, B, H), dt),
               G=np.empty((T, B, 4 * H), dt), hn=np.empty((B, H), dt), cn=np.empty((B, H), dt))
    return c, out


@pytest.mark.parametrize("change, exc, match", [
    (dict(W_ih=np.zeros((4 * H, X + 1))), ValueError, "W_ih"),
    (dict(b_hh=np.zeros(4 * H, np.float32)), TypeError, "b_hh"),
    (dict(h0=np.zeros((H, 2)).T), ValueError, "h0"),
    (dict(lengths=np.array([T + 1, 1])), ValueError, "lengths"),
    (dict(lengths=np.array([0, 1])), ValueError, "lengths"),
    (dict(lengths=np.array([1, 1], np.int32)), TypeError, "lengths"),
    (dict(x=np.zeros((0, 2, X))), ValueError, "empty"),
    (dict(G=np.zeros((T, 2, 3 * H))), ValueError, "G"),
    (dict(cell=4), ValueError, "cell"),
])
def test_kernel_checks_name_the_argument(change, exc, match):
    c, out = _args()
    c.update(out)
    c["cell"] = ref.LSTM
    c.update(change)
    with pytest.raises(exc, match=match):
        lay.rec_forward(c["cell"], c["x"], c["W_ih"], c["W_hh"], c["b_ih"], c["b_hh"],
                        c["h0"], c["c0"], c["lengths"], False, c["Y"], c["C"], c["G"],
                        c["hn"], c["cn"])


def test_kernel_rejects_read_only_output():
    c, out = _args()
    out["Y"].flags.writeable = False
    with pytest.raises(ValueError, match="Y is written"):
        lay.rec_forward(ref.LSTM, c["x"], c["W_ih"], c["W_hh"], c["b_ih"], c["b_hh"],
                        c["h0"], c["c0"], c["lengths"], False, *out.values())
