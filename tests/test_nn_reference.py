"""The NumPy twin of the layers (fastrnn.reference._layers) against finite differences.

Every gradient (dx, dh0, dc0, every weight and bias) of a loss ``sum(y * wy) + sum(hn * wh)
(+ sum(cn * wc))`` is checked along a random direction by central differences in float64,
for each cell x num_layers 1-3 x bidirectional x four (batch, batch_first, lengths,
dropout) cases. Sizes are small (T 4, X 3, H 2) so the grid stays fast.
"""

import numpy as np
import pytest

from fastrnn.reference import _layers as L

T, X, H = 4, 3, 2
# (B, batch_first, lengths, dropout masks)
CASES = {
    "B1": (1, False, None, False),
    "B1-bf-len": (1, True, [3], False),
    "B3-len-drop": (3, False, [4, 2, 1], True),
    "B3-bf": (3, True, None, True),
}


def _setup(cell, num_layers, bidirectional, case, rng, bias=True):
    B, batch_first, lengths, drop = CASES[case]
    D = 2 if bidirectional else 1
    N = L.GATES[cell]
    params = {}
    for name in L.param_names(num_layers, bidirectional, bias):
        k = int(name.split("_l")[1].split("_")[0])
        if name.startswith("weight_ih"):
            shape = (N * H, X if k == 0 else D * H)
        elif name.startswith("weight_hh"):
            shape = (N * H, H)
        else:
            shape = (N * H,)
        params[name] = rng.uniform(-0.8, 0.8, shape)
    x = rng.standard_normal((B, T, X) if batch_first else (T, B, X))
    hx = rng.standard_normal((num_layers * D, B, H)) * 0.5
    cx = rng.standard_normal((num_layers * D, B, H)) * 0.5 if cell == L.LSTM else None
    lens = None if lengths is None else np.array(lengths, np.int64)
    masks = None
    if drop and num_layers > 1:   # fixed masks: dropout is a constant factor per entry
        masks = [(rng.random((T, B, D * H)) >= 0.3) / 0.7 for _ in range(num_layers - 1)]
    return dict(x=x, params=params, hx=hx, cx=cx, lens=lens, masks=masks,
                batch_first=batch_first)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("mode", list(L.CELLS))
def test_stack_gradients_finite_differences(mode, num_layers, bidirectional, case, rng):
    cell = L.CELLS[mode]
    s = _setup(cell, num_layers, bidirectional, case, rng)

    def run(x, params, hx, cx):
        return L.stack_forward(cell, x, params, hx, cx, s["lens"], s["masks"], num_layers,
                               bidirectional, s["batch_first"])

    y, hn, cn, cache = run(s["x"], s["params"], s["hx"], s["cx"])
    wy = rng.standard_normal(y.shape)
    wh = rng.standard_normal(hn.shape)
    wc = rng.standard_normal(hn.shape) if cell == L.LSTM else None

    def loss(x, params, hx, cx):
        y, hn, cn, _ = run(x, params, hx, cx)
        out = np.sum(y * wy) + np.sum(hn * wh)
        return out + (np.sum(cn * wc) if cn is not None else 0.0)

    grads = {k: np.zeros_like(v) for k, v in s["params"].items()}
    dx, dh0, dc0 = L.stack_backward(cache, s["params"], wy, wh, wc, grads)
    if s["lens"] is not None:    # outputs past a sequence's end are exactly zero
        tb = y if not s["batch_first"] else y.transpose(1, 0, 2)
        for b, n in enumerate(s["lens"]):
            assert not tb[n:, b].any()

    analytic = {"x": dx, "hx": dh0, **{"p:" + k: g for k, g in grads.items()}}
    if cell == L.LSTM:
        analytic["cx"] = dc0
    eps = 1e-6
    for name, g in analytic.items():
        v = rng.standard_normal(g.shape)

        def shifted(sign):
            args = {"x": s["x"], "params": dict(s["params"]), "hx": s["hx"], "cx": s["cx"]}
            if name.startswith("p:"):
                args["params"][name[2:]] = s["params"][name[2:]] + sign * eps * v
            else:
                args[name] = args[name] + sign * eps * v
            return loss(**args)

        fd = (shifted(1) - shifted(-1)) / (2 * eps)
        an = float(np.sum(g * v))
        assert abs(fd - an) <= 1e-7 * max(1.0, abs(an)), (name, fd, an)


@pytest.mark.parametrize("mode", list(L.CELLS))
def test_no_bias_gradients(mode, rng):
    """bias=False: the parameters are the weights only, and their gradients are right."""
    cell = L.CELLS[mode]
    s = _setup(cell, 2, True, "B3-len-drop", rng, bias=False)
    assert not any(k.startswith("bias") for k in s["params"])
    args = (s["lens"], s["masks"], 2, True)
    y, hn, cn, cache = L.stack_forward(cell, s["x"], s["params"], s["hx"], s["cx"], *args)
    wy = rng.standard_normal(y.shape)
    grads = {k: np.zeros_like(v) for k, v in s["params"].items()}
    L.stack_backward(cache, s["params"], wy, None, None, grads)
    eps = 1e-6
    for k, g in grads.items():
        v = rng.standard_normal(g.shape)
        lo = dict(s["params"], **{k: s["params"][k] - eps * v})
        hi = dict(s["params"], **{k: s["params"][k] + eps * v})
        f = [np.sum(L.stack_forward(cell, s["x"], p, s["hx"], s["cx"], *args)[0] * wy)
             for p in (hi, lo)]
        fd = (f[0] - f[1]) / (2 * eps)
        an = float(np.sum(g * v))
        assert abs(fd - an) <= 1e-7 * max(1.0, abs(an)), (k, fd, an)


def test_reverse_direction_starts_at_last_valid_step(rng):
    """A row of length n gives, in the reverse direction, exactly what its first n steps
    give alone: the reverse pass starts from h0 at step n-1."""
    cell = L.GRU
    s = _setup(cell, 1, True, "B3-len-drop", rng)
    y, hn, _, _ = L.stack_forward(cell, s["x"], s["params"], s["hx"], None, s["lens"], None,
                                  1, True)
    for b, n in enumerate(s["lens"]):
        yb, hb, _, _ = L.stack_forward(cell, np.ascontiguousarray(s["x"][:n, b:b + 1]),
                                       s["params"], np.ascontiguousarray(s["hx"][:, b:b + 1]),
                                       None, None, None, 1, True)
        np.testing.assert_allclose(y[:n, b], yb[:, 0], rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(hn[:, b], hb[:, 0], rtol=1e-14, atol=1e-15)
